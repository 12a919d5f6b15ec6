/**
 * The outbox's own vacuum, for a server that runs none (`autovacuum = off`, as on some test
 * and self-managed setups). Every settled action leaves a dead row version and dead entries in
 * the queue's indexes; the claim and `nextDueAt` step over those index pages until vacuum
 * clears them, so without any vacuum the queue slows as history grows. With autovacuum on,
 * this does nothing: the table's own autovacuum thresholds (migration 8) keep up.
 */
import type pg from 'pg';

/** Settled actions between two vacuums of the table. */
const EVERY = 20_000;

/** Vacuums `actions` every `EVERY` settled actions, one vacuum at a time, when the server does not. */
export class HotTableVacuum {
  readonly #pool: pg.Pool;
  readonly #enabled: boolean;
  #settled = 0;
  #running: Promise<void> | undefined;

  private constructor(pool: pg.Pool, enabled: boolean) {
    this.#pool = pool;
    this.#enabled = enabled;
  }

  /** Asks the server whether it vacuums by itself. */
  static async open(pool: pg.Pool): Promise<HotTableVacuum> {
    const { rows } = await pool.query<{ on: string }>(`SELECT current_setting('autovacuum') AS on`);
    return new HotTableVacuum(pool, rows[0]?.on !== 'on');
  }

  /** `n` actions were settled (delivered or dead-lettered). */
  settled(n: number): void {
    if (!this.#enabled) return;
    this.#settled += n;
    if (this.#settled < EVERY || this.#running) return;
    this.#settled = 0;
    // Runs beside the traffic (it takes no lock that blocks reads or writes) and skips the
    // table if another instance is vacuuming it. A failure only leaves it to the next one.
    this.#running = this.#pool.query('VACUUM (SKIP_LOCKED) actions')
      .then(() => undefined, () => undefined)
      .finally(() => { this.#running = undefined; });
  }

  /** Waits for a vacuum in progress (the pool is about to close). */
  async close(): Promise<void> {
    await this.#running;
  }
}
