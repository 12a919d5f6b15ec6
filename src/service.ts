/**
 * The service: wires store, planner, dispatcher and subscriber from a validated config,
 * and stops them in the order that loses nothing (stop asking, commit, finish deliveries).
 */
import type { Logger } from 'pino';
import { subscriberFactory } from '../subscribers/index.ts';
import type { Subscriber } from '../subscribers/types.ts';
import type { AdminServer } from './operations/admin/server.ts';
import type { BridgeConfig } from './config/schema.ts';
import { Dispatcher } from './delivery/dispatcher.ts';
import { createTargets } from './delivery/target-table.ts';
import { ConfigError } from './core/errors.ts';
import { loadMappers } from './route/mapper-loader.ts';
import { createBacklogGate, createPipelineSink } from './pipeline/sink.ts';
import { startRetention } from './operations/retention.ts';
import { openSalesforceSession } from './salesforce/auth.ts';
import { openSalesforceSide, type SalesforceSide } from './pipeline/salesforce-side.ts';
import { createLeadingSubscriber } from '../subscribers/leading.ts';
import { openStore } from './outbox/open.ts';
import type { Store } from './outbox/contract.ts';
import { Telemetry } from './telemetry/telemetry.ts';
import { Reachability } from './telemetry/reachability.ts';
import { FeedbackPublisher } from './delivery/feedback/publisher.ts';
import { statusEventOf, statusEventOfDeadLetter } from './delivery/feedback/status-event.ts';
import type { NewDeadLetter } from './core/model.ts';
import { withTargetStatuses } from './delivery/feedback/target-status.ts';

/** A running bridge. */
export interface Service {
  readonly store: Store;
  readonly telemetry: Telemetry;
  readonly subscriber: Subscriber;
  readonly dispatcher: Dispatcher;
  /** Publishes delivery statuses to Salesforce, when a route has feedback on. */
  readonly feedback: FeedbackPublisher | undefined;
  /** The admin HTTP listener, when `admin.enabled`. */
  readonly admin: AdminServer | undefined;
  /** Auth session, fetcher and telemetry of the Salesforce side. */
  readonly salesforce: SalesforceSide;
  /** Resolves when a fatal error stops the service. */
  readonly failed: Promise<unknown>;
  /** Stops fetching, commits what was received, lets deliveries in flight finish. */
  stop(): Promise<void>;
}

