/**
 * The store's typed events: a statement the store ran again after a transient error (a
 * deadlock, a dropped connection: `store_retry`, warn) and a loop's round the store failed
 * (`store_failed`, error, at every failed round, so a store that stays broken is heard). Each
 * logs one line and counts (`sfmc_bridge_store_errors_total`), and the listeners hear the same.
 */
import type { Logger } from 'pino';
import type { TelemetryListener } from './telemetry.ts';

/** Logs and counts the store's transient errors. */
export class StoreTelemetry {
  readonly #log: Logger;
  readonly #listeners: () => readonly TelemetryListener[];

  constructor(logger: Logger, listeners: () => readonly TelemetryListener[]) {
    this.#log = logger;
    this.#listeners = listeners;
  }

  /** The store met a transient error and runs the statement again after `delayMs`. */
  retried(err: unknown, failures: number, delayMs: number): void {
    const code = storeErrorCode(err);
    this.#log.warn(
      { event: 'store_retry', code, reason: errorMessage(err), failures, delayMs },
      `the store failed (${code}: ${errorMessage(err)}); running the statement again in ${delayMs} ms`,
    );
    for (const l of this.#listeners()) l.storeError?.('store', code);
  }

  /**
   * A loop's round failed on the store; the loop goes on and tries the round again after
   * `delayMs` (undefined: it is stopping and does not).
   */
  failed(loop: string, err: unknown, failures: number, delayMs: number | undefined): void {
    const code = storeErrorCode(err);
    const then = delayMs === undefined ? 'stopping without trying again' : `trying again in ${delayMs} ms`;
    this.#log.error(
      { event: 'store_failed', loop, code, reason: errorMessage(err), failures, delayMs },
      `${loop}: the store failed (${code}: ${errorMessage(err)}), ${failures} round(s) in a row; ${then}`,
    );
    for (const l of this.#listeners()) l.storeError?.(loop, code);
  }
}

const SQLITE_CODES: Record<number, string> = { 5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED' };

/** A store error's code for logs and metrics: its SQLSTATE, socket or SQLite code, else `unknown`. */
function storeErrorCode(err: unknown): string {
  const e = err as { code?: unknown; errcode?: unknown } | null;
  // node:sqlite puts the engine's own code beside its generic ERR_SQLITE_ERROR.
  if (e?.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') return SQLITE_CODES[e.errcode] ?? `SQLITE_${e.errcode}`;
  return typeof e?.code === 'string' && e.code !== '' ? e.code : 'unknown';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
