/**
 * The service: wires store, transform, dispatcher and subscriber from a validated config,
 * and stops them in the order that loses nothing (stop asking, commit, finish deliveries).
 */
import type { Logger } from 'pino';
import { createCometdSubscriber } from '../subscribers/cometd.ts';
import type { Subscriber } from '../subscribers/types.ts';
import type { BridgeConfig } from './config/schema.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { createJourneyTarget } from './dispatch/journey.ts';
import { McTokenManager } from './dispatch/mc-auth.ts';
import { McRestClient } from './dispatch/mc-http.ts';
import { loadMappers } from './mappers.ts';
import { createBacklogGate, createPipelineSink } from './pipeline.ts';
import { openSalesforceSession } from './salesforce/auth.ts';
import { openSalesforceSide, type SalesforceSide } from './salesforce/side.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { Store } from './store/store.ts';
import { Telemetry } from './telemetry.ts';

/** A running bridge. */
export interface Service {
  readonly store: Store;
  readonly telemetry: Telemetry;
  readonly subscriber: Subscriber;
  readonly dispatcher: Dispatcher;
  /** Auth session, fetcher and telemetry of the Salesforce side. */
  readonly salesforce: SalesforceSide;
  /** Resolves when a fatal error stops the service. */
  readonly failed: Promise<unknown>;
  /** Stops fetching, commits what was received, lets deliveries in flight finish. */
  stop(): Promise<void>;
}

/** Starts the bridge described by `config`. */
export async function startService(config: BridgeConfig, logger: Logger): Promise<Service> {
  // Auth first: a misconfigured method stops start-up (ConfigError, exit 2) before anything opens.
  const session = await openSalesforceSession(config.salesforce);
  const store = openSqliteStore({ path: config.store.path });
  const recovered = await store.recoverInflight();
  if (recovered > 0) logger.info({ event: 'recovered_inflight', count: recovered }, 'actions in flight at the last stop will be delivered again');
  const telemetry = new Telemetry(logger);
  const mappers = await loadMappers(config);

  const mc = config.marketingCloud;
  const tokens = new McTokenManager({ authBaseUrl: mc.authBaseUrl, clientId: mc.clientId, clientSecret: mc.clientSecret, accountId: mc.accountId });
  const client = new McRestClient(tokens);
  const backlog = createBacklogGate(store, config.subscriber.maxBacklog);
  const dispatcher = new Dispatcher({
    store, telemetry, targets: { journey: createJourneyTarget(client) },
    batchSize: config.dispatcher.batchSize, concurrency: config.dispatcher.concurrency,
    maxAttempts: config.dispatcher.maxAttempts, pollIntervalMs: config.dispatcher.pollIntervalMs,
    onSettled: backlog.release,
  });

  let fail!: (err: unknown) => void;
  const failed = new Promise<unknown>((resolve) => { fail = resolve; });
  const salesforce = await openSalesforceSide({ config, logger, store, telemetry, mappers, onCommitted: () => dispatcher.wake() }, session);
  const sub = config.subscriber;
  const subscriber = createCometdSubscriber({
    cometdUrl: salesforce.cometdUrl,
    getAccessToken: (fresh, rejected) => session.auth.getAccessToken(fresh, rejected),
    channels: config.channels.map((c) => ({ name: c.name, replayFrom: c.replayFrom, replayFallback: c.replayFallback })),
    checkpoints: await store.loadCheckpoints(),
    sink: createPipelineSink({ transform: salesforce.transform, store, telemetry, onCommitted: () => dispatcher.wake() }),
    events: salesforce.events,
    watchdogMs: sub.watchdogMs, retryInitialMs: sub.retryInitialMs, retryMaxMs: sub.retryMaxMs, dailyLimitPauseMs: sub.dailyLimitPauseMs,
    gate: backlog.gate,
    logger,
    onFatal: (err) => {
      logger.fatal({ err }, 'the pipeline cannot commit events; stopping');
      fail(err);
    },
  });

  dispatcher.start();
  await subscriber.start();
  logger.info({ event: 'started', channels: config.channels.map((c) => c.name), routes: config.routes.map((r) => r.name), backlog: await store.backlog() }, 'bridge started');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await subscriber.stop();
      await salesforce.settled();
      await dispatcher.stop();
      await client.close();
      await store.close();
      logger.info({ event: 'stopped', ...telemetry.counters }, 'bridge stopped');
    })();
    return stopping;
  };
  return { store, telemetry, subscriber, dispatcher, salesforce, failed, stop };
}
