/**
 * The one place that decides what a delivery failure means: retry later or dead-letter now,
 * and how long to wait before the next try. Targets and the dispatcher ask; nothing else guesses.
 *
 * Rules (PROTOCOLS.md §3): retry 429, 5xx, timeouts and network resets with jittered backoff,
 * honouring Retry-After; back off long after a 429 "temporarily blocked" (50200), which names no
 * wait; never retry 400, 403, a per-member rejection, or a 401 that survived one token refresh.
 */
import { BridgeError } from '../errors.ts';

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
  /** Random source in [0, 1), for tests. @default Math.random */
  random: () => number;
}

/** The defaults used when no policy is given. */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  baseMs: 1000,
  capMs: 300_000,
  maxRetryAfterMs: 900_000,
  random: Math.random,
});

/** Minimum wait after 429 50200 ("temporarily blocked"), which carries no Retry-After. */
export const TEMPORARILY_BLOCKED_WAIT_MS = 60_000;

/** Auth failures that happened before anything reached the REST API: the bridge's problem, not the action's. */
const TOKEN_FAILURES = new Set(['MC_AUTH_REFUSED', 'MC_AUTH_BAD_RESPONSE', 'MC_UNSAFE_REST_URL']);

/**
 * Retry or dead-letter. Transient errors (5xx, 429, timeouts, resets, an unreachable auth host)
 * are retried. So is a token that could not be had (credentials refused, unusable token
 * response): nothing was sent and the action is not at fault, so a rotated secret parks the
 * outbox instead of emptying it into the dead-letter queue; the dispatcher's attempt cap still
 * ends it. Permanent, mapping, input and config errors are dead, and so is a 401 that survived
 * a token refresh (PROTOCOLS.md: never retried). Anything that is not a BridgeError is
 * unexpected: retried, and the attempt cap dead-letters it if it keeps failing.
 */
export function classify(err: unknown): Verdict {
  if (!(err instanceof BridgeError)) return 'retry';
  if (err.kind === 'transient') return 'retry';
  if (err.kind === 'auth' && TOKEN_FAILURES.has(err.code)) return 'retry';
  return 'dead';
}

/**
 * Delay before attempt `attempt + 1`, where `attempt` counts the failures so far (1 after the
 * first). "Equal jitter" exponential: half fixed, half random, so retries spread out but never
 * come back at once; capped. A server-advised wait is a floor (plus up to 10% jitter), itself
 * capped so a hostile or broken header cannot park an action for days.
 */
export function backoffMs(attempt: number, retryAfterMs?: number, policy: Partial<BackoffPolicy> = {}): number {
  const p = { ...DEFAULT_BACKOFF, ...policy };
  const n = Math.max(1, Math.floor(attempt));
  const ceiling = Math.min(p.capMs, p.baseMs * 2 ** Math.min(n - 1, 30));
  const jittered = ceiling / 2 + p.random() * (ceiling / 2);
  if (retryAfterMs === undefined || !(retryAfterMs >= 0)) return Math.round(jittered);
  const advised = Math.min(retryAfterMs, p.maxRetryAfterMs);
  return Math.round(Math.max(jittered, advised + p.random() * advised * 0.1));
}

/**
 * The wait an error asks for, to pass to `backoffMs`: the server's Retry-After, or a long floor
 * for a "temporarily blocked" 429 that names none; undefined when the error says nothing.
 */
export function retryAfterOf(err: unknown): number | undefined {
  if (!(err instanceof BridgeError) || err.kind !== 'transient') return undefined;
  const advised = (err as BridgeError & { retryAfterMs?: number }).retryAfterMs;
  if (advised !== undefined) return advised;
  return err.code === 'MC_TEMPORARILY_BLOCKED' ? TEMPORARILY_BLOCKED_WAIT_MS : undefined;
}
