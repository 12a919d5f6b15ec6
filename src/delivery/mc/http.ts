/**
 * A small Marketing Cloud REST client on undici: joins paths to the token's rest_instance_url
 * without touching their case (FuelSDK-Node-REST#98), sends the Bearer token, answers a 401 by
 * dropping that token and retrying once with a new one and the NEW header
 * (FuelSDK-Node-REST#76), and turns every failure into a typed error for `classify`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { AuthError, Code } from '../../core/errors.ts';
import type { BreakerRegistry } from '../breaker.ts';
import type { McToken, McTokenManager } from './auth.ts';
import { errorFromNetwork, errorFromResponse } from '../retry.ts';

/** REST client options. */
export interface McRestClientOptions {
  /** HTTP dispatcher; when absent the client creates (and closes) its own with `createMcDispatcher`. */
  dispatcher?: Dispatcher;
  /** Headers and body timeout per request. @default 30000 */
  timeoutMs?: number;
  /** Per-host circuit breakers; none when absent. */
  breakers?: BreakerRegistry;
  /** Requests in flight at once through this client (or a shared limiter); unlimited when absent. */
  limiter?: Limiter;
}

/**
 * A counting semaphore: at most `size` holders at once, the rest wait in order. Not cockatiel's
 * bulkhead: it re-enters a queued call through a microtask, so a newcomer can take the freed
 * slot first and the waiter goes to the back of the queue; here a freed slot goes to the
 * oldest waiter.
 */
export class Limiter {
  readonly size: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.size = Math.max(1, size);
  }
  /** Runs `fn` once a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.size) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

/** A successful answer: status, parsed JSON body (undefined when empty or not JSON) and headers. */
export interface McResponse<T = unknown> {
  status: number;
  body: T | undefined;
  headers: IncomingHttpHeaders;
}

/** Per-request options. */
export interface RequestOptions {
  /** Non-2xx statuses returned as answers instead of thrown (the caller reads their body). */
  accept?: readonly number[];
}

/** Connection settings for Marketing Cloud. */
export interface McDispatcherOptions {
  /** Connections per origin. @default 16 */
  connections?: number;
  /** Idle keep-alive time, kept below Marketing Cloud's 5 s. @default 4000 */
  keepAliveMs?: number;
}

// Marketing Cloud closes idle keep-alive connections after 5 s; reusing one it is closing turns
// a POST into an ambiguous reset, so we drop ours first and never let server hints raise this.
const KEEP_ALIVE_MS = 4000;
const KEEP_ALIVE_LIMIT_MS = 4900;

/** An undici Agent tuned for Marketing Cloud (keep-alive below its 5 s idle close). */
export function createMcDispatcher(opts: McDispatcherOptions = {}): Agent {
  const keepAlive = Math.min(KEEP_ALIVE_LIMIT_MS, Math.max(1, opts.keepAliveMs ?? KEEP_ALIVE_MS));
  return new Agent({
    keepAliveTimeout: keepAlive,
    keepAliveMaxTimeout: keepAlive,
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
  readonly #breakers: BreakerRegistry | undefined;
  readonly #limiter: Limiter | undefined;

  /** Builds a client on a token manager (one per credential set); it sends nothing until the first call. */
  constructor(tokens: McTokenManager, opts: McRestClientOptions = {}) {
    this.tokens = tokens;
    this.#owned = opts.dispatcher === undefined;
    this.#dispatcher = opts.dispatcher ?? createMcDispatcher();
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#breakers = opts.breakers;
    this.#limiter = opts.limiter;
  }

  /** POSTs JSON; resolves on 2xx, otherwise throws a typed error. */
  post<T = unknown>(path: string, body: unknown): Promise<McResponse<T>> {
    return this.request<T>('POST', path, body);
  }

  /** GETs JSON; resolves on 2xx, otherwise throws a typed error. */
  get<T = unknown>(path: string): Promise<McResponse<T>> {
    return this.request<T>('GET', path);
  }

  /**
   * Sends one request with the current token, refreshing it once on 401. Passes the host's
   * circuit breaker first and reports the outcome to it; waits for a slot of the limiter.
   */
  request<T = unknown>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<McResponse<T>> {
    return this.#limiter ? this.#limiter.run(() => this.#guarded<T>(method, path, body, opts)) : this.#guarded<T>(method, path, body, opts);
  }

  async #guarded<T>(method: string, path: string, body: unknown, opts: RequestOptions): Promise<McResponse<T>> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const token = await this.tokens.get();
    if (!this.#breakers) return this.#exchange<T>(method, path, text, token, opts);
    const breaker = this.#breakers.for(hostOf(token.restBaseUrl));
    const probe = await breaker.acquire();
    try {
      const res = await this.#exchange<T>(method, path, text, token, opts);
      breaker.report(undefined, probe);
      return res;
    } catch (err) {
      breaker.report(err, probe);
      throw err;
    }
  }

  async #exchange<T>(method: string, path: string, text: string | undefined, token: McToken, opts: RequestOptions): Promise<McResponse<T>> {
    let res = await this.#send(method, path, text, token);
    if (res.status === 401) {
      this.tokens.invalidate(token.accessToken);
      const fresh = await this.tokens.get();
      res = await this.#send(method, path, text, fresh);
      if (res.status === 401) {
        throw new AuthError(Code.MC_UNAUTHORIZED, `Marketing Cloud answered 401 to ${method} ${path} twice, with a fresh token the second time`);
      }
    }
    if ((res.status >= 200 && res.status < 300) || opts.accept?.includes(res.status)) return res as McResponse<T>;
    throw errorFromResponse(method, path, res);
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
      throw errorFromNetwork(method, path, err);
    }
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
