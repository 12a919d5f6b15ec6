/**
 * The dispatcher: claims due actions from the outbox in order, groups them per target and
 * batch key, delivers the groups with bounded concurrency and records every outcome. It owns
 * no retry logic of its own: targets classify, the `RetryPolicy` (retry.ts) spaces the next try
 * or ends it. While a host's circuit is open it claims nothing, so a storm is met with silence.
 *
 * An attempt is a request Marketing Cloud saw. Chunks a round could not send because the
 * circuit opened meanwhile (a 429 paused the host, or an open circuit refused the call before
 * it left) are not attempts: they are held, still claimed, and sent first once the pause ends,
 * instead of being written back as retries and read again (the churn of a rate-limited burst).
 *
 * A round the store fails (a claim, a settlement, after the store's own retries) does not end
 * the loop: it is logged at error (`store_failed`), counted, and the round is tried again after
 * the one backoff, growing while the store stays broken. Outcomes Marketing Cloud already gave
 * are kept and written first when the store answers again (their claims are still renewed), so
 * nothing is sent twice for a store error; chunks not sent yet are held, still claimed.
 */
import { backoffDelay, STORE_ROUND_BACKOFF } from '../core/backoff.ts';
import { BridgeError, ConfigError, TransientError, Code } from '../core/errors.ts';
import type { ActionTarget, DeliveryIds, StoredAction } from '../core/model.ts';
import type { AttemptRecord, DeliveryStore, StatusEventFields } from '../outbox/contract.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { AttemptRecorder } from './attempt-recorder.ts';
import { RetryPolicy } from './retry.ts';
import type { DeliveryOutcome, Target } from './target.ts';

/** Dispatcher options. */
export interface DispatcherOptions {
  store: DeliveryStore;
  /** One target per action kind; an action whose target is missing is dead-lettered. */
  targets: Readonly<Partial<Record<ActionTarget, Target>>>;
  telemetry: Telemetry;
  /** Actions per Marketing Cloud request (≤ 100 for journeys). @default 100 */
  batchSize?: number;
  /** Requests in flight at once. @default 4 */
  concurrency?: number;
  /** Attempts before an action is dead-lettered. @default 12 */
  maxAttempts?: number;
  /** Longest sleep when nothing is due. @default 250 */
  pollIntervalMs?: number;
  /**
   * Longest sleep when nothing is due, with a store that says when there is work (`onWork`:
   * Postgres LISTEN/NOTIFY): only a fallback for a lost wake-up. @default 2000
   */
  notifiedPollIntervalMs?: number;
  /** Called after each round has settled actions (the backpressure gate listens). */
  onSettled?(): void | Promise<void>;
  /** Actions per chunk for a target, overriding `batchSize` (transactional batches hold 500). */
  batchSizes?: Partial<Record<ActionTarget, number>>;
  /** Retry policy. @default new RetryPolicy(maxAttempts) */
  retry?: RetryPolicy;
  /** Until when Marketing Cloud asked for silence (an open circuit, a 429), ms since epoch; nothing is claimed meanwhile. */
  pausedUntil?(): number;
  /**
   * The status event (feedback) of an action that settled, or undefined when its route has
   * feedback off; it is recorded with the settlement, in the same transaction.
   */
  feedbackFor?(
    a: StoredAction,
    outcome: { status: 'delivered'; ids: DeliveryIds } | { status: 'dead'; code: string; reason: string },
    at: number,
  ): StatusEventFields | undefined;
}

/** Delivers the outbox to Marketing Cloud until stopped. */
export class Dispatcher {
  readonly #o: Required<Omit<DispatcherOptions, 'onSettled' | 'retry' | 'pausedUntil' | 'batchSizes' | 'feedbackFor' | 'notifiedPollIntervalMs'>> &
    Pick<DispatcherOptions, 'onSettled' | 'pausedUntil' | 'batchSizes' | 'feedbackFor'>;
  readonly #retry: RetryPolicy;
  readonly #recorder: AttemptRecorder;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** A wake-up came while no sleep waited for it (mid-round): the next sleep ends at once. */
  #poked = false;
  /** Stops the store's wake-ups. */
  #unlisten: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #current: Promise<boolean> | undefined;
  /** Claimed actions not sent yet (the circuit opened before their turn), in id order. */
  #held: StoredAction[] = [];
  /** Until when held actions wait when the circuit refused them (a breaker the options do not expose). */
  #heldUntil = 0;
  /** Outcomes Marketing Cloud gave that the store failed to record: written first at the next round. */
  #unrecorded: AttemptRecord[] = [];
  /** Rounds failed by the store in a row. */
  #storeFailures = 0;
  /** Ends the wait after a failed round (stop only: a wake-up must not hurry a broken store). */
  #endRest: (() => void) | undefined;

