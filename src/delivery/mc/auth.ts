/**
 * Marketing Cloud access tokens: one per (auth host, client ID, account ID), fetched with the
 * client-credentials grant, refreshed about five minutes before expiry, one refresh at a time.
 * Credentials are only ever sent to a Marketing Cloud auth host (or loopback 127.0.0.1, localhost, ::1, for emulators),
 * and a token is only ever used against a Marketing Cloud REST host (or loopback): anything
 * else is refused before a byte leaves the process (SSRF and token leakage).
 */
import { request, type Dispatcher } from 'undici';
import { backoffDelay, retryAfterMs, type Backoff } from '../../core/backoff.ts';
import { AuthError, ConfigError, TransientError, Code } from '../../core/errors.ts';

/** Where and as whom to ask for tokens. */
export interface McCredentials {
  /** `https://<28-char subdomain starting mc>.auth.marketingcloudapis.com`, or `http://127.0.0.1:<port>` / `http://localhost:<port>`. */
  authBaseUrl: string;
  clientId: string;
  clientSecret: string;
  /** MID of the business unit; tokens are per MID. */
  accountId?: string;
  /** Space-separated scopes; the package's scopes when absent. */
  scope?: string;
}

/** A usable token and the REST base it belongs to. */
export interface McToken {
  accessToken: string;
  /** `rest_instance_url` from the token response, checked. */
  restBaseUrl: string;
  /** `soap_instance_url`, when the answer named a Marketing Cloud SOAP host (field lookups of `check`). */
  soapBaseUrl?: string;
  /** When Marketing Cloud will stop accepting it (ms since epoch, by the injected clock). */
  expiresAt: number;
  /** From then on `get()` fetches a new token. */
  refreshAt: number;
  /** After this the token is not handed out any more (a margin before `expiresAt`). */
  usableUntil: number;
  /** The scopes Marketing Cloud granted, space-separated, when the answer named them. */
  scope?: string;
}

/** Token manager options. */
export interface McTokenManagerOptions {
  /** Refresh this long before expiry (halved lifetimes are used for very short-lived tokens). @default 300000 */
  refreshAheadMs?: number;
  /** HTTP dispatcher for the token request. @default undici's global dispatcher */
  dispatcher?: Dispatcher;
  /** Headers and body timeout of the token request. @default 15000 */
  timeoutMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** Config key named by a refused auth URL. @default 'marketingCloud.authBaseUrl' */
  configKey?: string;
  /** Told when an early refresh failed and the still-valid token stays in use. */
  onRefreshError?: (err: unknown) => void;
}

const MC_AUTH_HOST = /^mc[a-z0-9-]{26}\.auth\.marketingcloudapis\.com$/;
const MC_REST_HOST = /^[a-z0-9-]+\.rest\.marketingcloudapis\.com$/;
// URL.hostname keeps the brackets of an IPv6 literal.
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
// After a failed early refresh the old token stays in use and the refresh is tried again after
// the shared backoff: 5 to 10 s the first time, growing to a minute, or the auth host's Retry-After.
const REFRESH_RETRY: Backoff = { baseMs: 10_000, capMs: 60_000, spread: 0.5 };

/** Fetches, caches and refreshes the token of one credential set. */
export class McTokenManager {
  /** `(auth origin, client ID, account ID)`: the identity a token belongs to. */
  readonly key: string;
  readonly #creds: McCredentials;
  readonly #authUrl: URL;
  readonly #refreshAheadMs: number;
  readonly #timeoutMs: number;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #now: () => number;
  readonly #onRefreshError: ((err: unknown) => void) | undefined;
  #current: McToken | undefined;
  #inflight: Promise<McToken> | undefined;
  #nextEarlyRefresh = 0;
  /** Early refreshes that failed in a row (drives their backoff). */
  #earlyFailures = 0;
  #requests = 0;

  /** Checks the auth URL (ConfigError if it is not a Marketing Cloud or loopback host); sends nothing yet. */
  constructor(creds: McCredentials, opts: McTokenManagerOptions = {}) {
    this.#authUrl = checkAuthBaseUrl(creds.authBaseUrl, opts.configKey ?? 'marketingCloud.authBaseUrl');
    this.#creds = creds;
    this.key = tokenKey(creds);
    this.#refreshAheadMs = opts.refreshAheadMs ?? 300_000;
    this.#timeoutMs = opts.timeoutMs ?? 15_000;
    this.#dispatcher = opts.dispatcher;
    this.#now = opts.now ?? Date.now;
    this.#onRefreshError = opts.onRefreshError;
  }

