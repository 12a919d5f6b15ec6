/**
 * The Salesforce side's typed events: stream faults and reconnections, possible data loss,
 * reconciliations, enrichment fetches and skipped changes. Each logs one line and counts, so
 * what the logs say and what the counters say never drift apart (like `src/telemetry.ts`,
 * which covers the pipeline and delivery).
 */
import type { Logger } from 'pino';
import type { NormalizedEvent } from '../model.ts';

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
}

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
    streamFaults: 0, reconnects: 0, dataLossPossible: 0, reconciliations: 0, resyncRecords: 0,
    gapRecordsFetched: 0, enrichedEvents: 0, fetchFailures: 0, skippedOwnChanges: 0,
  };
  /** Every loss window reported, for tests and the admin listener. */
  readonly lossWindows: LossWindow[] = [];
  readonly #log: Logger;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** A failed streaming reply, with the decision taken. */
  streamFault(decision: string, reason: string, channel: string): void {
    this.counters.streamFaults++;
    this.#log.debug({ event: 'stream_fault', decision, reason, channel }, 'stream fault');
  }

  /** The streaming client is being rebuilt. */
  reconnecting(why: string, delayMs: number): void {
    this.counters.reconnects++;
    this.#log.debug({ event: 'stream_reconnect', why, delayMs }, 'stream reconnect');
  }

  /** Salesforce refused a stored replay ID: events in the window may be lost. Loud on purpose. */
  dataLossPossible(window: LossWindow): void {
    this.counters.dataLossPossible++;
    this.lossWindows.push(window);
    const since = window.since === undefined ? 'unknown (no commit timestamp stored)' : new Date(window.since).toISOString();
    this.#log.error({
      event: 'data_loss_possible', channel: window.channel, refusedReplayId: window.refusedReplayId, resumedFrom: window.resumedFrom,
      windowStart: window.since === undefined ? null : new Date(window.since).toISOString(), windowEnd: new Date(window.until).toISOString(),
    }, `DATA LOSS POSSIBLE on ${window.channel}: replay ID ${window.refusedReplayId} is no longer retained; changes committed from ${since} until the oldest retained event may be missing. Resumed from ${window.resumedFrom}; reconciling.`);
  }

  /** A reconciliation (resync by LastModifiedDate) finished. */
  reconciled(channel: string, entity: string, since: number, records: number, why: string): void {
    this.counters.reconciliations++;
    this.#log.warn({ event: 'reconciled', channel, entity, since: new Date(since).toISOString(), records, why },
      `reconciled ${entity}: ${records} records modified since ${new Date(since).toISOString()} routed again (${why})`);
  }

  /** A reconciliation could not run. */
  reconcileFailed(channel: string, entity: string, reason: string): void {
    this.counters.fetchFailures++;
    this.#log.error({ event: 'reconcile_failed', channel, entity, reason }, `reconciliation of ${entity} on ${channel} failed: ${reason}`);
  }

  /** Records came back from a resync query. */
  resyncRecords(count: number): void {
    this.counters.resyncRecords += count;
  }

  /** A gap event's record was fetched. */
  gapFetched(count: number): void {
    this.counters.gapRecordsFetched += count;
  }

  /** An UPDATE got the fields its routes need from Salesforce. */
  enriched(count: number): void {
    this.counters.enrichedEvents += count;
  }

  /** A fetch failed for good (the events that needed it are dead-lettered). */
  fetchFailed(entity: string, reason: string): void {
    this.counters.fetchFailures++;
    this.#log.warn({ event: 'fetch_failed', entity, reason }, `fetching ${entity} records failed: ${reason}`);
  }

  /** A change written by one of `salesforce.ignoreChangeOrigins` was skipped (loop prevention). */
  skippedOwnChange(e: NormalizedEvent): void {
    this.counters.skippedOwnChanges++;
    this.#log.debug({ event: 'skipped_own_change', correlationId: e.correlationId, channel: e.channel, replayId: e.replayId, recordId: e.recordId, changeOrigin: e.changeOrigin },
      'change made by an ignored client; skipped');
  }
}
