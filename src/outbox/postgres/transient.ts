/**
 * Which errors of the Postgres store are worth the same statement again, and the store's retry
 * of them: a statement or transaction the server rolled back for a deadlock or a serialization
 * failure, a server restarting or refusing connections for a moment, a dropped socket. Each is
 * tried again a few times, a few hundred milliseconds at most in all, with the one backoff
 * (core/backoff.ts); an outage longer than that reaches the caller, whose loop waits and tries
 * its round again (the dispatcher, the feedback publisher, retention).
 *
 * Trying again is safe for every statement the store retries: a rolled-back one changed
 * nothing, and when a connection drops after the server committed (the answer lost), the
 * second run finds its work done: a batch's actions are refused by their idempotency key,
 * a settlement only touches rows still held by this instance and pending, a claim that went
 * unanswered runs out its lease and is claimed again.
 */
import type pg from 'pg';
import { GaveUp, retrying } from '../../core/backoff.ts';

/**
 * SQLSTATEs that say "try again": 40001 serialization_failure, 40P01 deadlock_detected,
 * 55P03 lock_not_available, 57P01-57P03 the server shutting down or starting, 53300
 * too_many_connections, and class 08 (connection exceptions).
 */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300']);
/** Socket errors of a connection that was dropped or could not be made. */
const TRANSIENT_SOCKET = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** The store's retry: 5 tries, waits of at most 50, 100, 200 and 400 ms (full jitter). */
export const STORE_RETRY = { maxAttempts: 5, baseMs: 50, capMs: 400 } as const;

/** True when the same statement may succeed if run again (see the file comment). */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_SOCKET.has(code))) return true;
  // pg's own error when the server closes the socket mid-query has no code.
  return err instanceof Error && /^Connection terminated/.test(err.message);
}

/** What a transient error is called in logs and metrics: its SQLSTATE or socket code, else `connection`. */
export function transientCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'connection';
}

/** Told each time the store tries a failed statement again. */
export type StoreRetryListener = (err: unknown, failures: number, delayMs: number) => void;

/**
 * Runs `fn`, again after a transient error (up to `STORE_RETRY.maxAttempts` tries in all). The
 * error that ended it is thrown as it came, not wrapped.
 */
export async function retryTransient<T>(fn: () => Promise<T>, onRetry?: StoreRetryListener): Promise<T> {
  try {
    return await retrying(fn, { ...STORE_RETRY, shouldRetry: isTransient, ...(onRetry ? { onRetry } : {}) });
  } catch (err) {
    throw err instanceof GaveUp ? err.cause : err;
  }
}

/** The store's autocommit queries: `pool.query`, each statement tried again after a transient error. */
export type Queries = Pick<pg.Pool, 'query'>;

/** `pool.query` with `retryTransient` around each statement (a statement is its own transaction). */
export function retryingQueries(pool: pg.Pool, onRetry?: StoreRetryListener): Queries {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  return { query: ((...args: unknown[]) => retryTransient(() => query(...args), onRetry)) as pg.Pool['query'] };
}
