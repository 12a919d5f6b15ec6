/**
 * The typed events of the pipeline: each one logs with the record's correlation fields and
 * updates the counters, so what the logs say and what the metrics count never drift apart.
 */
import type { Logger } from 'pino';
import type { DeliveryIds, RawEvent, StoredAction } from '../core/model.ts';
import { SalesforceTelemetry, type RestCallKind } from './salesforce.ts';
import { TargetTelemetry, type TargetVerdict } from './targets.ts';
import { FeedbackTelemetry } from './feedback.ts';
import { StoreTelemetry } from './store.ts';
import type { CommitResult } from '../outbox/contract.ts';
import { sourceTimeOf } from '../normalize/idempotency.ts';

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

/** A record's correlation fields, as every per-record event carries them. */
export interface RecordRef {
  correlationId: string;
  /** The admin's own ID from the event's `Correlation_Id__c`, when given. */
  adminCorrelationId?: string | undefined;
  channel: string;
  replayId: string;
  recordId: string;
  contactKey: string;
  route: string;
}

/**
 * Receives the same typed events as the logs and counters (metrics, the status page). Every
 * method is optional; listeners are only called when registered, so the hot path stays bare.
 */
export interface TelemetryListener {
  /** `events` messages of `channel` were committed; `committedAt` is Salesforce's commit time of the last one, when known. */
  received?(channel: string, events: number, committedAt: number | undefined): void;
  /** An action was stored for a record. */
  routed?(a: RecordRef & { changeType?: string | undefined }): void;
  /** Marketing Cloud accepted an action `latencyMs` after the event was received. */
  delivered?(a: RecordRef, ids: DeliveryIds, latencyMs: number): void;
  /** A delivery failed and will be retried. */
  retrying?(a: RecordRef, code: string): void;
  /** An action or event went to the dead-letter queue (`stage`: before delivery or after failed deliveries). */
  deadLettered?(a: RecordRef, code: string, reason: string, stage: 'plan' | 'delivery'): void;
  /** One Marketing Cloud request failed as a whole, with this error code. */
  requestFailed?(code: string): void;
  /** The streaming connection is being re-established, for `cause` (a bounded label). */
  reconnecting?(cause: string): void;
  /** A failed streaming reply, with the decision taken on it. */
  streamFault?(decision: string): void;
  /** Salesforce refused a channel's stored replay ID: events may be lost (data_loss_possible). */
  replayLoss?(channel: string): void;
  /** A reconciliation of a channel after a loss or a gap finished, or could not run. */
  reconciled?(channel: string, outcome: 'ok' | 'failed'): void;
  /** Records fetched from Salesforce: fields for UPDATEs (`enrich`), gap events (`gap`), resyncs (`resync`). */
  recordsFetched?(kind: 'enrich' | 'gap' | 'resync', count: number): void;
  /** A fetch from Salesforce failed for good. */
  fetchFailed?(entity: string): void;
  /** One REST call went to Salesforce. */
  restCall?(kind: RestCallKind): void;
  /** The target probe found a definition (`kind`) unusable (`state`), usable again (`recovered`), or a scope missing (`scope`, `missing`). */
  targetProblem?(kind: string, state: string, verdict?: TargetVerdict): void;
  /** Contacts at a deletion stage: `dry_run`, `capped`, `accepted`, `completed`, `failed`. */
  contactDeletion?(stage: string, contacts: number): void;
  /** Feedback: `call` (a publish call), `published`, `refused`, `call_failed`, `paused`, `resumed`, with a count. */
  feedback?(what: string, n: number): void;
  /**
   * The store failed with `code` (a SQLSTATE, a socket or SQLite code): `where` is `store` when
   * the store tried the statement again itself, else the loop whose round failed (`dispatcher`).
   */
  storeError?(where: string, code: string): void;
}

/** The pipeline's telemetry: log lines and counters from one call each. */
export class Telemetry {
  readonly counters: Counters = {
    eventsReceived: 0,
    actionsStored: 0,
    duplicatesRefused: 0,
    deadLettered: 0,
    delivered: 0,
    retried: 0,
    batchesCommitted: 0,
    requests: 0,
  };
  /** The Salesforce side's events (faults, reconnects, replay loss, fetches): same listeners. */
  readonly salesforce: SalesforceTelemetry;
  /** The target probe's events: same listeners. */
  readonly targets: TargetTelemetry;
  /** The feedback publisher's events: same listeners. */
  readonly feedback: FeedbackTelemetry;
  /** The store's transient errors (retried inside it, or failing a loop's round): same listeners. */
  readonly store: StoreTelemetry;
  readonly #log: Logger;
  readonly #perRecord: boolean;
  #listeners: TelemetryListener[] = [];

