/**
 * The typed events of the pipeline: each one logs with the record's correlation fields and
 * updates the counters, so what the logs say and what the metrics count never drift apart.
 */
import type { Logger } from 'pino';
import type { DeliveryIds, StoredAction } from './model.ts';
import type { CommitResult } from './store/store.ts';

/** Running totals since start. */
export interface Counters {
  eventsReceived: number;
  actionsStored: number;
  duplicatesRefused: number;
  deadLettered: number;
  delivered: number;
  retried: number;
  batchesCommitted: number;
  requests: number;
}

/** The pipeline's telemetry: log lines and counters from one call each. */
export class Telemetry {
  readonly counters: Counters = {
    eventsReceived: 0, actionsStored: 0, duplicatesRefused: 0, deadLettered: 0,
    delivered: 0, retried: 0, batchesCommitted: 0, requests: 0,
  };
  readonly #log: Logger;
  readonly #perRecord: boolean;

  constructor(logger: Logger) {
    this.#log = logger;
    // Per-record lines cost real time at tens of thousands of events per second; they are
    // written at debug level and skipped entirely when that level is off.
    this.#perRecord = logger.isLevelEnabled('debug');
  }

  /** A received batch was committed to the store with its checkpoints. */
  batchCommitted(events: number, result: CommitResult, checkpoints: ReadonlyMap<string, string>): void {
    const c = this.counters;
    c.eventsReceived += events;
    c.actionsStored += result.inserted;
    c.duplicatesRefused += result.duplicates;
    c.deadLettered += result.deadLettered;
    c.batchesCommitted++;
    if (this.#perRecord) {
      this.#log.debug({ event: 'batch_committed', events, ...result, checkpoints: Object.fromEntries(checkpoints) }, 'batch committed');
    }
  }

  /** An action was stored for a record (logged only at debug). */
  actionRouted(a: { correlationId: string; channel: string; replayId: string; recordId: string; contactKey: string; route: string }): void {
    if (this.#perRecord) this.#log.debug({ event: 'action_routed', ...pick(a) , route: a.route }, 'routed');
  }

  /** An event or action went to the dead-letter queue before delivery (bad input, failed mapping). */
  rejected(d: { correlationId: string; channel: string; replayId: string; recordId: string; contactKey: string; route: string; code: string; reason: string }): void {
    this.#log.warn({ event: 'dead_lettered', ...pick(d), route: d.route, code: d.code, reason: d.reason }, `dead-lettered: ${d.reason}`);
  }

  /** Marketing Cloud accepted an action. */
  delivered(a: StoredAction, ids: DeliveryIds): void {
    this.counters.delivered++;
    if (this.#perRecord) this.#log.debug({ event: 'delivered', ...pick(a), route: a.route, ...ids }, 'delivered');
  }

  /** A delivery failed and will be tried again. */
  retrying(a: StoredAction, code: string, reason: string, delayMs: number): void {
    this.counters.retried++;
    this.#log.info({ event: 'delivery_retry', ...pick(a), route: a.route, attempt: a.attempts + 1, code, reason, delayMs }, 'delivery failed; will retry');
  }

  /** A delivery failed for good. */
  deliveryDead(a: StoredAction, code: string, reason: string): void {
    this.counters.deadLettered++;
    this.#log.warn({ event: 'dead_lettered', ...pick(a), route: a.route, attempt: a.attempts + 1, code, reason }, `dead-lettered: ${reason}`);
  }

  /** One HTTP request to Marketing Cloud was made for a batch. */
  request(): void {
    this.counters.requests++;
  }
}

function pick(a: { correlationId: string; channel: string; replayId: string; recordId: string; contactKey: string }) {
  return { correlationId: a.correlationId, channel: a.channel, replayId: a.replayId, recordId: a.recordId, contactKey: a.contactKey };
}
