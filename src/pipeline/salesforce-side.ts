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
import type { IntakeStore } from '../outbox/contract.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { Planner } from './planner.ts';
import { createDerivedCommit } from './sink.ts';
import { openSalesforceSession, type SalesforceSession } from '../salesforce/auth.ts';
import type { SalesforceTelemetry } from '../telemetry/salesforce.ts';

/** Salesforce retains events for 72 hours: without a stored commit time, reconcile that far back. */
const RETENTION_MS = 72 * 3_600_000;

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
export async function openSalesforceSide(deps: {
  config: BridgeConfig; logger: Logger; store: IntakeStore; telemetry: Telemetry; mappers: MapperRegistry; onCommitted(): void;
}, session?: SalesforceSession): Promise<SalesforceSide> {
  const { config, logger, store } = deps;
  const sf = config.salesforce;
  const opened = session ?? await openSalesforceSession(sf);
  const sfTelemetry = deps.telemetry.salesforce;
  const fetcher = new RecordFetcher(observeRest(restOf(() => opened.connection), (kind) => sfTelemetry.restCall(kind)), sf.enrichment);
  const marks = (await store.loadCommitMarks?.()) ?? new Map<string, number>();
  const planner = createEnrichingPlanner({ config, mappers: deps.mappers, fetcher, telemetry: sfTelemetry, logger, marks });
  let running: Promise<void> = Promise.resolve();

  const commit = createDerivedCommit({ store, telemetry: deps.telemetry, onCommitted: deps.onCommitted });

  const events: SubscriberEvents = {
    fault: (decision, reason, channel) => sfTelemetry.streamFault(decision, reason, channel),
    reconnecting: (why, delayMs) => sfTelemetry.reconnecting(why, delayMs),
    replayLoss: (loss) => {
      const until = Date.now();
      running = running.then(async () => {
        const stored = (await store.loadCommitMarks?.())?.get(loss.channel);
        sfTelemetry.dataLossPossible({ ...loss, since: stored, until });
        const since = stored ?? until - RETENTION_MS;
        const entities = entitiesOf(loss.channel, config.routes);
        if (entities.length === 0) {
          sfTelemetry.reconcileFailed(loss.channel, '(unknown)', 'the channel carries several objects and no route names them in `entities`; reconcile by hand');
        }
        for (const entity of entities) {
          try {
            const n = await resync({ fetcher, router: planner.router, config }, { channel: loss.channel, replayId: loss.refusedReplayId, entity, since }, commit);
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
