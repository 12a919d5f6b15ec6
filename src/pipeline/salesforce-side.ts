/**
 * The Salesforce side of the service, wired in one place: the auth session (token source and
 * jsforce connection), the record fetcher, the enriching planner, and what the subscriber
 * reports (faults, reconnections, refused replay IDs → loss window + reconciliation).
 */
import type { Logger } from 'pino';
import type { SubscriberEvents } from '../../subscribers/types.ts';
import type { BridgeConfig } from '../config/schema.ts';
import { observeRest, RecordFetcher, restOf } from '../enrich/fetcher.ts';
import { entitiesOf, resync } from './resync.ts';
import { createEnrichingPlanner } from './enriching-planner.ts';
import type { MapperRegistry } from '../route/mapper-loader.ts';
import type { HistoryStore, IntakeStore } from '../outbox/contract.ts';
import { commitTimestampOf, keyTimeOf } from '../normalize/idempotency.ts';
import type { RawEvent } from '../core/model.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { Planner } from './planner.ts';
import { createDerivedCommit } from './sink.ts';
import { openSalesforceSession, type SalesforceSession } from '../salesforce/auth.ts';
import type { SalesforceTelemetry } from '../telemetry/salesforce.ts';

/** Salesforce retains events for 72 hours: without a stored commit time, reconcile that far back. */
const RETENTION_MS = 72 * 3_600_000;
/**
 * After a refused replay ID the channel resumes from its oldest retained event: the first event
 * that arrives tells where the loss window ends. A channel with nothing retained sends nothing,
 * so after this long the window ends where the refusal was seen.
 */
export const RETAINED_WAIT_MS = 5000;

/** The wired Salesforce side. */
export interface SalesforceSide {
  session: SalesforceSession;
  telemetry: SalesforceTelemetry;
  fetcher: RecordFetcher;
  planner: Planner;
  cometdUrl: string;
  events: SubscriberEvents;
  /** Reconciliations under way (tests and shutdown wait for them). */
  settled(): Promise<void>;
}

/** Opens the session (a misconfigured auth method throws ConfigError here) and builds the rest. */
export async function openSalesforceSide(
  deps: {
    config: BridgeConfig;
    logger: Logger;
    store: IntakeStore & Pick<HistoryStore, 'actionsFor'>;
    telemetry: Telemetry;
    mappers: MapperRegistry;
    onCommitted(inserted: number): void;
  },
  session?: SalesforceSession,
): Promise<SalesforceSide> {
  const { config, logger, store } = deps;
  const sf = config.salesforce;
  const opened = session ?? (await openSalesforceSession(sf));
  const sfTelemetry = deps.telemetry.salesforce;
  const fetcher = new RecordFetcher(
    observeRest(
      restOf(() => opened.connection),
      (kind) => sfTelemetry.restCall(kind),
    ),
    sf.enrichment,
  );
  const marks = (await store.loadCommitMarks?.()) ?? new Map<string, number>();
  const enriching = createEnrichingPlanner({ config, mappers: deps.mappers, fetcher, telemetry: sfTelemetry, logger, marks });
  let running: Promise<void> = Promise.resolve();
  // Channels whose replay ID was refused, waiting for their first event (the oldest retained).
  const retained = new Map<string, (commitTimestamp: number | undefined) => void>();
  const oldestRetained = (channel: string): Promise<number | undefined> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        retained.delete(channel);
        resolve(undefined);
      }, RETAINED_WAIT_MS);
      retained.set(channel, (ts) => {
        clearTimeout(timer);
        retained.delete(channel);
        resolve(ts);
      });
    });
  const observe = (batch: readonly RawEvent[]): void => {
    for (const e of batch) {
      const ts = retained.size > 0 ? commitTimestampOf(e.data) : undefined;
      if (ts !== undefined) retained.get(e.channel)?.(ts);
    }
  };
  const planner: typeof enriching = Object.assign(
    (batch: readonly RawEvent[], stage?: Parameters<typeof enriching>[1]) => {
      if (retained.size > 0) observe(batch);
      return enriching(batch, stage);
    },
    { router: enriching.router },
  );
  const committedThrough = async (channel: string, ts: number): Promise<void> => {
    const deadline = Date.now() + RETAINED_WAIT_MS;
    while (Date.now() < deadline && ((await store.loadCommitMarks?.())?.get(channel) ?? ts) < ts) await new Promise((r) => setTimeout(r, 20));
  };
  // A reconciled record whose current state an event already brought is not entered again.
  const alreadyHas = async (recordId: string, route: string, at: number): Promise<boolean> =>
    (await store.actionsFor(recordId)).some((r) => r.route === route && keyTimeOf(r.idempotencyKey) >= at);

  const commit = createDerivedCommit({ store, telemetry: deps.telemetry, onCommitted: deps.onCommitted });

  const events: SubscriberEvents = {
    fault: (decision, reason, channel) => sfTelemetry.streamFault(decision, reason, channel),
    reconnecting: (why, delayMs) => sfTelemetry.reconnecting(why, delayMs),
    replayLoss: (loss) => {
      const seenAt = Date.now();
      // Registered now, before the resumed subscription can deliver anything. From -1 (new
      // events only) nothing retained is replayed: the window ends at the refusal.
      const firstRetained = loss.resumedFrom === -2 ? oldestRetained(loss.channel) : Promise.resolve(undefined);
      running = running.then(async () => {
        const stored = (await store.loadCommitMarks?.())?.get(loss.channel);
        // Records changed from the oldest retained event on arrive as events: the window ends there.
        const first = await firstRetained;
        const until = Math.min(seenAt, first ?? seenAt);
        // The first retained batch committed first, so the changes it brought are known as sent.
        if (first !== undefined) await committedThrough(loss.channel, first);
        sfTelemetry.dataLossPossible({ ...loss, since: stored, until });
        const since = stored ?? until - RETENTION_MS;
        const entities = entitiesOf(loss.channel, config.routes);
        if (entities.length === 0) {
          sfTelemetry.reconcileFailed(
            loss.channel,
            '(unknown)',
            'the channel carries several objects and no route names them in `entities`; reconcile by hand',
          );
        }
        for (const entity of entities) {
          try {
            const n = await resync(
              { fetcher, router: planner.router, config, alreadyHas },
              { channel: loss.channel, replayId: loss.refusedReplayId, entity, since, until },
              commit,
            );
            sfTelemetry.reconciled(loss.channel, entity, since, n, `replay ID ${loss.refusedReplayId} refused`);
          } catch (err) {
            sfTelemetry.reconcileFailed(loss.channel, entity, (err as Error)?.message ?? String(err));
          }
        }
      });
    },
  };

  return {
    session: opened,
    telemetry: sfTelemetry,
    fetcher,
    planner,
    cometdUrl: `${opened.auth.instanceUrl.replace(/\/$/, '')}/cometd/${sf.apiVersion}`,
    events,
    settled: () => running,
  };
}
