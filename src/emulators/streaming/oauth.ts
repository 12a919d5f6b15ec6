/**
 * The emulated org's OAuth token endpoint, `POST /services/oauth2/token`, for the grants the
 * bridge uses: `refresh_token`, `client_credentials` and the JWT bearer flow
 * (`urn:ietf:params:oauth:grant-type:jwt-bearer`, RS256 assertion verified against the
 * connected app's certificate). Answers and errors are shaped like Salesforce's.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

/** The emulated connected app and user. */
export interface EmulatorOAuthOptions {
  /** Consumer key. @default 'emulator-consumer-key' */
  clientId?: string;
  /** Consumer secret. @default 'emulator-consumer-secret' */
  clientSecret?: string;
  /** The refresh token the app holds. @default 'emulator-refresh-token' */
  refreshToken?: string;
  /** PEM public key (or certificate) of the JWT bearer flow; without it that grant is refused. */
  jwtPublicKey?: string;
  /** Username a JWT's `sub` must name. @default 'integration@example.com' */
  username?: string;
}

/** What the token endpoint answers. */
export interface TokenReply {
  status: number;
  body: Record<string, unknown>;
}

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ORG_ID = '00D5g000004ExAMUAY';
const USER_ID = '0055g00000AbCdEAAV';

/** The token endpoint of one emulator. */
export class OAuthEndpoint {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  readonly username: string;
  #publicKey: KeyObject | undefined;
  readonly #issue: () => string;
  /** Token requests answered, by grant type, accepted or not. */
  readonly grants: { grantType: string; ok: boolean }[] = [];

  constructor(opts: EmulatorOAuthOptions, issue: () => string) {
    this.clientId = opts.clientId ?? 'emulator-consumer-key';
    this.clientSecret = opts.clientSecret ?? 'emulator-consumer-secret';
    this.refreshToken = opts.refreshToken ?? 'emulator-refresh-token';
    this.username = opts.username ?? 'integration@example.com';
    if (opts.jwtPublicKey) this.#publicKey = createPublicKey(opts.jwtPublicKey);
    this.#issue = issue;
  }

  /** Handles one token request: form body, optional HTTP Basic client credentials. */
  handle(instanceUrl: string, form: URLSearchParams, authorization: string | undefined): TokenReply {
    const grantType = form.get('grant_type') ?? '';
    const reply = this.#grant(instanceUrl, grantType, form, basicCredentials(authorization));
    this.grants.push({ grantType, ok: reply.status === 200 });
    return reply;
  }

  #grant(instanceUrl: string, grantType: string, form: URLSearchParams, basic: [string, string] | undefined): TokenReply {
    const clientId = form.get('client_id') ?? basic?.[0];
    const clientSecret = form.get('client_secret') ?? basic?.[1];
    switch (grantType) {
      case 'refresh_token':
        if (clientId !== this.clientId) return oauthError(400, 'invalid_client_id', 'client identifier invalid');
        if (clientSecret !== null && clientSecret !== undefined && clientSecret !== this.clientSecret) {
          return oauthError(400, 'invalid_client', 'invalid client credentials');
        }
        if (form.get('refresh_token') !== this.refreshToken) return oauthError(400, 'invalid_grant', 'expired access/refresh token');
        return this.#token(instanceUrl, true);
      case 'client_credentials':
        if (clientId !== this.clientId || clientSecret !== this.clientSecret) {
          return oauthError(400, 'invalid_client', 'invalid client credentials');
        }
        return this.#token(instanceUrl, false);
      case JWT_BEARER: {
        const problem = this.#jwtProblem(form.get('assertion') ?? '', instanceUrl);
        if (problem) return oauthError(400, 'invalid_grant', problem);
        return this.#token(instanceUrl, false);
      }
      default:
        return oauthError(400, 'unsupported_grant_type', 'grant type not supported');
    }
  }

  #jwtProblem(assertion: string, instanceUrl: string): string | undefined {
    if (!this.#publicKey) return 'invalid assertion: no certificate is registered for the JWT bearer flow';
    const parts = assertion.split('.');
    if (parts.length !== 3) return 'invalid assertion';
    const [h, p, s] = parts as [string, string, string];
    let header: { alg?: string };
    let claims: { iss?: string; sub?: string; aud?: string | string[]; exp?: number };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return 'invalid assertion';
    }
    if (header.alg !== 'RS256') return 'invalid assertion: algorithm must be RS256';
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), this.#publicKey, Buffer.from(s, 'base64url'))) {
      return 'invalid assertion: signature does not verify';
    }
    if (claims.iss !== this.clientId) return "invalid assertion: iss is not the connected app's consumer key";
    if (claims.sub !== this.username) return "user hasn't approved this consumer";
    const audiences = [claims.aud].flat();
    const accepted = ['https://login.salesforce.com', 'https://test.salesforce.com', instanceUrl];
    if (!audiences.some((a) => typeof a === 'string' && accepted.includes(a.replace(/\/$/, '')))) return 'invalid assertion: audience';
    const now = Math.floor(Date.now() / 1000);
    // Salesforce wants the expiry within three minutes from now.
    if (typeof claims.exp !== 'number' || claims.exp < now || claims.exp > now + 180 + 5) return 'invalid assertion: expired or too distant exp';
    return undefined;
  }

  #token(instanceUrl: string, refresh: boolean): TokenReply {
    const issuedAt = String(Date.now());
    return {
      status: 200,
      body: {
        access_token: this.#issue(),
        instance_url: instanceUrl,
        id: `${instanceUrl}/id/${ORG_ID}/${USER_ID}`,
        token_type: 'Bearer',
        issued_at: issuedAt,
        signature: randomBytes(32).toString('base64'),
        scope: refresh ? 'api refresh_token' : 'api',
      },
    };
  }
}

function oauthError(status: number, error: string, description: string): TokenReply {
  return { status, body: { error, error_description: description } };
}

function basicCredentials(header: string | undefined): [string, string] | undefined {
  const m = header === undefined ? null : /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : [decodeURIComponent(text.slice(0, colon)), decodeURIComponent(text.slice(colon + 1))];
}

/** A fresh access token in Salesforce's shape (`<orgId>!<opaque>`). */
export function newAccessToken(): string {
  return `${ORG_ID.slice(0, 15)}!${randomBytes(40).toString('base64url')}`;
}
