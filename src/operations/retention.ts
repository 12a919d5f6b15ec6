/**
 * Retention: delivered actions older than `store.retentionDays` are deleted, whole rows with
 * their attempt rows, in small transactions so the dispatcher never waits long for the store.
 *
 * Why whole rows and not a compact summary: the payload is the bulk of a row and holds
 * personal data (entry data), and a summary row per delivered action would still grow the
 * store without bound. Within the window `trace` shows everything; past it a delivered record
 * has no history. Pending and dead-lettered actions are never pruned (dead letters wait for
 * `dlq retry|discard`), so trace always explains what did not arrive. The window is at least 3
 * days, longer than Salesforce's 72-hour replay retention, so a replayed event still finds its
 * idempotency key and is refused.
 */
import type { Logger } from 'pino';
import type { RetentionStore } from '../outbox/contract.ts';

const DAY_MS = 86_400_000;

/** Retention runner options. */
export interface RetentionOptions {
  store: RetentionStore;
  retentionDays: number;
  logger: Logger;
  /** How often to prune. @default 3600000 (hourly) */
  intervalMs?: number;
  /** Rows deleted per transaction. @default 2000 */
  batch?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** A running retention job. */
export interface Retention {
  /** Prunes everything past the window now; resolves to the number of actions deleted. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts pruning on a timer (first run shortly after start). */
export function startRetention(o: RetentionOptions): Retention {
  const now = o.now ?? Date.now;
  const batch = o.batch ?? 2000;
  const intervalMs = o.intervalMs ?? 3_600_000;
  let running: Promise<number> | undefined;
  let stopped = false;

  const prune = async (): Promise<number> => {
    const cutoff = now() - o.retentionDays * DAY_MS;
    let total = 0;
    for (;;) {
      if (stopped) break;
      const n = await o.store.pruneDelivered(cutoff, batch);
      total += n;
      if (n < batch) break;
      // Let deliveries and commits in between: each batch is its own short transaction.
      await new Promise((r) => setImmediate(r));
    }
    if (total > 0)
      o.logger.info(
        { event: 'retention_pruned', deleted: total, deliveredBefore: new Date(cutoff).toISOString() },
        'delivered actions past the retention window deleted',
      );
    return total;
  };

  const runOnce = (): Promise<number> => {
    running ??= prune().finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = (): void => {
    runOnce().catch((err) => o.logger.warn({ err, event: 'retention_failed' }, 'pruning delivered actions failed; will try again'));
  };
  const first = setTimeout(tick, Math.min(intervalMs, 60_000));
  const timer = setInterval(tick, intervalMs);
  first.unref();
  timer.unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
