// Our faye typings must load before jsforce's own `declare module 'faye'`, which would shadow them.
/// <reference path="../types/faye.d.ts" />
/**
 * Salesforce authentication as the bridge needs it: an instance URL, a way to get an access
 * token (a fresh one after Salesforce refused the last), and one jsforce `Connection` for
 * every REST call (queries, describe), which refreshes through the same token source.
 *
 * Methods: `access_token` (from the environment), `sf_alias` (the `sf` CLI's stored login,
 * through @salesforce/core), `refresh_token`, `client_credentials` and `jwt_bearer`. Token
 * refreshes are single-flight: the streaming client and the REST connection seeing the same
 * refusal at once cause one token request, and a refusal of a token already replaced causes
 * none.
 */
import { createRequire } from 'node:module';
import type jsforceModule from 'jsforce';

/** jsforce's connection class, as its default export names it. */
export type Connection = InstanceType<typeof jsforceModule.Connection>;

// jsforce is loaded on the first REST call, not at start: a bridge whose routes never query
// Salesforce (no enrichment, no gap events) does not carry it in memory.
const require = createRequire(import.meta.url);
let jsforce: typeof jsforceModule | undefined;
import type { SalesforceConfig } from '../config/schema.ts';
import { AuthError, Code } from '../core/errors.ts';
import { checkedBase, clientCredentialsFlow, jwtBearerFlow, refreshTokenFlow, type TokenFetcher } from './oauth-flows.ts';

/** What every Salesforce auth method provides. */
export interface SalesforceAuth {
  readonly instanceUrl: string;
  /**
   * A token to send. With `fresh`, one that was not refused before: `rejected` names the token
   * Salesforce refused, so a caller late to a refresh gets the already-new token.
   */
  getAccessToken(fresh: boolean, rejected?: string): Promise<string>;
}

/** An auth method with its REST connection. */
export interface SalesforceSession {
  readonly auth: SalesforceAuth;
  /** jsforce connection for queries and describe (created on first use); refreshes its token through `auth`. */
  readonly connection: Connection;
  /** Token requests made so far (a test and support figure). */
  readonly refreshes: () => number;
}

/** The `access_token` method: a token obtained elsewhere, read from the config (an env reference). */
export function accessTokenAuth(instanceUrl: string, readToken: () => string | undefined): SalesforceAuth {
  return {
    instanceUrl,
    async getAccessToken() {
      // Re-read on every call: an operator can rotate the variable's source (e.g. a mounted
      // secret re-exported by a wrapper) without restarting, and a refused token is retried.
      const token = readToken();
      if (!token) throw new AuthError(Code.SF_TOKEN_MISSING, 'salesforce.auth.accessToken: the access token is empty');
      return token;
    },
  };
}

/** Wraps a token fetcher so that concurrent and redundant refreshes collapse into one. */
export function singleFlight(instanceUrl: string, fetch: TokenFetcher): SalesforceAuth & { refreshes(): number } {
  let current: string | undefined;
  let inflight: Promise<string> | undefined;
  let count = 0;
  return {
    instanceUrl,
    refreshes: () => count,
    getAccessToken(fresh, rejected) {
      if (inflight) return inflight;
      if (current !== undefined && (!fresh || (rejected !== undefined && rejected !== current))) return Promise.resolve(current);
      count++;
      inflight = fetch()
        .then((token) => {
          current = token;
          return token;
        })
        .finally(() => {
          inflight = undefined;
        });
      return inflight;
    },
  };
}

/** A jsforce connection whose session refresh goes through `auth` (so it shares its single flight). */
export function connectionFor(auth: SalesforceAuth, apiVersion: string, accessToken: string): Connection {
  jsforce ??= require('jsforce') as typeof jsforceModule;
  return new jsforce.Connection({
    instanceUrl: auth.instanceUrl,
    accessToken,
    version: apiVersion,
    refreshFn: (conn, callback) => {
      auth.getAccessToken(true, conn.accessToken ?? undefined).then(
        (token) => callback(null, token),
        (err: Error) => callback(err),
      );
    },
  });
}

/**
 * Opens the configured auth method and gets a first token, so that a misconfiguration stops
 * start-up with a message naming the key to fix (ConfigError).
 */
export async function openSalesforceSession(sf: SalesforceConfig): Promise<SalesforceSession> {
  const auth = sf.auth;
  if (auth.method === 'sf_alias') {
    const { openSfAlias } = await import('./sf-alias.ts');
    const session = await openSfAlias(auth.alias, sf.apiVersion);
    let count = 0;
    const flight = singleFlight(session.instanceUrl, () => {
      count++;
      return session.token(true);
    });
    let first = true;
    const aliasAuth: SalesforceAuth = {
      instanceUrl: session.instanceUrl,
      getAccessToken: (fresh, rejected) => {
        // The auth file's token needs no request; later refreshes go through core.
        if (first && !fresh) {
          first = false;
          return session.token(false);
        }
        return flight.getAccessToken(fresh || rejected !== undefined, rejected);
      },
    };
    await session.token(true); // proves the login still works (refreshing if it expired)
    return { auth: aliasAuth, connection: session.connection, refreshes: () => count };
  }
  const instanceUrl = sf.instanceUrl;
  if (auth.method === 'access_token') {
    const plain = accessTokenAuth(instanceUrl, () => auth.accessToken);
    const token = await plain.getAccessToken(false);
    return lazySession(
      plain,
      () => connectionFor(plain, sf.apiVersion, token),
      () => 0,
    );
  }
  let fetch: TokenFetcher;
  if (auth.method === 'refresh_token') {
    const base = checkedBase('salesforce.auth.loginUrl', auth.loginUrl ?? instanceUrl);
    fetch = refreshTokenFlow({ base, clientId: auth.clientId, clientSecret: auth.clientSecret, refreshToken: auth.refreshToken });
  } else if (auth.method === 'client_credentials') {
    fetch = clientCredentialsFlow({
      base: checkedBase('salesforce.instanceUrl', instanceUrl),
      clientId: auth.clientId,
      clientSecret: auth.clientSecret,
    });
  } else {
    const base = checkedBase('salesforce.auth.loginUrl', auth.loginUrl);
    fetch = jwtBearerFlow({ base, audience: base, clientId: auth.clientId, username: auth.username, privateKeyPem: auth.privateKey });
  }
  const flight = singleFlight(instanceUrl, fetch);
  const token = await flight.getAccessToken(false);
  return lazySession(flight, () => connectionFor(flight, sf.apiVersion, token), flight.refreshes);
}

/** A session whose jsforce connection is built when first asked for. */
function lazySession(auth: SalesforceAuth, connect: () => Connection, refreshes: () => number): SalesforceSession {
  let connection: Connection | undefined;
  return {
    auth,
    get connection() {
      return (connection ??= connect());
    },
    refreshes,
  };
}
