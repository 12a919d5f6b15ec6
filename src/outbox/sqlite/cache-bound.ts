/**
 * How many new actions the embedded store keeps in memory for the dispatcher: about five
 * seconds of what the dispatcher claims, at least CACHE_FLOOR and at most the store's limit. A
 * dispatcher claiming 4,000 a second or more (the default bench: 5,000-15,000 depending on the
 * machine's load) keeps the whole limit and never reads new actions back from the table, which
 * cost ~10% of that bench's throughput. A slow one (Marketing Cloud granting 1,000 contacts a
 * second during a burst) keeps a few thousand, and the rest of the backlog waits in the table
 * instead of the heap: a cached action is ~700 B of live heap (the action, its payload, its own
 * strings), so the default 20,000 held ~14 MB, for actions the dispatcher would reach only
 * 20 s later, and V8 sizes the heap at 1.5 times what is live (`--heap-growing-percent=50`).
 *
 * The rate is measured over windows of at least a second during which new actions waited at
 * every claim: a dispatcher with nothing to claim is not slow, and then the whole limit applies
 * (a burst fills it at once; it shrinks a second later if the dispatcher proves slow).
 */

/** Milliseconds of claims the cache holds. */
const HORIZON_MS = 5_000;
/** Fewest new actions held, whatever the rate (a few claims' worth). */
export const CACHE_FLOOR = 2_000;
/** Shortest window a rate is measured over. */
const WINDOW_MS = 1_000;

/** The cache's current bound, from the dispatcher's claim rate. */
export class CacheBound {
  readonly #limit: number;
  #target: number;
  #claimed = 0;
  /** Start of the current window; undefined while nothing waits. */
  #since: number | undefined;

  constructor(limit: number) {
    this.#limit = limit;
    this.#target = limit;
  }

  /** New actions the cache may hold now. */
  get target(): number {
    return this.#target;
  }

  /**
   * Called after each claim with the new actions it took and whether new actions are left
   * unclaimed; returns the bound.
   */
  afterClaim(now: number, claimed: number, waiting: boolean): number {
    if (!waiting) {
      this.#since = undefined;
      this.#target = this.#limit;
      return this.#target;
    }
    if (this.#since === undefined) {
      // The window starts now: what this claim took was waiting before it began.
      this.#since = now;
      this.#claimed = 0;
      return this.#target;
    }
    this.#claimed += claimed;
    const elapsed = now - this.#since;
    if (elapsed >= WINDOW_MS) {
      const held = Math.ceil((this.#claimed * HORIZON_MS) / elapsed);
      this.#target = Math.min(this.#limit, Math.max(CACHE_FLOOR, held));
      this.#since = now;
      this.#claimed = 0;
    }
    return this.#target;
  }
}
