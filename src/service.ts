/**
 * The service: wires store, transform, dispatcher and subscriber from a validated config,
 * and stops them in the order that loses nothing (stop asking, commit, finish deliveries).
 */
import type { Logger } from 'pino';
import { createSubscriber } from '../subscribers/index.ts';
import type { Subscriber } from '../subscribers/types.ts';
import type { BridgeConfig } from './config/schema.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { createJourneyTarget } from './dispatch/journey.ts';
import { McTokenManager } from './dispatch/mc-auth.ts';
import { McRestClient } from './dispatch/mc-http.ts';
import { loadMappers } from './mappers.ts';
import { createBacklogGate, createPipelineSink } from './pipeline.ts';
import { accessTokenAuth } from './salesforce/auth.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { Store } from './store/store.ts';
import { Telemetry } from './telemetry.ts';
import { createTransform } from './transform.ts';

/** A running bridge. */
export interface Service {
  readonly store: Store;
  readonly telemetry: Telemetry;
  readonly subscriber: Subscriber;
  readonly dispatcher: Dispatcher;
  /** Resolves when a fatal error stops the service. */
  readonly failed: Promise<unknown>;
  /** Stops fetching, commits what was received, lets deliveries in flight finish. */
  stop(): Promise<void>;
}

/** Starts the bridge described by `config`. */
export async function startService(config: BridgeConfig, logger: Logger): Promise<Service> {
  const store = openSqliteStore({ path: config.store.path });
  const recovered = await store.recoverInflight();
  if (recovered > 0) logger.info({ event: 'recovered_inflight', count: recovered }, 'actions in flight at the last stop will be delivered again');
  const telemetry = new Telemetry(logger);
  const mappers = await loadMappers(config);
  const transform = createTransform(config, mappers);

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
  const sf = config.salesforce;
  const auth = accessTokenAuth(sf.instanceUrl, () => sf.auth.accessToken);
  const subscriber = createSubscriber(config, {
    getAccessToken: (fresh) => auth.getAccessToken(fresh),
    checkpoints: await store.loadCheckpoints(),
    sink: createPipelineSink({ transform, store, telemetry, onCommitted: () => dispatcher.wake() }),
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
      await dispatcher.stop();
      await client.close();
      await store.close();
      logger.info({ event: 'stopped', ...telemetry.counters }, 'bridge stopped');
    })();
    return stopping;
  };
  return { store, telemetry, subscriber, dispatcher, failed, stop };
}
