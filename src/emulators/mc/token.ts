/**
 * `POST /v2/token`: Marketing Cloud's client-credentials grant for server-to-server packages.
 * Answers in the shape of the real endpoint so the bridge's token manager and third-party
 * clients (sfmc-sdk) both work against it unchanged.
 */
import type { McState } from './state.ts';
import { isRecord, parseJson, type ParsedRequest, type Reply } from './http.ts';

/** What the token route needs to know about its emulator. */
export interface TokenConfig {
  clientId: string;
  clientSecret: string;
  accountId: string | undefined;
  tokenTtlSec: number;
  restBaseUrl: string;
  soapBaseUrl: string;
}

/** Handles one token request. */
export function handleToken(state: McState, cfg: TokenConfig, req: ParsedRequest, now: number): Reply {
  if (req.method !== 'POST') return { status: 405, body: { error: 'invalid_request', error_description: 'Use POST.' } };
  const body = readGrant(req);
  if (!body)
    return refuse(state, 400, 'invalid_request', 'The request body must be JSON (or form-encoded) with grant_type, client_id and client_secret.');
  if (body.grant_type !== 'client_credentials') {
    return refuse(state, 400, 'unsupported_grant_type', 'Use grant_type client_credentials.');
  }
  if (body.client_id !== cfg.clientId || body.client_secret !== cfg.clientSecret) {
    return refuse(state, 401, 'invalid_client', 'Client authentication failed. Check the client ID and secret of the installed package.');
  }
  const accountId = body.account_id === undefined || body.account_id === null ? undefined : String(body.account_id);
  if (cfg.accountId !== undefined && accountId !== undefined && accountId !== cfg.accountId) {
    return refuse(state, 401, 'invalid_client', `The installed package has no access to account_id ${accountId}.`);
  }
  // A token holds what the package was granted, or the part of it the request asked for.
  const asked = typeof body.scope === 'string' && body.scope.trim() ? body.scope.trim().split(/\s+/) : undefined;
  const scopes = new Set(asked ? asked.filter((s) => state.grantedScopes.has(s)) : state.grantedScopes);
  const token = state.issueToken(now, scopes);
  const scope = [...scopes].join(' ');
  return {
    status: 200,
    body: {
      access_token: token,
      token_type: 'Bearer',
      expires_in: cfg.tokenTtlSec,
      scope,
      soap_instance_url: cfg.soapBaseUrl,
      rest_instance_url: cfg.restBaseUrl,
    },
  };
}

function readGrant(req: ParsedRequest): Record<string, unknown> | undefined {
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(req.text));
  }
  const parsed = parseJson(req.text);
  return isRecord(parsed) ? parsed : undefined;
}

function refuse(state: McState, status: number, error: string, description: string): Reply {
  state.counters.tokenRejected++;
  return { status, body: { error, error_description: description, error_uri: 'https://developer.salesforce.com/docs' } };
}