  constructor(options: DispatcherOptions) {
    const notified = options.store.onWork !== undefined;
    this.#o = { batchSize: 100, concurrency: 4, maxAttempts: 12, pollIntervalMs: 250, ...options };
    // Told when another instance commits or frees work, it polls only to recover a lost wake-up.
    if (notified) this.#o.pollIntervalMs = Math.max(this.#o.pollIntervalMs, options.notifiedPollIntervalMs ?? 2000);
    this.#retry = options.retry ?? new RetryPolicy(this.#o.maxAttempts);
    this.#recorder = new AttemptRecorder(options.store);
  }

  /** Starts the delivery loop. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unlisten = this.#o.store.onWork?.(() => this.wake());
    this.#loop = this.#run();
  }

  /** New actions were committed: look now rather than at the next poll. */
  wake(): void {
    const w = this.#wake;
    this.#wake = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    if (w) w();
    else this.#poked = true;
  }

  /** Finishes the round in flight and stops. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#unlisten?.();
    this.wake();
    this.#endRest?.();
    await this.#loop;
    // Outcomes still unwritten: one last try, else their claims are handed back with the store
    // and the actions are sent again, as after a crash.
    if (this.#unrecorded.length > 0) {
      await this.#o.store.recordAttempts(this.#unrecorded, Date.now()).then(
        () => {
          this.#unrecorded = [];
        },
        (err: unknown) => this.#o.telemetry.store.failed('dispatcher', err, this.#storeFailures + 1, undefined),
      );
    }
  }

  /** Resolves once no round is in flight and nothing is due now (tests, status). */
  async settled(): Promise<void> {
    for (;;) {
      await this.#current;
      const due = await this.#o.store.nextDueAt();
      if (this.#current === undefined && this.#held.length === 0 && this.#unrecorded.length === 0 && (due === undefined || due > Date.now())) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        // What was committed before this round starts is seen by its claim.
        this.#poked = false;
        this.#current = this.#round();
        const worked = await this.#current.finally(() => {
          this.#current = undefined;
        });
        this.#storeFailures = 0;
        if (!worked && this.#running) await this.#sleep();
      } catch (err) {
        // Only the store throws here (targets' failures are outcomes): the round is tried again.
        this.#storeFailures++;
        const delayMs = backoffDelay(this.#storeFailures, STORE_ROUND_BACKOFF);
        this.#o.telemetry.store.failed('dispatcher', err, this.#storeFailures, delayMs);
        if (this.#running) await this.#rest(delayMs);
      }
    }
  }

  /** Waits `ms` after a failed round; only `stop` ends it sooner. */
  async #rest(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#endRest = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#endRest = undefined;
  }

