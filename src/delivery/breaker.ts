/**
 * A circuit breaker per Marketing Cloud host, so an outage or a rate-limit storm is met with
 * silence instead of thousands of doomed requests. Closed: calls go through and consecutive
 * host failures (5xx, timeouts, resets: `countsAgainstHost`) are counted. After `threshold` in a
 * row it opens for `openMs` (doubling per consecutive opening, up to `maxOpenMs`); calls fail at
 * once with `MC_CIRCUIT_OPEN`, which is transient and carries the remaining wait. Then one call
 * is let through as a probe (half-open) while the others wait for its result: success closes
 * the circuit, failure opens it again. A 429 pauses the host for the wait the server named.
 *
 * Hand-written rather than cockatiel's CircuitBreakerPolicy because three behaviours the
 * dispatcher relies on have no place there: a 429 opens the circuit for exactly the server's
 * Retry-After (not a failure count), callers arriving during the half-open probe wait for its
 * result instead of failing, and `blockedUntil` tells the dispatcher how long to stop claiming.
 */
import { TransientError, Code } from '../core/errors.ts';
import { countsAgainstHost } from './retry.ts';

/** Breaker tuning. */
export interface BreakerOptions {
  /** Consecutive host failures that open the circuit. @default 5 */
  threshold?: number;
  /** First open period. @default 1000 */
  openMs?: number;
  /** Longest open period. @default 60000 */
  maxOpenMs?: number;
  /** How long a 429 50200 ("temporarily blocked", no Retry-After) pauses the host. @default 60000 */
  blockedPauseMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Where a breaker stands. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** The breaker of one host. */
export class CircuitBreaker {
  readonly host: string;
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #maxOpenMs: number;
  readonly #blockedPauseMs: number | undefined;
  readonly #now: () => number;
  #failures = 0;
  #openings = 0;
  #openUntil = 0;
  #probe: Promise<void> | undefined;
  #endProbe: (() => void) | undefined;
  /** Times the circuit opened (metrics, tests). */
  opened = 0;

  constructor(host: string, opts: BreakerOptions = {}) {
    this.host = host;
    this.#threshold = Math.max(1, opts.threshold ?? 5);
    this.#openMs = Math.max(1, opts.openMs ?? 1000);
    this.#maxOpenMs = Math.max(this.#openMs, opts.maxOpenMs ?? 60_000);
    this.#blockedPauseMs = opts.blockedPauseMs;
    this.#now = opts.now ?? Date.now;
  }

  /** Current state. */
  get state(): BreakerState {
    if (this.#probe) return 'half-open';
    return this.#openUntil > this.#now() ? 'open' : this.#openUntil > 0 ? 'half-open' : 'closed';
  }

  /** Until when calls are refused (ms since epoch); 0 when they are not. */
  get blockedUntil(): number {
    return this.#openUntil > this.#now() ? this.#openUntil : 0;
  }

  /**
   * Waits for permission to call. Resolves with `true` when this call is the half-open probe.
   * @throws TransientError `MC_CIRCUIT_OPEN` while the circuit is open.
   */
  async acquire(): Promise<boolean> {
    for (;;) {
      const now = this.#now();
      if (this.#openUntil > now) {
        throw new TransientError(
          Code.MC_CIRCUIT_OPEN,
          `circuit to ${this.host} is open for ${this.#openUntil - now} ms more after repeated failures or a rate limit`,
          { retryAfterMs: this.#openUntil - now },
        );
      }
      if (this.#openUntil === 0) return false;
      if (this.#probe) {
        await this.#probe;
        continue;
      }
      this.#probe = new Promise<void>((resolve) => {
        this.#endProbe = resolve;
      });
      return true;
    }
  }

  /** Reports a call's outcome: `undefined` for success (any answer from a working host), else the error. */
  report(err: unknown, probe: boolean): void {
    const verdict = err === undefined ? { failure: false } : countsAgainstHost(err, this.#blockedPauseMs);
    if (verdict.pauseMs !== undefined && verdict.pauseMs > 0) {
      this.#openUntil = Math.max(this.#openUntil, this.#now() + verdict.pauseMs);
    } else if (verdict.failure) {
      this.#failures++;
      if (probe || this.#failures >= this.#threshold) this.#open();
    } else {
      this.#failures = 0;
      if (probe || (this.#openUntil > 0 && this.#openUntil <= this.#now())) {
        this.#openUntil = 0;
        this.#openings = 0;
      }
    }
    if (probe) {
      const end = this.#endProbe;
      this.#probe = undefined;
      this.#endProbe = undefined;
      end?.();
    }
  }

  #open(): void {
    const period = Math.min(this.#maxOpenMs, this.#openMs * 2 ** Math.min(this.#openings, 20));
    this.#openings++;
    this.#failures = 0;
    this.#openUntil = this.#now() + period;
    this.opened++;
  }
}

/** One breaker per host, shared by every client and target of a process. */
export class BreakerRegistry {
  readonly #opts: BreakerOptions;
  readonly #byHost = new Map<string, CircuitBreaker>();

  constructor(opts: BreakerOptions = {}) {
    this.#opts = opts;
  }

  /** The breaker of `host` (created on first use). */
  for(host: string): CircuitBreaker {
    let b = this.#byHost.get(host);
    if (!b) this.#byHost.set(host, (b = new CircuitBreaker(host, this.#opts)));
    return b;
  }

  /** Latest time until which any host refuses calls; 0 when none does (the dispatcher waits meanwhile). */
  blockedUntil(): number {
    let until = 0;
    for (const b of this.#byHost.values()) until = Math.max(until, b.blockedUntil);
    return until;
  }

  /** Every breaker, for status output. */
  all(): CircuitBreaker[] {
    return [...this.#byHost.values()];
  }
}