  constructor(logger: Logger) {
    this.#log = logger;
    this.salesforce = new SalesforceTelemetry(logger, () => this.#listeners);
    this.targets = new TargetTelemetry(logger, () => this.#listeners);
    this.feedback = new FeedbackTelemetry(logger, () => this.#listeners);
    this.store = new StoreTelemetry(logger, () => this.#listeners);
    // Per-record lines cost real time at tens of thousands of events per second; they are
    // written at debug level and skipped entirely when that level is off.
    this.#perRecord = logger.isLevelEnabled('debug');
  }

  /** Registers a listener for every following event; returns a function that removes it. */
  listen(listener: TelemetryListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** A received batch was committed to the store with its checkpoints. */
  batchCommitted(batch: readonly RawEvent[], result: CommitResult, checkpoints: ReadonlyMap<string, string>): void {
    const events = batch.length;
    const c = this.counters;
    if (this.#listeners.length > 0) this.#emitReceived(batch);
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
  actionRouted(a: RecordRef & { changeType?: string | undefined }): void {
    if (this.#perRecord) this.#log.debug({ event: 'action_routed', ...pick(a), changeType: a.changeType }, 'routed');
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.routed?.(a);
  }

  /** An event or action went to the dead-letter queue before delivery (bad input, failed mapping). */
  rejected(d: RecordRef & { code: string; reason: string }): void {
    this.#log.warn({ event: 'dead_lettered', ...pick(d), stage: 'plan', code: d.code, reason: d.reason }, `dead-lettered: ${d.reason}`);
    for (const l of this.#listeners) l.deadLettered?.(d, d.code, d.reason, 'plan');
  }

  /**
   * Marketing Cloud accepted an action. Logged at debug, except an action that carries an
   * admin's correlation ID: those come from Flow one at a time, and the admin guide promises
   * the ID can be found in the logs at the default level.
   */
  delivered(a: StoredAction, ids: DeliveryIds): void {
    this.counters.delivered++;
    if (a.adminCorrelationId !== undefined) this.#log.info({ event: 'delivered', ...pick(a), attempt: a.attempts + 1, ...ids }, 'delivered');
    else if (this.#perRecord) this.#log.debug({ event: 'delivered', ...pick(a), attempt: a.attempts + 1, ...ids }, 'delivered');
    if (this.#listeners.length > 0) {
      const latencyMs = Date.now() - a.receivedAt;
      const listeners = this.#listeners;
      for (let i = 0; i < listeners.length; i++) listeners[i]!.delivered?.(a, ids, latencyMs);
    }
  }

  /** A delivery failed and will be tried again. */
  retrying(a: StoredAction, code: string, reason: string, delayMs: number): void {
    this.counters.retried++;
    this.#log.info({ event: 'delivery_retry', ...pick(a), attempt: a.attempts + 1, code, reason, delayMs }, 'delivery failed; will retry');
    for (const l of this.#listeners) l.retrying?.(a, code);
  }

  /** A delivery failed for good. */
  deliveryDead(a: StoredAction, code: string, reason: string): void {
    this.counters.deadLettered++;
    this.#log.warn({ event: 'dead_lettered', ...pick(a), stage: 'delivery', attempt: a.attempts + 1, code, reason }, `dead-lettered: ${reason}`);
    for (const l of this.#listeners) l.deadLettered?.(a, code, reason, 'delivery');
  }

  /** One HTTP request to Marketing Cloud was made for a batch. */
  request(): void {
    this.counters.requests++;
  }

  /** One Marketing Cloud request failed as a whole (the error shared by its items). */
  requestFailed(code: string): void {
    for (const l of this.#listeners) l.requestFailed?.(code);
  }

  #emitReceived(batch: readonly RawEvent[]): void {
    const perChannel = new Map<string, { events: number; last: RawEvent }>();
    for (const e of batch) {
      const seen = perChannel.get(e.channel);
      if (seen) {
        seen.events++;
        seen.last = e;
      } else perChannel.set(e.channel, { events: 1, last: e });
    }
    for (const [channel, { events, last }] of perChannel) {
      const committedAt = sourceTimeOf(last.data);
      for (const l of this.#listeners) l.received?.(channel, events, committedAt);
    }
  }
}

/**
 * The PRODUCT.md correlation fields every line about a record carries, and the admin's own
 * correlation ID beside the bridge's when the event gave one (undefined is left out of the line).
 */
function pick(a: RecordRef) {
  return {
    correlationId: a.correlationId,
    adminCorrelationId: a.adminCorrelationId,
    channel: a.channel,
    replayId: a.replayId,
    recordId: a.recordId,
    contactKey: a.contactKey,
    route: a.route,
  };
}
