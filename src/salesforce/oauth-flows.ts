/**
 * The OAuth 2.0 flows against Salesforce's token endpoint (`POST <base>/services/oauth2/token`):
 * refresh token, client credentials and JWT bearer (RS256, signed with node:crypto). Each
 * returns a function that fetches one new access token; `auth.ts` makes it single-flight.
 * A refusal names the config key to fix; a network failure or 5xx is transient.
 *
 * Not through jsforce's `OAuth2`: it throws one error class for every answer of 400 or more
 * (the status is lost, so a 503 would read as a refusal and stop start-up instead of being
 * retried), its transport has no per-request timeout (only the process-wide HTTP_TIMEOUT), and
 * it has no client-credentials or JWT helper (both would go through its generic
 * `requestToken`). @salesforce/core's JWT flow reads the key from a file and keeps auth state in
 * ~/.sfdx, which a service must not. The JWT is four lines of node:crypto (RS256).
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { request } from 'undici';
import { endpointProblem } from '../config/checks.ts';
import { AuthError, ConfigError, sfOauthCode, TransientError, Code } from '../core/errors.ts';

/** Fetches a new access token from the token endpoint. */
export type TokenFetcher = () => Promise<string>;

/** A refusal from the token endpoint: which config keys the operator should look at. */
interface Blame {
  /** Dotted key blamed when the client (consumer key/secret) is refused. */
  client: string;
  /** Dotted key blamed when the grant itself (refresh token, JWT, user) is refused. */
  grant: string;
  hint: string;
}

const TOKEN_PATH = '/services/oauth2/token';

/** Checks a token endpoint base URL as the config checks the instance URL. */
export function checkedBase(key: string, url: string): string {
  const problem = endpointProblem(url, 'salesforce');
  if (problem) throw new ConfigError(key, problem);
  return url.replace(/\/+$/, '');
}

/** POSTs a form to the token endpoint and returns its `access_token`. */
async function postToken(base: string, form: Record<string, string>, blame: Blame): Promise<string> {
  let status: number;
  let text: string;
  try {
    const res = await request(`${base}${TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    throw new TransientError(Code.SF_TOKEN_NETWORK, `Salesforce token endpoint ${base}${TOKEN_PATH} unreachable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (an HTML error page): described by status below.
  }
  if (status === 200 && typeof body.access_token === 'string' && body.access_token !== '') return body.access_token;
  if (status >= 500 || status === 429) {
    throw new TransientError(Code.SF_TOKEN_UNAVAILABLE, `Salesforce token endpoint answered ${status}`);
  }
  const error = typeof body.error === 'string' ? body.error : `http_${status}`;
  const description = typeof body.error_description === 'string' ? body.error_description : text.slice(0, 200);
  const key = error.startsWith('invalid_client') ? blame.client : blame.grant;
  // A refusal is a configuration problem: ConfigError names what to fix (exit code 2 at start-up).
  throw new ConfigError(key, `the Salesforce token endpoint refused the request (${error}: ${description}); ${blame.hint}`, {
    cause: new AuthError(sfOauthCode(error), `${error}: ${description}`),
  });
}

/** The refresh token flow. */
export function refreshTokenFlow(opts: { base: string; clientId: string; clientSecret?: string; refreshToken: string }): TokenFetcher {
  const form: Record<string, string> = { grant_type: 'refresh_token', client_id: opts.clientId, refresh_token: opts.refreshToken };
  if (opts.clientSecret) form.client_secret = opts.clientSecret;
  const blame = {
    client: 'salesforce.auth.clientId',
    grant: 'salesforce.auth.refreshToken',
    hint: 'check the consumer key (and secret) and that the refresh token was issued to this connected app and not revoked',
  };
  return () => postToken(opts.base, form, blame);
}

/** The client credentials flow (the connected app's "Run As" user). */
export function clientCredentialsFlow(opts: { base: string; clientId: string; clientSecret: string }): TokenFetcher {
  const form = { grant_type: 'client_credentials', client_id: opts.clientId, client_secret: opts.clientSecret };
  const blame = {
    client: 'salesforce.auth.clientSecret',
    grant: 'salesforce.auth.clientId',
    hint: "check the consumer key and secret, that the connected app enables the client credentials flow with a Run As user, and that instanceUrl is the org's My Domain",
  };
  return () => postToken(opts.base, form, blame);
}

/**
 * The JWT bearer flow: a fresh assertion per request (exp 3 minutes ahead, as Salesforce
 * requires), signed RS256 with the connected app's private key.
 * @throws ConfigError at once when the key is not a usable PEM private key.
 */
export function jwtBearerFlow(opts: { base: string; audience: string; clientId: string; username: string; privateKeyPem: string }): TokenFetcher {
  let key: KeyObject;
  try {
    key = createPrivateKey(opts.privateKeyPem.includes('\\n') ? opts.privateKeyPem.replace(/\\n/g, '\n') : opts.privateKeyPem);
  } catch (err) {
    throw new ConfigError(
      'salesforce.auth.privateKey',
      `is not a PEM private key (${(err as Error).message}); give the key file's contents, -----BEGIN PRIVATE KEY----- included (value not shown)`,
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ConfigError(
      'salesforce.auth.privateKey',
      `is a ${key.asymmetricKeyType} key; the JWT bearer flow signs with RS256 and needs an RSA key`,
    );
  }
  const blame = {
    client: 'salesforce.auth.clientId',
    grant: 'salesforce.auth.username',
    hint: 'check the consumer key, that the certificate uploaded to the connected app matches privateKey, that the user is pre-authorized for the app, and loginUrl (the JWT audience)',
  };
  return () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = signJwt({ iss: opts.clientId, sub: opts.username, aud: opts.audience, exp: now + 180 }, key);
    return postToken(opts.base, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }, blame);
  };
}

/** A compact JWS (RS256) of `claims`. */
export function signJwt(claims: Record<string, unknown>, key: KeyObject): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key).toString('base64url');
  return `${header}.${payload}.${signature}`;
}
