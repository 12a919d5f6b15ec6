/**
 * Writes the dispatcher's delivery outcomes to the outbox, one transaction for all the requests
 * answered in the same turn of the event loop.
 *
 * Each request's outcomes are recorded as soon as it is answered, and its worker sends nothing
 * more until they are committed: that is what bounds what a crash can send again to the
 * requests in flight (concurrency × batch size). Answers that arrive together (several sockets
 * readable in one poll) share a transaction instead of each paying its own commit, whose WAL
 * pages (the rows' pages, the delivered index's tail) are most of a small record's cost.
 */
import type { AttemptRecord, DeliveryStore } from '../outbox/contract.ts';

/** Groups the records handed to it in one turn of the event loop into one `recordAttempts`. */
export class AttemptRecorder {
  readonly #store: Pick<DeliveryStore, 'recordAttempts'>;
  #pending: AttemptRecord[] = [];
  #flush: Promise<void> | undefined;

  constructor(store: Pick<DeliveryStore, 'recordAttempts'>) {
    this.#store = store;
  }

  /** Resolves once `records` are committed, with whatever else was answered in this turn; rejects if that commit fails. */
  record(records: readonly AttemptRecord[]): Promise<void> {
    for (const r of records) this.#pending.push(r);
    // setImmediate runs after the poll phase: the answers read in it are all in by then.
    this.#flush ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.#pending;
        this.#pending = [];
        this.#flush = undefined;
        this.#store.recordAttempts(batch, Date.now()).then(resolve, reject);
      });
    });
    return this.#flush;
  }
}
