/**
 * The `sf_alias` method: the org an `sf org login` stored in ~/.sfdx (`<username>.json`,
 * tokens encrypted with the CLI's key, and `alias.json` mapping aliases to usernames), opened
 * through @salesforce/core exactly as the CLI opens it. Its connection is a jsforce
 * `Connection` that refreshes the token with the stored refresh token when Salesforce
 * refuses it, and writes the new one back to the auth file.
 */
import type { Connection } from './auth.ts';
import { ConfigError } from '../core/errors.ts';

/** An opened org: its instance URL, a jsforce connection, and a token getter. */
export interface SfAliasSession {
  instanceUrl: string;
  connection: Connection;
  /** The current token; `fresh` asks Salesforce first, refreshing it when it is refused. */
  token(fresh: boolean): Promise<string>;
}

/** The part of @salesforce/core used here (typed locally: its bundled jsforce typings clash with jsforce's own). */
interface CoreOrg {
  getConnection(apiVersion?: string): unknown;
  refreshAuth(): Promise<void>;
}
interface CoreModule {
  Org: { create(opts: { aliasOrUsername: string }): Promise<CoreOrg> };
}
const CORE = '@salesforce/core';

/** Opens the org `alias` (an alias or a username) from the `sf` CLI's auth files. */
export async function openSfAlias(alias: string, apiVersion: string): Promise<SfAliasSession> {
  // Loaded only for this method: @salesforce/core is large and slow to import.
  const core = (await import(CORE)) as CoreModule;
  let org: CoreOrg;
  try {
    org = await core.Org.create({ aliasOrUsername: alias });
  } catch (err) {
    throw new ConfigError(
      'salesforce.auth.alias',
      `no usable \`sf\` login for ${JSON.stringify(alias)} (${(err as Error).message}); run \`sf org login web --alias ${alias}\` as the user the bridge runs as, or check HOME`,
      { cause: err },
    );
  }
  const connection = org.getConnection(apiVersion) as Connection;
  const instanceUrl = connection.instanceUrl;
  if (!instanceUrl)
    throw new ConfigError(
      'salesforce.auth.alias',
      `the auth file of ${JSON.stringify(alias)} has no instance URL; log in again with \`sf org login web\``,
    );
  return {
    instanceUrl,
    connection,
    async token(fresh) {
      // A GET on the API root: when the token is refused, jsforce refreshes it through the
      // auth file's refresh token (core's refreshFn) and retries; either way the token after
      // it is one Salesforce accepts.
      if (fresh) await org.refreshAuth();
      const token = connection.accessToken;
      if (!token) throw new ConfigError('salesforce.auth.alias', `the auth file of ${JSON.stringify(alias)} has no access token; log in again`);
      return token;
    },
  };
}
