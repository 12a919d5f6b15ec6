/**
 * Prometheus metrics, fed by the typed telemetry events of the pipeline and of the Salesforce
 * side (one listener, so the metrics count exactly what the logs say) plus a few gauges read from the store at scrape
 * time. One registry per service, so several bridges in one process (tests) never share one.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AdminStore } from '../../outbox/contract.ts';
import type { Telemetry, TelemetryListener } from '../../telemetry/telemetry.ts';
import { requestClassOf } from '../../core/errors.ts';

/** What the metrics read at scrape time besides telemetry events. */
export interface MetricsSources {
  telemetry: Telemetry;
  store: AdminStore;
  /** True while every channel is subscribed. */
  subscribed(): boolean;
  /** Per channel, whether this instance leads it. */
  leads(): ReadonlyMap<string, boolean>;
}

/** A service's metrics. */
export interface BridgeMetrics {
  registry: Registry;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  /** Stops listening to telemetry. */
  close(): void;
}

/** Seconds from receipt to Marketing Cloud's answer; the promise is "well under a second". */
const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

/** Creates the registry and starts counting telemetry events. */
export function createMetrics(src: MetricsSources): BridgeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sfmc_bridge_' });

  /** A counter of this registry: `sfmc_bridge_<name>`, by `labelNames`. */
  const counter = (name: string, help: string, labelNames: string[]): Counter =>
    new Counter({ name: `sfmc_bridge_${name}`, help, labelNames, registers: [registry] });
  const events = counter('events_received_total', 'Events received and committed, per channel.', ['channel']);
  const actions = counter(
    'actions_total',
    'Actions per route and outcome: routed (stored), delivered, retry (an attempt failed, will retry), dead_lettered.',
    ['route', 'outcome'],
  );
  const latency = new Histogram({
    name: 'sfmc_bridge_delivery_latency_seconds',
    help: 'From receipt of the event to Marketing Cloud accepting the action, per route.',
    labelNames: ['route'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const requestErrors = counter(
    'mc_request_errors_total',
    'Marketing Cloud requests that failed as a whole, by class: 429 (rate limited), 5xx, network, auth, 4xx, other.',
    ['class'],
  );
  const replayLag = new Gauge({
    name: 'sfmc_bridge_replay_lag_seconds',
    help: 'Per channel: how long before its commit the last committed event happened in Salesforce (commit time to checkpoint).',
    labelNames: ['channel'],
    registers: [registry],
  });
  const reconnects = counter(
    'subscriber_reconnects_total',
    'Streaming connections re-established (CometD client rebuilt, Pub/Sub stream reopened), per cause.',
    ['cause'],
  );
  const faults = counter(
    'stream_faults_total',
    'Failed streaming replies, per decision taken (reauth, rehandshake, backoff, jitter, pause, replay-invalid, report).',
    ['decision'],
  );
  const replayLoss = counter(
    'replay_loss_total',
    'Stored replay IDs Salesforce refused, per channel: events in the window may be lost (log event data_loss_possible); the channel is reconciled.',
    ['channel'],
  );
  const reconciliations = counter('reconciliations_total', 'Reconciliations (resync by LastModifiedDate) per channel and outcome (ok, failed).', [
    'channel',
    'outcome',
  ]);
  const fetched = counter(
    'salesforce_records_fetched_total',
    'Records read from Salesforce: enrich (fields an UPDATE lacks), gap (gap events), resync (reconciliation).',
    ['kind'],
  );
  const fetchFailures = counter('salesforce_fetch_failures_total', 'Fetches from Salesforce that failed for good, per object.', ['entity']);
  const restCalls = counter(
    'salesforce_rest_calls_total',
    'REST calls to Salesforce (enrichment, gap fetches, reconciliation), per kind: query, queryMore, describe.',
    ['kind'],
  );
  for (const k of ['query', 'queryMore', 'describe']) restCalls.labels(k).inc(0);
  const deletions = counter(
    'contact_deletions_total',
    'Contacts per deletion stage: accepted (Marketing Cloud took the operation), completed or failed (the operation ended), capped (held back by the hourly cap), dry_run.',
    ['stage'],
  );
  const targetProblems = counter(
    'target_problems_total',
    'What the target probe found: per kind (eventDefinition, sendDefinition, dataExtension, scope) and state (missing, inactive, misnamed, recovered).',
    ['kind', 'state'],
  );
  const feedbackEvents = counter(
    'feedback_total',
    'Delivery status feedback to Salesforce: call (sObject collections calls made), published and refused (status events), call_failed, paused (publishing allocation or setup), resumed.',
    ['what'],
  );
  for (const w of ['call', 'published', 'refused', 'call_failed', 'paused']) feedbackEvents.labels(w).inc(0);
  const storeErrors = counter(
    'store_errors_total',
    'Transient store errors (deadlock, serialization failure, dropped connection, busy database) by where they were met and code: store (the statement was run again inside the store), dispatcher or feedback (a round failed and is tried again after a backoff; each is also an error log line store_failed).',
    ['where', 'code'],
  );
  new Gauge({
    name: 'sfmc_bridge_feedback_backlog',
    help: 'Delivery status events waiting to be published to Salesforce.',
    registers: [registry],
    async collect() {
      this.set(await src.store.statusBacklog());
    },
  });
  for (const k of ['enrich', 'gap', 'resync']) fetched.labels(k).inc(0);

  new Gauge({
    name: 'sfmc_bridge_backlog',
    help: 'Actions neither delivered nor dead-lettered.',
    registers: [registry],
    async collect() {
      this.set(await src.store.backlog());
    },
  });
  new Gauge({
    name: 'sfmc_bridge_subscribed',
    help: '1 while every configured channel is subscribed.',
    registers: [registry],
    collect() {
      this.set(src.subscribed() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sfmc_bridge_channel_leader',
    help: 'Per channel: 1 while this instance leads (consumes) it, 0 while it follows (a fleet on Postgres).',
    labelNames: ['channel'],
    registers: [registry],
    collect() {
      for (const [channel, leads] of src.leads()) this.labels(channel).set(leads ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sfmc_bridge_mc_requests',
    help: 'Marketing Cloud delivery requests made since start.',
    registers: [registry],
    collect() {
      this.set(src.telemetry.counters.requests);
    },
  });
  for (const c of ['429', '5xx', 'network', 'auth', '4xx']) requestErrors.labels(c).inc(0);

  // Children are looked up once per label set: this runs once per delivered action.
  const actionChildren = new Map<string, Counter.Internal>();
  const action = (route: string, outcome: string): Counter.Internal => {
    const key = `${route}\u0000${outcome}`;
    let child = actionChildren.get(key);
    if (!child) actionChildren.set(key, (child = actions.labels(route, outcome)));
    return child;
  };
  const latencyChildren = new Map<string, Histogram.Internal<string>>();

  const listener: TelemetryListener = {
    received(channel, n, committedAt) {
      events.labels(channel).inc(n);
      if (committedAt !== undefined) replayLag.labels(channel).set(Math.max(0, (Date.now() - committedAt) / 1000));
    },
    routed(a) {
      action(a.route, 'routed').inc();
    },
    delivered(a, _ids, latencyMs) {
      action(a.route, 'delivered').inc();
      let h = latencyChildren.get(a.route);
      if (!h) latencyChildren.set(a.route, (h = latency.labels(a.route)));
      h.observe(latencyMs / 1000);
    },
    retrying(a) {
      action(a.route, 'retry').inc();
    },
    deadLettered(a) {
      action(a.route, 'dead_lettered').inc();
    },
    requestFailed(code) {
      // Answers about one member of an accepted request are counted as actions, not as failed requests.
      const c = requestClassOf(code);
      if (c !== 'member') requestErrors.labels(c).inc();
    },
    reconnecting(cause) {
      reconnects.labels(cause).inc();
    },
    storeError(where, code) {
      storeErrors.labels(where, code).inc();
    },
    streamFault(decision) {
      faults.labels(decision).inc();
    },
    replayLoss(channel) {
      replayLoss.labels(channel).inc();
    },
    reconciled(channel, outcome) {
      reconciliations.labels(channel, outcome).inc();
    },
    recordsFetched(kind, n) {
      fetched.labels(kind).inc(n);
    },
    fetchFailed(entity) {
      fetchFailures.labels(entity).inc();
    },
    restCall(kind) {
      restCalls.labels(kind).inc();
    },
    targetProblem(kind, state) {
      targetProblems.labels(kind, state).inc();
    },
    contactDeletion(stage, n) {
      deletions.labels(stage).inc(n);
    },
    feedback(what, n) {
      feedbackEvents.labels(what).inc(n);
    },
  };
  const unlisten = src.telemetry.listen(listener);
  return { registry, render: () => registry.metrics(), close: unlisten };
}