/** Starts the bridge described by `config`. */
export async function startService(config: BridgeConfig, logger: Logger): Promise<Service> {
  // Watching connections first: the OAuth token request at start is an attempt too.
  const reach = new Reachability({
    logger,
    alertAfterMs: config.connectivity.alertAfterMs,
    warnIntervalMs: config.connectivity.warnIntervalMs,
    urls: { salesforce: salesforceUrls(config), marketingCloud: [config.marketingCloud.authBaseUrl] },
  });
  // Auth first: a misconfigured method stops start-up (ConfigError, exit 2) before anything opens.
  const session = await openSalesforceSession(config.salesforce).catch((err: unknown) => {
    reach.close();
    throw err;
  });
  reach.watch('salesforce', session.auth.instanceUrl);
  const telemetry = new Telemetry(logger);
  const { store, leadership } = await openStore(config.store, {
    onRetry: (err, failures, delayMs) => telemetry.store.retried(err, failures, delayMs),
  });
  const recovered = await store.recoverInflight();
  if (recovered > 0) logger.info({ event: 'recovered_inflight', count: recovered }, 'actions in flight at the last stop will be delivered again');
  const mappers = await loadMappers(config);

  // Feedback: routes with feedback on get a status event per settlement, published apart.
  const feedbackRoutes = new Set(config.routes.filter((r) => r.feedback).map((r) => r.name));
  const probeEvents = feedbackRoutes.size === 0 ? telemetry.targets : withTargetStatuses(telemetry.targets, config.routes, store);
  const table = createTargets(config, probeEvents, { versions: store });
  const backlog = createBacklogGate(store, config.subscriber.maxBacklog);
  const fb = config.feedback;
  const publisher =
    feedbackRoutes.size === 0
      ? undefined
      : new FeedbackPublisher({
          store,
          instanceUrl: session.auth.instanceUrl,
          apiVersion: config.salesforce.apiVersion,
          getAccessToken: (fresh, rejected) => session.auth.getAccessToken(fresh, rejected),
          telemetry: telemetry.feedback,
          storeTelemetry: telemetry.store,
          batchSize: fb.batchSize,
          lingerMs: fb.lingerMs,
          limitPauseMs: fb.limitPauseMs,
          retry: fb.retry,
        });
  const dispatcher = new Dispatcher({
    store,
    telemetry,
    targets: table.targets,
    batchSizes: table.batchSizes,
    retry: table.retry,
    pausedUntil: () => table.breakers.blockedUntil(),
    batchSize: config.dispatcher.batchSize,
    concurrency: config.dispatcher.concurrency,
    maxAttempts: config.dispatcher.maxAttempts,
    pollIntervalMs: config.dispatcher.pollIntervalMs,
    notifiedPollIntervalMs: config.dispatcher.notifiedPollIntervalMs,
    onSettled: backlog.release,
    ...(publisher ? { feedbackFor: (a, outcome, at) => (feedbackRoutes.has(a.route) ? statusEventOf(a, outcome, at) : undefined) } : {}),
  });

  let fail!: (err: unknown) => void;
  const failed = new Promise<unknown>((resolve) => {
    fail = resolve;
  });
  // New actions: the gate adds them to its last count, the dispatcher looks now.
  const onCommitted = (inserted: number): void => {
    backlog.committed(inserted);
    dispatcher.wake();
  };
  const salesforce = await openSalesforceSide({ config, logger, store, telemetry, mappers, onCommitted }, session);
  const sub = config.subscriber;
  const sink = createPipelineSink({
    planner: salesforce.planner,
    store,
    telemetry,
    onCommitted,
    ...(publisher
      ? { feedbackFor: (d: NewDeadLetter, at: number) => (feedbackRoutes.has(d.route) ? statusEventOfDeadLetter(d, at) : undefined) }
      : {}),
  });
  const channels = config.channels.map((c) => ({ name: c.name, replayFrom: c.replayFrom, replayFallback: c.replayFallback }));
  const createSubscriber = await subscriberFactory(config);
  const subscribe = (subscribed: typeof channels, checkpoints: ReadonlyMap<string, string>) =>
    createSubscriber({
      instanceUrl: session.auth.instanceUrl,
      getAccessToken: (fresh, rejected) => session.auth.getAccessToken(fresh, rejected),
      channels: subscribed,
      checkpoints,
      sink,
      events: {
        ...salesforce.events,
        connectFailed: (host, err) => reach.failed('salesforce', host, err),
        connected: (host) => reach.reached('salesforce', host),
      },
      watchdogMs: sub.watchdogMs,
      retryInitialMs: sub.retryInitialMs,
      retryMaxMs: sub.retryMaxMs,
      dailyLimitPauseMs: sub.dailyLimitPauseMs,
      gate: backlog.gate,
      logger,
      onFatal: (err) => {
        logger.fatal({ err }, 'the pipeline cannot commit events; stopping');
        fail(err);
      },
    });
  // On a shared store every instance delivers, but only a channel's leader consumes it.
  const subscriber = leadership
    ? createLeadingSubscriber({ channels, store, create: subscribe, leadership: (names, handlers) => leadership(names, handlers, logger) })
    : subscribe(channels, await store.loadCheckpoints());

  const ad = config.admin;
  // The admin listener (and prom-client with it) is loaded only when enabled.
  const admin = ad.enabled
    ? await (await import('./operations/admin/server.ts'))
        .startAdminServer({
          host: ad.host,
          port: ad.port,
          token: ad.token,
          probesOnly: ad.probesOnly,
          store,
          telemetry,
          logger,
          subscribed: () => subscriber.subscribed,
          unreachable: () => reach.unreachable(),
          leads: () => subscriber.leads ?? new Map(channels.map((c) => [c.name, true])),
          mcToken: () => table.token(),
          allowPersonalData: config.log.allowPersonalData,
        })
        .catch(async (err: NodeJS.ErrnoException) => {
          await store.close();
          throw new ConfigError('admin.port', `cannot listen on ${ad.host}:${ad.port} (${err.code ?? err.message})`, { cause: err });
        })
    : undefined;
  // At start-up and every few minutes: a broken definition is reported before a send to it fails.
  table.probe.start();
  dispatcher.start();
  publisher?.start();
  const retention = startRetention({ store, retentionDays: config.store.retentionDays, logger });
  await subscriber.start();
  if (config.dispatcher.deletes.dryRun)
    logger.warn({ event: 'contact_delete_dry_run_on' }, 'dry run: contact deletions are logged and dead-lettered, not sent');
  logger.info(
    { event: 'started', channels: config.channels.map((c) => c.name), routes: config.routes.map((r) => r.name), backlog: await store.backlog() },
    'bridge started',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      admin?.markStopping();
      await subscriber.stop();
      await salesforce.settled();
      await dispatcher.stop();
      await publisher?.stop();
      await retention.stop();
      await admin?.close();
      await table.close();
      await store.close();
      reach.close();
      logger.info({ event: 'stopped', ...telemetry.counters }, 'bridge stopped');
    })();
    return stopping;
  };
  return { store, telemetry, subscriber, dispatcher, feedback: publisher, admin, salesforce, failed, stop };
}

/** The Salesforce URLs known before auth runs: the instance and the OAuth login host. */
function salesforceUrls(config: BridgeConfig): string[] {
  const auth = config.salesforce.auth as { loginUrl?: string };
  return [config.salesforce.instanceUrl, auth.loginUrl].filter((u): u is string => typeof u === 'string' && u !== '');
}