  async #sleep(): Promise<void> {
    // While Marketing Cloud asked for silence, sleep through it rather than poll the store.
    const paused = this.#pausedFor();
    const nextDue = paused > 0 ? Date.now() + paused : this.#held.length > 0 ? 0 : await this.#o.store.nextDueAt();
    const delay =
      nextDue === undefined ? this.#o.pollIntervalMs : Math.max(0, Math.min(paused > 0 ? paused : this.#o.pollIntervalMs, nextDue - Date.now()));
    // Woken during the round (its claim may have missed that commit) or while reading nextDueAt.
    if (this.#poked && paused === 0) return;
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, delay);
    });
  }

  /** Milliseconds Marketing Cloud still asked us to wait; 0 when it did not. */
  #pausedFor(): number {
    return Math.max(0, Math.max(this.#heldUntil, this.#o.pausedUntil?.() ?? 0) - Date.now());
  }

  /** One claim-deliver-record cycle; false when nothing was due. */
  async #round(): Promise<boolean> {
    const { store, batchSize, concurrency } = this.#o;
    if (this.#pausedFor() > 0) return false;
    const sizes = this.#o.batchSizes ?? {};
    const largest = Math.max(batchSize, ...Object.values(sizes).map((n) => n ?? 0));
    const limit = largest * concurrency * 2;
    // What the last round could not write goes first: nothing more is sent before it is stored.
    if (this.#unrecorded.length > 0) {
      await store.recordAttempts(this.#unrecorded, Date.now());
      this.#unrecorded = [];
      await this.#o.onSettled?.();
    }
    const held = this.#held;
    const fresh = held.length < limit ? await store.claimDue(limit - held.length, Date.now()) : [];
    this.#held = [];
    const claimed = held.length === 0 ? fresh : fresh.length === 0 ? held : [...held, ...fresh].sort((a, b) => a.id - b.id);
    if (claimed.length === 0) return false;
    const byId = new Map(claimed.map((a) => [a.id, a]));
    const chunks = chunkByBatchKey(claimed, batchSize, sizes);
    const unsent: StoredAction[] = [];
    let recorded = 0;
    let next = 0;
    let storeError: { err: unknown } | undefined;
    const worker = async (): Promise<void> => {
      // Once stopping, no new request starts: what is claimed but unsent stays pending in the
      // store (claims are released with the process or their lease), only requests in flight finish.
      // Once the store failed, no new request starts either: the rest is held for the next round.
      while (next < chunks.length && this.#running && !storeError) {
        const chunk = chunks[next++]!;
        // A 429 or an opening circuit mid-round: keep the rest for after the pause.
        if (this.#pausedFor() > 0) {
          for (const a of chunk) unsent.push(a);
          continue;
        }
        const outcomes = await this.#deliver(chunk);
        const records: AttemptRecord[] = [];
        for (const o of outcomes) {
          const a = byId.get(o.id)!;
          if (o.status === 'retry' && o.error.code === Code.MC_CIRCUIT_OPEN) {
            // the breaker refused it: nothing reached Marketing Cloud
            unsent.push(a);
            this.#heldUntil = Math.max(this.#heldUntil, Date.now() + (o.retryAfterMs ?? this.#o.pollIntervalMs));
          } else records.push(this.#toRecord(a, o));
        }
        // Recorded as soon as answered, not at the end of the round: a crash then sends again
        // at most the chunks in flight (concurrency x batch size), not all the round claimed.
        // Answers of the same turn share the transaction (attempt-recorder.ts).
        if (records.length > 0) {
          try {
            await this.#recorder.record(records);
            recorded += records.length;
          } catch (err) {
            // Marketing Cloud answered: the outcomes are kept, never sent again for a store error.
            for (const r of records) this.#unrecorded.push(r);
            storeError ??= { err };
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
    if (storeError) for (const chunk of chunks.slice(next)) for (const a of chunk) unsent.push(a);
    if (unsent.length > 0) this.#held = unsent.sort((a, b) => a.id - b.id);
    if (storeError) throw storeError.err;
    if (recorded > 0) await this.#o.onSettled?.();
    return recorded > 0;
  }

  async #deliver(chunk: StoredAction[]): Promise<DeliveryOutcome[]> {
    const first = chunk[0]!;
    this.#o.telemetry.request();
    const target = this.#o.targets[first.target];
    if (!target) {
      const error = new ConfigError('routes[].target.type', `no target is configured for ${JSON.stringify(first.target)}`);
      return chunk.map((a) => ({ id: a.id, status: 'dead' as const, error }));
    }
    try {
      const outcomes = await target.deliver(
        chunk.map((a) =>
          a.confirm === undefined
            ? { id: a.id, idempotencyKey: a.idempotencyKey, payload: a.payload, mode: a.mode }
            : { id: a.id, idempotencyKey: a.idempotencyKey, payload: a.payload, mode: a.mode, confirm: a.confirm },
        ),
      );
      // A target that forgot an item must not lose it: unanswered items are retried.
      const answered = new Set(outcomes.map((o) => o.id));
      for (const a of chunk) {
        if (!answered.has(a.id))
          outcomes.push({ id: a.id, status: 'retry', error: new TransientError(Code.NO_OUTCOME, 'the target returned no outcome for this action') });
      }
      this.#countFailedRequests(outcomes);
      return outcomes;
    } catch (err) {
      // A target is meant to turn failures into outcomes; a throw is a bug or an outage.
      const error = err instanceof BridgeError ? err : new TransientError(Code.TARGET_FAILED, String((err as Error)?.message ?? err), { cause: err });
      this.#o.telemetry.requestFailed(error.code);
      return chunk.map((a) => ({ id: a.id, status: 'retry' as const, error }));
    }
  }

  /** A failed request hands the same error to each of its items: one distinct error is one failed request. */
  #countFailedRequests(outcomes: readonly DeliveryOutcome[]): void {
    let seen: Set<BridgeError> | undefined;
    for (const o of outcomes) {
      if (o.status === 'delivered' || o.status === 'accepted' || seen?.has(o.error)) continue;
      (seen ??= new Set()).add(o.error);
      this.#o.telemetry.requestFailed(o.error.code);
    }
  }

  #toRecord(a: StoredAction, o: DeliveryOutcome): AttemptRecord {
    const t = this.#o.telemetry;
    // Not an attempt that ended: Marketing Cloud holds it; its outcome is read later.
    if (o.status === 'accepted')
      return { id: a.id, status: 'accepted', requestId: o.requestId, row: o.row, nextAttemptAt: Date.now() + o.checkAfterMs };
    if (o.status === 'delivered') {
      t.delivered(a, o.ids);
      const feedback = this.#o.feedbackFor?.(a, o, Date.now());
      return feedback ? { id: a.id, status: 'delivered', ids: o.ids, feedback } : { id: a.id, status: 'delivered', ids: o.ids };
    }
    const code = o.error.code;
    const reason = o.error.message;
    const decision =
      o.status === 'dead' ? { verdict: 'dead' as const, reason: 'permanent' as const } : this.#retry.decide(o.error, a.attempts + 1, o.retryAfterMs);
    if (decision.verdict === 'dead') {
      const why = decision.reason === 'permanent' ? reason : `gave up after ${a.attempts + 1} attempts: ${reason}`;
      t.deliveryDead(a, code, why);
      const feedback = this.#o.feedbackFor?.(a, { status: 'dead', code, reason: why }, Date.now());
      return feedback ? { id: a.id, status: 'dead', code, reason: why, feedback } : { id: a.id, status: 'dead', code, reason: why };
    }
    const delay = decision.delayMs;
    t.retrying(a, code, reason, delay);
    return { id: a.id, status: 'retry', code, reason, nextAttemptAt: Date.now() + delay };
  }
}

/** Groups actions by target, mode and batch key, in outbox order, into chunks of `size` (or the target's own size). */
export function chunkByBatchKey(actions: readonly StoredAction[], size: number, sizes: Partial<Record<ActionTarget, number>> = {}): StoredAction[][] {
  const groups = new Map<string, StoredAction[]>();
  let prev: StoredAction | undefined;
  let g: StoredAction[] = [];
  for (const a of actions) {
    // Actions waiting on the same asynchronous request are confirmed together. Neighbours
    // mostly share a group: one like the one before it joins that group without a key.
    const same =
      prev !== undefined &&
      a.target === prev.target &&
      a.mode === prev.mode &&
      a.batchKey === prev.batchKey &&
      a.confirm?.requestId === prev.confirm?.requestId;
    if (!same) {
      const key = `${a.target}\u0000${a.mode}\u0000${a.batchKey}\u0000${a.confirm?.requestId ?? ''}`;
      const known = groups.get(key);
      if (known) g = known;
      else groups.set(key, (g = []));
    }
    g.push(a);
    prev = a;
  }
  const chunks: StoredAction[][] = [];
  for (const g of groups.values()) {
    const n = Math.max(1, sizes[g[0]!.target] ?? size);
    for (let i = 0; i < g.length; i += n) chunks.push(g.slice(i, i + n));
  }
  return chunks;
}
