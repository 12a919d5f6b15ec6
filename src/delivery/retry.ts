/**
 * The one place that decides what a delivery failure means. Three questions, three functions:
 *  - what kind of failure is this answer or network error?  `errorFromResponse`, `errorFromNetwork`
 *  - retry later or dead-letter now?                         `classify`
 *  - how long to wait before the next try?                   `RetryPolicy.decide` (`backoffMs`)
 * plus `isAlreadyAccepted` (109110: Marketing Cloud already has this messageKey) and
 * `countsAgainstHost` (what the per-host circuit breaker calls a failure). Targets, the REST
 * client, the breaker and the dispatcher ask; nothing else guesses.
 *
 * Rules (docs/protocols.md §3): retry 429, 5xx, timeouts and network resets with jittered backoff,
 * honouring Retry-After (429 50100); back off long, growing and capped, after a 429 "temporarily
 * blocked" (50200), which names no wait; never retry 400, 403, a per-member rejection, or a 401
 * that survived one token refresh.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { backoffDelay, retryAfterMs } from '../core/backoff.ts';
import { AuthError, BridgeError, Code, McErrorcode, PermanentError, TransientError } from '../core/errors.ts';

/** What to do with a failed delivery. */
export type Verdict = 'retry' | 'dead';

/** Backoff tuning. */
export interface BackoffPolicy {
  /** Delay cap for the first retry; doubles per attempt. @default 1000 */
  baseMs: number;
  /** Longest computed delay. @default 300000 (5 min) */
  capMs: number;
  /** Longest server-advised wait we accept; longer ones are cut to this. @default 900000 (15 min) */
  maxRetryAfterMs: number;
  /** First wait after 429 50200 ("temporarily blocked"); doubles per attempt. @default 60000 */
  blockedWaitMs: number;
  /** Longest wait after 429 50200. @default 900000 (15 min) */
  blockedCapMs: number;
  /** Random source in [0, 1), for tests. @default Math.random */
  random: () => number;
}

/** The defaults used when no policy is given. */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  baseMs: 1000,
  capMs: 300_000,
  maxRetryAfterMs: 900_000,
  blockedWaitMs: 60_000,
  blockedCapMs: 900_000,
  random: Math.random,
});

/** Minimum wait after 429 50200 ("temporarily blocked"), which carries no Retry-After. */
export const TEMPORARILY_BLOCKED_WAIT_MS = DEFAULT_BACKOFF.blockedWaitMs;

/** Auth failures that happened before anything reached the REST API: the bridge's problem, not the action's. */
const TOKEN_FAILURES: ReadonlySet<string> = new Set([Code.MC_AUTH_REFUSED, Code.MC_AUTH_BAD_RESPONSE, Code.MC_UNSAFE_REST_URL]);
/** Transient failures that say the host is unwell (the breaker counts them); 429s pause it instead. */
const HOST_FAILURES: ReadonlySet<string> = new Set([Code.MC_SERVER_ERROR, Code.MC_TIMEOUT, Code.MC_CONNECTION_LOST, Code.MC_CONNECT_FAILED]);

/**
 * Retry or dead-letter. Transient errors (5xx, 429, timeouts, resets, an unreachable auth host,
 * an open circuit) are retried. So is a token that could not be had (credentials refused,
 * unusable token response): nothing was sent and the action is not at fault, so a rotated
 * secret parks the outbox instead of emptying it into the dead-letter queue; the dispatcher's
 * attempt cap still ends it. Permanent, mapping, input and config errors are dead, and so is a
 * 401 that survived a token refresh (docs/protocols.md: never retried). Anything that is not a
 * BridgeError is unexpected: retried, and the attempt cap dead-letters it if it keeps failing.
 */
export function classify(err: unknown): Verdict {
  if (!(err instanceof BridgeError)) return 'retry';
  if (err.kind === 'transient') return 'retry';
  if (err.kind === 'auth' && TOKEN_FAILURES.has(err.code)) return 'retry';
  return 'dead';
}

/** True when Marketing Cloud's errorcode says it already holds this messageKey: the send was accepted before. */
export function isAlreadyAccepted(errorcode: unknown): boolean {
  return errorcode !== undefined && errorcode !== null && String(errorcode) === String(McErrorcode.messageKeyReused);
}

/** What the per-host circuit breaker makes of a failed call: a failure of the host, a pause it asked for, or neither. */
export function countsAgainstHost(err: unknown, blockedWaitMs = DEFAULT_BACKOFF.blockedWaitMs): { failure: boolean; pauseMs?: number } {
  if (!(err instanceof TransientError)) return { failure: false };
  if (err.code === Code.MC_RATE_LIMITED) return err.retryAfterMs === undefined ? { failure: false } : { failure: false, pauseMs: err.retryAfterMs };
  if (err.code === Code.MC_TEMPORARILY_BLOCKED) return { failure: false, pauseMs: blockedWaitMs };
  return { failure: HOST_FAILURES.has(err.code) };
}

/**
 * Delay before attempt `attempt + 1`, where `attempt` counts the failures so far (1 after the
 * first): the shared backoff (src/core/backoff.ts) with "equal jitter", half fixed and half
 * random, so a sick host is never retried at once yet retries spread out; capped. A
 * server-advised wait is a floor, itself capped so a hostile or broken header cannot park an
 * action for days.
 */
