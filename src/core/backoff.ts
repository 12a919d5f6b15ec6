/**
 * The one backoff of the bridge: how long to wait before trying again, for every place that
 * waits and tries again (the dispatcher's retry policy, both subscribers' reconnects, the
 * enrichment fetcher, Marketing Cloud token refresh). Exponential from `baseMs`, capped at
 * `capMs`, jittered so bridges and channels failing together do not come back in lockstep,
 * and a server-advised wait (Retry-After) is honoured as a floor, itself capped so a broken
 * header cannot park work for days. `retrying` runs a call under cockatiel's retry policy with
 * this backoff. Stages decide *whether* to retry (src/delivery/retry.ts `classify` for
 * Marketing Cloud); this module only decides *how long*.
 */
import { DelegateBackoff, handleWhen, retry } from 'cockatiel';

/** Backoff tuning. */
export interface Backoff {
  /** Ceiling of the first wait; doubles per failure. */
  baseMs: number;
  /** Longest computed wait. */
  capMs: number;
  /**
   * Share of the ceiling that is random: 1 is "full jitter" (uniform in [0, ceiling]), 0.5
   * "equal jitter" (at least half the ceiling), 0 none. @default 1
   */
  spread?: number;
  /** Longest server-advised wait honoured; longer ones are cut to it. @default capMs */
  maxAdvisedMs?: number;
  /** Random source in [0, 1), for tests. @default Math.random */
  random?: () => number;
}

/**
 * The wait before try `failures + 1`, where `failures` counts the failures so far (1 after the
 * first). With `advisedMs` (a Retry-After), the wait is at least that (capped at
 * `maxAdvisedMs`, plus up to 10% so many waiters do not return at the same instant).
 */
export function backoffDelay(failures: number, b: Backoff, advisedMs?: number): number {
  const random = b.random ?? Math.random;
  const spread = Math.min(1, Math.max(0, b.spread ?? 1));
  const n = Math.max(1, Math.floor(failures));
  const ceiling = Math.min(b.capMs, b.baseMs * 2 ** Math.min(n - 1, 30));
  const jittered = ceiling * (1 - spread) + random() * ceiling * spread;
  if (advisedMs === undefined || !(advisedMs >= 0)) return Math.round(jittered);
  const advised = Math.min(advisedMs, b.maxAdvisedMs ?? b.capMs);
  return Math.round(Math.max(jittered, advised + random() * advised * 0.1));
}

/**
 * The wait before a loop tries again a round its store failed (the dispatcher, the feedback
 * publisher): 125-250 ms, doubling while the store keeps failing, to 15-30 s.
 */
export const STORE_ROUND_BACKOFF: Backoff = { baseMs: 250, capMs: 30_000, spread: 0.5 };

/** Server-advised wait from a `Retry-After` header (seconds or HTTP date) or a body's `retryAfter` (seconds). */
export function retryAfterMs(header: string | string[] | undefined, bodyValue?: unknown): number | undefined {
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

/** How `retrying` tries. */
export interface RetryOptions extends Backoff {
  /** Tries in all, the first included. */
  maxAttempts: number;
  /** Whether this error is worth another try. @default every error */
  shouldRetry?(err: unknown): boolean;
  /** The wait the error itself asks for (a Retry-After), if any. */
  advisedMs?(err: unknown): number | undefined;
  /** Told before each wait: the error, the try that failed (1 for the first) and the wait. */
  onRetry?(err: unknown, failures: number, delayMs: number): void;
}

/** The last error of `retrying`, with how many tries were made. */
export class GaveUp extends Error {
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(`gave up after ${attempts} attempts`, { cause });
    this.attempts = attempts;
  }
}

/**
 * Calls `fn` until it succeeds, `shouldRetry` refuses the error, or `maxAttempts` tries were
 * made, waiting `backoffDelay` between tries (cockatiel's retry policy does the looping).
 * @throws GaveUp carrying the last error as `cause` and the number of tries made.
 */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  let attempts = 0;
  const policy = retry(
    handleWhen((err) => opts.shouldRetry?.(err) ?? true),
    {
      maxAttempts: Math.max(0, opts.maxAttempts - 1),
      backoff: new DelegateBackoff<{ attempt: number; result: unknown }>((ctx) => {
        const err = (ctx.result as { error?: unknown }).error;
        return backoffDelay(ctx.attempt, opts, opts.advisedMs?.(err));
      }),
    },
  );
  const onRetry = opts.onRetry;
  if (onRetry) policy.onRetry((r) => onRetry((r as { error?: unknown }).error, r.attempt, r.delay));
  try {
    return await policy.execute(() => {
      attempts++;
      return fn();
    });
  } catch (err) {
    throw new GaveUp(attempts, err);
  }
}
