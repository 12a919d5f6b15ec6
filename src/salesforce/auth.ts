/**
 * Salesforce authentication as the subscriber needs it: an instance URL and a way to get an
 * access token (a fresh one after Salesforce refused the last). The spine supports the
 * plain access token from the environment; other methods plug in behind the same contract.
 */
import { AuthError } from '../errors.ts';

/** What every Salesforce auth method provides. */
export interface SalesforceAuth {
  readonly instanceUrl: string;
  /** A token to send; with `fresh`, one that was not refused before, if the method can get one. */
  getAccessToken(fresh: boolean): Promise<string>;
}

/** The `access_token` method: a token obtained elsewhere, read from the config (an env reference). */
export function accessTokenAuth(instanceUrl: string, readToken: () => string | undefined): SalesforceAuth {
  return {
    instanceUrl,
    async getAccessToken() {
      // Re-read on every call: an operator can rotate the variable's source (e.g. a mounted
      // secret re-exported by a wrapper) without restarting, and a refused token is retried.
      const token = readToken();
      if (!token) throw new AuthError('SF_TOKEN_MISSING', 'salesforce.auth.accessToken: the access token is empty');
      return token;
    },
  };
}