  /** Token requests sent so far (for metrics and tests). */
  get tokenRequests(): number {
    return this.#requests;
  }

  /** The current token, fetching or refreshing it first when needed; concurrent callers share one request. */
  async get(): Promise<McToken> {
    const now = this.#now();
    const cur = this.#current;
    if (cur && now < cur.refreshAt) return cur;
    if (cur && now < cur.usableUntil) {
      if (!this.#inflight && now < this.#nextEarlyRefresh) return cur;
      try {
        const fresh = await this.#refresh();
        this.#earlyFailures = 0;
        return fresh;
      } catch (err) {
        // The old token still works: a refresh hiccup must not stop deliveries.
        const advised = err instanceof TransientError ? err.retryAfterMs : undefined;
        this.#nextEarlyRefresh = this.#now() + backoffDelay(++this.#earlyFailures, REFRESH_RETRY, advised);
        this.#onRefreshError?.(err);
        return cur;
      }
    }
    return this.#refresh();
  }

  /** Drops `accessToken` after Marketing Cloud refused it, unless a newer token already replaced it. */
  invalidate(accessToken: string): void {
    if (this.#current?.accessToken === accessToken) this.#current = undefined;
  }

  #refresh(): Promise<McToken> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<McToken> {
    const { clientId, clientSecret, accountId, scope } = this.#creds;
    const grant: Record<string, string> = { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret };
    if (accountId !== undefined && accountId !== '') grant.account_id = accountId;
    if (scope) grant.scope = scope;
    const where = this.#authUrl.host;
    this.#requests++;
    const sentAt = this.#now();
    let status: number;
    let text: string;
    let retryAfter: string | string[] | undefined;
    try {
      const res = await request(new URL('/v2/token', this.#authUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(grant),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
      status = res.statusCode;
      retryAfter = res.headers['retry-after'];
      text = await res.body.text();
    } catch (err) {
      throw new TransientError(Code.MC_AUTH_UNREACHABLE, `Marketing Cloud auth at ${where} did not answer: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const body = parseObject(text);
    if (status === 429 || status >= 500) {
      const advised = retryAfterMs(retryAfter);
      throw new TransientError(
        Code.MC_AUTH_UNAVAILABLE,
        `Marketing Cloud auth at ${where} answered ${status}`,
        advised === undefined ? {} : { retryAfterMs: advised },
      );
    }
    if (status === 200 && !body) {
      throw new AuthError(Code.MC_AUTH_BAD_RESPONSE, `Marketing Cloud auth at ${where} answered 200 with a body that is not a JSON object`);
    }
    if (status !== 200 || !body) {
      const reason = body ? [body.error, body.error_description].filter((v) => typeof v === 'string').join(': ') : '';
      throw new AuthError(
        Code.MC_AUTH_REFUSED,
        scrub(`Marketing Cloud auth at ${where} refused the token request (${status})${reason ? `: ${reason}` : ''}`, clientSecret),
      );
    }
    const accessToken = body.access_token;
    const expiresIn = Number(body.expires_in);
    const restUrl = body.rest_instance_url;
    if (typeof accessToken !== 'string' || accessToken === '' || !(expiresIn > 0) || typeof restUrl !== 'string') {
      throw new AuthError(
        Code.MC_AUTH_BAD_RESPONSE,
        `Marketing Cloud auth at ${where} answered 200 without access_token, expires_in or rest_instance_url`,
      );
    }
    const restBaseUrl = checkRestBaseUrl(restUrl, this.#authUrl);
    const lifetime = expiresIn * 1000;
    // Lifetimes are measured from when the request left, so latency never makes us late.
    const expiresAt = sentAt + lifetime;
    const ahead = lifetime > 2 * this.#refreshAheadMs ? this.#refreshAheadMs : lifetime / 2;
    const token: McToken = {
      accessToken,
      restBaseUrl,
      expiresAt,
      refreshAt: expiresAt - ahead,
      usableUntil: expiresAt - Math.min(30_000, lifetime / 10),
    };
    if (typeof body.scope === 'string') token.scope = body.scope;
    // Credentials go only to Marketing Cloud's own hosts: a SOAP URL elsewhere is ignored, not used.
    if (typeof body.soap_instance_url === 'string' && soapUrlOk(body.soap_instance_url, this.#authUrl)) token.soapBaseUrl = body.soap_instance_url;
    this.#current = token;
    this.#nextEarlyRefresh = 0;
    return token;
  }
}

/** The identity a token belongs to: auth origin, client ID and account ID. */
export function tokenKey(creds: Pick<McCredentials, 'authBaseUrl' | 'clientId' | 'accountId'>): string {
  let origin = creds.authBaseUrl;
  try {
    origin = new URL(creds.authBaseUrl).origin;
  } catch {
    /* checkAuthBaseUrl reports it */
  }
  return `${origin}|${creds.clientId}|${creds.accountId ?? ''}`;
}

const shared = new Map<string, { secret: string; manager: McTokenManager }>();

/** The process-wide manager for these credentials, so one identity never holds two tokens. */
export function sharedTokenManager(creds: McCredentials, opts?: McTokenManagerOptions): McTokenManager {
  const key = tokenKey(creds);
  const found = shared.get(key);
  // A changed secret (rotation) gets a fresh manager; the old token is simply left to expire.
  if (found && found.secret === creds.clientSecret) return found.manager;
  const manager = new McTokenManager(creds, opts);
  shared.set(key, { secret: creds.clientSecret, manager });
  return manager;
}

/** Forgets every shared manager (tests, shutdown). */
export function clearSharedTokenManagers(): void {
  shared.clear();
}

/** Parses and checks an auth base URL; throws ConfigError naming `key` when it is not allowed. */
export function checkAuthBaseUrl(value: string, key = 'marketingCloud.authBaseUrl'): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(key, `${JSON.stringify(value)} is not a URL`);
  }
  const plain = url.username === '' && url.password === '' && url.search === '' && url.hash === '' && (url.pathname === '/' || url.pathname === '');
  if (!plain) throw new ConfigError(key, `${JSON.stringify(value)} must be a bare base URL (no path, query or user info)`);
  if (isLoopback(url)) return url;
  if (url.protocol !== 'https:' || !MC_AUTH_HOST.test(url.hostname) || (url.port !== '' && url.port !== '443')) {
    throw new ConfigError(
      key,
      `${JSON.stringify(value)} is not a Marketing Cloud auth host: expected https://<28-character subdomain starting with mc>.auth.marketingcloudapis.com (or http://127.0.0.1:<port> for an emulator)`,
    );
  }
  return url;
}

/** Checks a token response's rest_instance_url; loopback only when the auth host was loopback too. */
export function checkRestBaseUrl(value: string, authUrl: URL): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    /* reported below */
  }
  const ok =
    url !== undefined &&
    url.username === '' &&
    url.password === '' &&
    url.search === '' &&
    url.hash === '' &&
    (isLoopback(url) ? isLoopback(authUrl) : url.protocol === 'https:' && MC_REST_HOST.test(url.hostname) && (url.port === '' || url.port === '443'));
  if (!ok) {
    throw new AuthError(
      Code.MC_UNSAFE_REST_URL,
      `Marketing Cloud auth at ${authUrl.host} returned rest_instance_url ${JSON.stringify(value.slice(0, 120))}, which is not a Marketing Cloud REST host; the token was not used`,
    );
  }
  return value;
}

const MC_SOAP_HOST = /^[a-z0-9-]+\.soap\.marketingcloudapis\.com$/;

/** True when `value` is a Marketing Cloud SOAP host (or loopback, when the auth host is). */
function soapUrlOk(value: string, authUrl: URL): boolean {
  try {
    const url = new URL(value);
    if (url.username !== '' || url.password !== '' || url.search !== '') return false;
    return isLoopback(url) ? isLoopback(authUrl) : url.protocol === 'https:' && MC_SOAP_HOST.test(url.hostname);
  } catch {
    return false;
  }
}

function isLoopback(url: URL): boolean {
  return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps a secret out of a message even if a server echoed it back. */
function scrub(message: string, secret: string): string {
  return secret.length >= 4 ? message.split(secret).join('***') : message;
}