export function backoffMs(attempt: number, advisedMs?: number, policy: Partial<BackoffPolicy> = {}): number {
  const p = { ...DEFAULT_BACKOFF, ...policy };
  return backoffDelay(attempt, { baseMs: p.baseMs, capMs: p.capMs, spread: 0.5, maxAdvisedMs: p.maxRetryAfterMs, random: p.random }, advisedMs);
}

/**
 * The wait an error asks for, to pass to `backoffMs`: the server's Retry-After, or a long floor
 * for a "temporarily blocked" 429 that names none; undefined when the error says nothing.
 */
export function retryAfterOf(err: unknown, policy: Partial<BackoffPolicy> = {}): number | undefined {
  if (!(err instanceof BridgeError) || err.kind !== 'transient') return undefined;
  const advised = (err as BridgeError & { retryAfterMs?: number }).retryAfterMs;
  if (advised !== undefined) return advised;
  return err.code === Code.MC_TEMPORARILY_BLOCKED ? (policy.blockedWaitMs ?? DEFAULT_BACKOFF.blockedWaitMs) : undefined;
}

/** What `RetryPolicy.decide` says. */
export type Decision = { verdict: 'retry'; delayMs: number } | { verdict: 'dead'; reason: 'permanent' | 'exhausted' };

/** The retry policy the dispatcher applies: classify, then space the next try, within an attempt bound. */
export class RetryPolicy {
  readonly maxAttempts: number;
  readonly backoff: Readonly<BackoffPolicy>;

  constructor(maxAttempts: number, backoff: Partial<BackoffPolicy> = {}) {
    this.maxAttempts = maxAttempts;
    this.backoff = { ...DEFAULT_BACKOFF, ...backoff };
  }

  /**
   * `attempts` counts tries so far including this one. A 50200 waits `blockedWaitMs`, doubling
   * per attempt up to `blockedCapMs`; everything else retryable uses `backoffMs` with the
   * server's Retry-After as a floor.
   */
  decide(err: unknown, attempts: number, advisedMs?: number): Decision {
    if (classify(err) === 'dead') return { verdict: 'dead', reason: 'permanent' };
    if (attempts >= this.maxAttempts) return { verdict: 'dead', reason: 'exhausted' };
    const p = this.backoff;
    if (err instanceof BridgeError && err.code === Code.MC_TEMPORARILY_BLOCKED) {
      // No Retry-After: the growing blocked wait stands in for one.
      const wait = Math.min(p.blockedCapMs, p.blockedWaitMs * 2 ** Math.min(Math.max(0, attempts - 1), 20));
      return { verdict: 'retry', delayMs: backoffMs(attempts, wait, { ...p, maxRetryAfterMs: p.blockedCapMs }) };
    }
    return { verdict: 'retry', delayMs: backoffMs(attempts, advisedMs ?? retryAfterOf(err, p), p) };
  }
}

/** The parts of an HTTP answer the classifier reads. */
export interface AnswerLike {
  status: number;
  body: unknown;
  headers: IncomingHttpHeaders;
}

/** Maps a non-2xx answer (other than the 401 the client refreshes on) to a typed error with MC's errorcode and message. */
export function errorFromResponse(method: string, path: string, res: AnswerLike): BridgeError {
  const body = isRecord(res.body) ? res.body : {};
  const errorcode = typeof body.errorcode === 'number' || typeof body.errorcode === 'string' ? body.errorcode : undefined;
  const mcMessage = typeof body.message === 'string' ? body.message.slice(0, 300) : '';
  const what = `${method} ${path} answered ${res.status}${errorcode !== undefined ? ` (errorcode ${errorcode})` : ''}${mcMessage ? `: ${mcMessage}` : ''}`;
  if (res.status === 429) {
    // 50200 "temporarily blocked" carries no Retry-After: the caller must back off long.
    if (String(errorcode) === String(McErrorcode.temporarilyBlocked))
      return new TransientError(Code.MC_TEMPORARILY_BLOCKED, `Marketing Cloud ${what}`);
    return new TransientError(
      Code.MC_RATE_LIMITED,
      `Marketing Cloud ${what}`,
      withRetryAfter(retryAfterMs(res.headers['retry-after'], body.retryAfter)),
    );
  }
  if (res.status >= 500 || res.status === 408) {
    return new TransientError(Code.MC_SERVER_ERROR, `Marketing Cloud ${what}`, withRetryAfter(retryAfterMs(res.headers['retry-after'], undefined)));
  }
  if (res.status === 401) return new AuthError(Code.MC_UNAUTHORIZED, `Marketing Cloud ${what}`);
  const opts: { status: number; mcErrorCode?: string | number } = { status: res.status };
  if (errorcode !== undefined) opts.mcErrorCode = errorcode;
  return new PermanentError(Code.MC_REJECTED, `Marketing Cloud ${what}`, opts);
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A network failure as a TransientError. `MC_CONNECT_FAILED` means the request never left;
 * `MC_CONNECTION_LOST` and `MC_TIMEOUT` are ambiguous: Marketing Cloud may have accepted it.
 * Journey events and classic triggered sends have no idempotency key, so a retry can enter or
 * send twice; transactional sends carry their messageKey and come back as 109110.
 */
export function errorFromNetwork(method: string, path: string, err: unknown): TransientError {
  const code = errorCode(err);
  const kind = NOT_SENT.has(code) ? Code.MC_CONNECT_FAILED : TIMEOUTS.has(code) ? Code.MC_TIMEOUT : Code.MC_CONNECTION_LOST;
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
