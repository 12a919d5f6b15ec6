/**
 * A small Marketing Cloud REST client on undici: joins paths to the token's rest_instance_url
 * without touching their case (FuelSDK-Node-REST#98), sends the Bearer token, answers a 401 by
 * dropping that token and retrying once with a new one and the NEW header
 * (FuelSDK-Node-REST#76), and turns every failure into a typed error for `classify`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { AuthError, BridgeError, PermanentError, TransientError } from '../errors.ts';
import type { McToken, McTokenManager } from './mc-auth.ts';

/** REST client options. */
export interface McRestClientOptions {
  /** HTTP dispatcher; when absent the client creates (and closes) its own with `createMcDispatcher`. */
  dispatcher?: Dispatcher;
  /** Headers and body timeout per request. @default 30000 */
  timeoutMs?: number;
}

/** A successful answer: status, parsed JSON body (undefined when empty or not JSON) and headers. */
export interface McResponse<T = unknown> {
  status: number;
  body: T | undefined;
  headers: IncomingHttpHeaders;
}

/** Connection settings for Marketing Cloud. */
export interface McDispatcherOptions {
  /** Connections per origin. @default 16 */
  connections?: number;
}

// Marketing Cloud closes idle keep-alive connections after 5 s; reusing one it is closing turns
// a POST into an ambiguous reset, so we drop ours first and never let server hints raise this.
const KEEP_ALIVE_MS = 4000;

/** An undici Agent tuned for Marketing Cloud (keep-alive below its 5 s idle close). */
export function createMcDispatcher(opts: McDispatcherOptions = {}): Agent {
  return new Agent({
    keepAliveTimeout: KEEP_ALIVE_MS,
    keepAliveMaxTimeout: KEEP_ALIVE_MS,
    connections: opts.connections ?? 16,
    connect: { timeout: 10_000 },
  });
}

/** Joins a REST path to the instance URL as strings: no normalisation, no change of case. */
export function joinRestUrl(base: string, path: string): string {
  const left = base.endsWith('/') ? base.slice(0, -1) : base;
  const right = path.startsWith('/') ? path : `/${path}`;
  return left + right;
}

/** The Marketing Cloud REST API of one credential set. */
export class McRestClient {
  readonly tokens: McTokenManager;
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;
  readonly #timeoutMs: number;

  /** Builds a client on a token manager (one per credential set); it sends nothing until the first call. */
  constructor(tokens: McTokenManager, opts: McRestClientOptions = {}) {
    this.tokens = tokens;
    this.#owned = opts.dispatcher === undefined;
    this.#dispatcher = opts.dispatcher ?? createMcDispatcher();
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** POSTs JSON; resolves on 2xx, otherwise throws a typed error. */
  post<T = unknown>(path: string, body: unknown): Promise<McResponse<T>> {
    return this.request<T>('POST', path, body);
  }

  /** GETs JSON; resolves on 2xx, otherwise throws a typed error. */
  get<T = unknown>(path: string): Promise<McResponse<T>> {
    return this.request<T>('GET', path);
  }

  /** Sends one request with the current token, refreshing it once on 401. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<McResponse<T>> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const token = await this.tokens.get();
    let res = await this.#send(method, path, text, token);
    if (res.status === 401) {
      this.tokens.invalidate(token.accessToken);
      const fresh = await this.tokens.get();
      res = await this.#send(method, path, text, fresh);
      if (res.status === 401) {
        throw new AuthError('MC_UNAUTHORIZED', `Marketing Cloud answered 401 to ${method} ${path} twice, with a fresh token the second time`);
      }
    }
    if (res.status >= 200 && res.status < 300) return res as McResponse<T>;
    throw mcHttpError(method, path, res);
  }

  /** Closes the connections if this client created them. */
  async close(): Promise<void> {
    if (this.#owned) await this.#dispatcher.close();
  }

  async #send(method: string, path: string, text: string | undefined, token: McToken): Promise<McResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${token.accessToken}`, accept: 'application/json' };
    if (text !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
    try {
      const res = await request(joinRestUrl(token.restBaseUrl, path), {
        method: method as Dispatcher.HttpMethod,
        headers,
        body: text ?? null,
        dispatcher: this.#dispatcher,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      const raw = await res.body.text();
      return { status: res.statusCode, headers: res.headers, body: parseJson(raw) };
    } catch (err) {
      throw networkError(method, path, err);
    }
  }
}

/** Maps a non-2xx answer (other than the 401 handled above) to a typed error. */
export function mcHttpError(method: string, path: string, res: McResponse): BridgeError {
  const body = isRecord(res.body) ? res.body : {};
  const errorcode = typeof body.errorcode === 'number' || typeof body.errorcode === 'string' ? body.errorcode : undefined;
  const mcMessage = typeof body.message === 'string' ? body.message.slice(0, 300) : '';
  const what = `${method} ${path} answered ${res.status}${errorcode !== undefined ? ` (errorcode ${errorcode})` : ''}${mcMessage ? `: ${mcMessage}` : ''}`;
  if (res.status === 429) {
    // 50200 "temporarily blocked" carries no Retry-After: the caller must back off long.
    if (String(errorcode) === '50200') return new TransientError('MC_TEMPORARILY_BLOCKED', `Marketing Cloud ${what}`);
    return new TransientError('MC_RATE_LIMITED', `Marketing Cloud ${what}`, withRetryAfter(retryAfterMs(res.headers['retry-after'], body.retryAfter)));
  }
  if (res.status >= 500 || res.status === 408) {
    return new TransientError('MC_SERVER_ERROR', `Marketing Cloud ${what}`, withRetryAfter(retryAfterMs(res.headers['retry-after'], undefined)));
  }
  if (res.status === 401) return new AuthError('MC_UNAUTHORIZED', `Marketing Cloud ${what}`);
  const opts: { status: number; mcErrorCode?: string | number } = { status: res.status };
  if (errorcode !== undefined) opts.mcErrorCode = errorcode;
  return new PermanentError('MC_REJECTED', `Marketing Cloud ${what}`, opts);
}

/** Server-advised wait from a `Retry-After` header (seconds or HTTP date) or a body's `retryAfter` (seconds). */
export function retryAfterMs(header: string | string[] | undefined, bodyValue: unknown): number | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h !== undefined && h.trim() !== '') {
    const seconds = Number(h);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(h);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  const fromBody = Number(bodyValue);
  if (bodyValue !== undefined && bodyValue !== null && bodyValue !== '' && Number.isFinite(fromBody) && fromBody >= 0) return fromBody * 1000;
  return undefined;
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A network failure as a TransientError. `MC_CONNECT_FAILED` means the request never left;
 * `MC_CONNECTION_LOST` and `MC_TIMEOUT` are ambiguous: Marketing Cloud may have accepted it,
 * and journey events have no idempotency key, so a retry can enter a contact twice.
 */
export function networkError(method: string, path: string, err: unknown): TransientError {
  const code = errorCode(err);
  const kind = NOT_SENT.has(code) ? 'MC_CONNECT_FAILED' : TIMEOUTS.has(code) ? 'MC_TIMEOUT' : 'MC_CONNECTION_LOST';
  return new TransientError(kind, `${method} ${path} failed: ${code ? `${code} ` : ''}${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function errorCode(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return '';
}

function withRetryAfter(ms: number | undefined): { retryAfterMs?: number } {
  return ms === undefined ? {} : { retryAfterMs: ms };
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
