/**
 * The Salesforce side's typed events: stream faults and reconnections, possible data loss,
 * reconciliations, enrichment fetches and skipped changes. Each logs one line and counts, so
 * what the logs say and what the counters say never drift apart (like `src/telemetry/telemetry.ts`,
 * which covers the pipeline and delivery).
 */
import type { Logger } from 'pino';
import type { NormalizedEvent } from '../core/model.ts';
import type { TelemetryListener } from './telemetry.ts';

/** Running totals since start. */
export interface SalesforceCounters {
  streamFaults: number;
  reconnects: number;
  dataLossPossible: number;
  reconciliations: number;
  resyncRecords: number;
  gapRecordsFetched: number;
  enrichedEvents: number;
  fetchFailures: number;
  skippedOwnChanges: number;
  restCalls: number;
}

/** The REST calls the record fetcher makes (see enrich/fetcher.ts). */
export type RestCallKind = 'query' | 'queryMore' | 'describe';

/** A window of time whose events may not have reached the bridge. */
export interface LossWindow {
  channel: string;
  /** The refused replay ID (the stored checkpoint). */
  refusedReplayId: string;
  /** Where the subscription resumed (-2 all retained, -1 new only). */
  resumedFrom: number;
  /** Last commitTimestamp committed on the channel (ms), when known: the window starts here. */
  since: number | undefined;
  /** When the refusal was seen (ms): the window ends at the oldest event still retained, at the latest here. */
  until: number;
}

/** Logs and counts what happens on the Salesforce side. */
export class SalesforceTelemetry {
  readonly counters: SalesforceCounters = {
    streamFaults: 0,
    reconnects: 0,
    dataLossPossible: 0,
    reconciliations: 0,
    resyncRecords: 0,
    gapRecordsFetched: 0,
    enrichedEvents: 0,
    fetchFailures: 0,
    skippedOwnChanges: 0,
    restCalls: 0,
  };
  /** Every loss window reported, for tests and the admin listener. */
  readonly lossWindows: LossWindow[] = [];
  readonly #log: Logger;
  readonly #listeners: () => readonly TelemetryListener[];

  /** `listeners` are read at each event: the pipeline's Telemetry passes its current list. */
  constructor(logger: Logger, listeners: () => readonly TelemetryListener[] = () => []) {
    this.#log = logger;
    this.#listeners = listeners;
  }

  /** A failed streaming reply, with the decision taken. */
  streamFault(decision: string, reason: string, channel: string): void {
    this.counters.streamFaults++;
    this.#log.debug({ event: 'stream_fault', decision, reason, channel }, 'stream fault');
    for (const l of this.#listeners()) l.streamFault?.(decision);
  }

  /** The streaming connection (CometD client or a Pub/Sub stream) is being re-established, for `why`. */
  reconnecting(why: string, delayMs: number): void {
    this.counters.reconnects++;
    const cause = causeLabel(why);
    this.#log.debug({ event: 'stream_reconnect', why, cause, delayMs }, 'stream reconnect');
    for (const l of this.#listeners()) l.reconnecting?.(cause);
  }

  /** Salesforce refused a stored replay ID: events in the window may be lost. Loud on purpose. */
  dataLossPossible(window: LossWindow): void {
    this.counters.dataLossPossible++;
    this.lossWindows.push(window);
    for (const l of this.#listeners()) l.replayLoss?.(window.channel);
    const since = window.since === undefined ? 'unknown (no commit timestamp stored)' : new Date(window.since).toISOString();
    this.#log.error(
      {
        event: 'data_loss_possible',
        channel: window.channel,
        refusedReplayId: window.refusedReplayId,
        resumedFrom: window.resumedFrom,
        windowStart: window.since === undefined ? null : new Date(window.since).toISOString(),
        windowEnd: new Date(window.until).toISOString(),
      },
      `DATA LOSS POSSIBLE on ${window.channel}: replay ID ${window.refusedReplayId} is no longer retained; changes committed from ${since} until the oldest retained event may be missing. Resumed from ${window.resumedFrom}; reconciling.`,
    );
  }

  /** A reconciliation (resync by LastModifiedDate) finished. */
  reconciled(channel: string, entity: string, since: number, records: number, why: string): void {
    this.counters.reconciliations++;
    this.counters.resyncRecords += records;
    for (const l of this.#listeners()) {
      l.reconciled?.(channel, 'ok');
      l.recordsFetched?.('resync', records);
    }
    this.#log.warn(
      { event: 'reconciled', channel, entity, since: new Date(since).toISOString(), records, why },
      `reconciled ${entity}: ${records} records modified since ${new Date(since).toISOString()} routed again (${why})`,
    );
  }

  /** A reconciliation could not run. */
  reconcileFailed(channel: string, entity: string, reason: string): void {
    this.counters.fetchFailures++;
    for (const l of this.#listeners()) l.reconciled?.(channel, 'failed');
    this.#log.error({ event: 'reconcile_failed', channel, entity, reason }, `reconciliation of ${entity} on ${channel} failed: ${reason}`);
  }

  /** A gap event's record was fetched. */
  gapFetched(count: number): void {
    this.counters.gapRecordsFetched += count;
    const listeners = this.#listeners();
    for (let i = 0; i < listeners.length; i++) listeners[i]!.recordsFetched?.('gap', count);
  }

  /** An UPDATE got the fields its routes need from Salesforce. */
  enriched(count: number): void {
    this.counters.enrichedEvents += count;
    const listeners = this.#listeners();
    for (let i = 0; i < listeners.length; i++) listeners[i]!.recordsFetched?.('enrich', count);
  }

  /** A fetch failed for good (the events that needed it are dead-lettered). */
  fetchFailed(entity: string, reason: string): void {
    this.counters.fetchFailures++;
    for (const l of this.#listeners()) l.fetchFailed?.(entity);
    this.#log.warn({ event: 'fetch_failed', entity, reason }, `fetching ${entity} records failed: ${reason}`);
  }

  /** One REST call went to Salesforce (counted, never logged: there can be many). */
  restCall(kind: RestCallKind): void {
    this.counters.restCalls++;
    for (const l of this.#listeners()) l.restCall?.(kind);
  }

  /** A change written by one of `salesforce.ignoreChangeOrigins` was skipped (loop prevention). */
  skippedOwnChange(e: NormalizedEvent): void {
    this.counters.skippedOwnChanges++;
    this.#log.debug(
      {
        event: 'skipped_own_change',
        correlationId: e.correlationId,
        channel: e.channel,
        replayId: e.replayId,
        recordId: e.recordId,
        changeOrigin: e.changeOrigin,
      },
      'change made by an ignored client; skipped',
    );
  }
}

/**
 * A bounded metric label from a reconnection reason: the transports pass a fixed set of
 * phrases ("server busy (503)" → `server_busy_503`, Pub/Sub's `reauthenticate` as is).
 */
export function causeLabel(why: string): string {
  return (
    why
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'unknown'
  );
}
