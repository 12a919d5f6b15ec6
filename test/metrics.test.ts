/**
 * /metrics counts the Salesforce side from the same typed events as its logs: reconnects per
 * cause, refused replay IDs per channel, reconciliations, records fetched and REST calls, and
 * replay lag, over both transports (CometD and Pub/Sub).
 */
import { load } from '../src/config/load.ts';
import { createLogger } from '../src/core/log.ts';
import { startService, type Service } from '../src/service.ts';
import { bridgeConfig, CHANNEL, contactId, startHarness, waitFor, type Harness } from './helpers/harness.ts';

const TOKEN = 'admin-token-for-metrics-tests-91c2';
const quiet = createLogger({ level: 'silent', pretty: false });
let h: Harness;
let service: Service | undefined;

afterEach(async () => {
  await service?.stop();
  service = undefined;
  await h.close();
});

async function start(overrides: Record<string, unknown> = {}): Promise<Service> {
  const config = bridgeConfig(h.dir, {
    admin: { enabled: true, port: 0, token: { env: 'ADMIN_TOKEN' } },
    subscriber: { watchdogMs: 1500, retryInitialMs: 50, retryMaxMs: 400 },
    ...overrides,
  });
  service = await startService(load(config, { ...h.env, ADMIN_TOKEN: TOKEN }), quiet);
  return service;
}

/** The value of one series in the current exposition, or undefined when it is absent. */
async function metric(series: string): Promise<number | undefined> {
  const text = await (await fetch(`${service!.admin!.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let serial = 0;
function publish(n: number): string[] {
  return Array.from({ length: n }, () => {
    const id = contactId(serial++);
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [id], fields: { Email: `${id}@example.com` } });
    return id;
  });
}

async function allArrive(ids: string[]): Promise<void> {
  await waitFor(() => ids.every((id) => h.mc.received({ contactKey: id }).length > 0), 20_000, `${ids.length} contacts in Marketing Cloud`);
}

test('CometD: a rebuilt client counts under its cause, a gap event counts its fetch and REST call, a refused replay ID counts per channel with its reconciliation', async () => {
  h = await startHarness();
  let s = await start();
  await allArrive(publish(5));
  expect(await metric('sfmc_bridge_salesforce_rest_calls_total{kind="query"}')).toBe(0);

  h.sf.injectFault({ type: 'unknown-client' });
  await waitFor(
    async () => ((await metric('sfmc_bridge_subscriber_reconnects_total{cause="rehandshake"}')) ?? 0) >= 1,
    20_000,
    'a reconnect counted as rehandshake',
  );
  expect(await metric('sfmc_bridge_stream_faults_total{decision="rehandshake"}')).toBeGreaterThanOrEqual(1);

  h.sf.publishChange({ entityName: 'Contact', changeType: 'GAP_UPDATE', recordIds: [contactId(900)], fields: { Email: 'gap@example.com' } });
  await allArrive([contactId(900)]);
  expect(await metric('sfmc_bridge_salesforce_records_fetched_total{kind="gap"}')).toBe(1);
  expect(await metric('sfmc_bridge_salesforce_rest_calls_total{kind="query"}')).toBeGreaterThanOrEqual(1);
  expect(await metric('sfmc_bridge_replay_loss_total{channel="/data/ContactChangeEvent"}')).toBeUndefined();

  await s.stop();
  const expired = publish(4);
  h.sf.expireRetention(
    h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [expired[0]!], fields: { Email: 'changed@example.com' } }).replayId,
  );
  const retained = publish(3);
  s = await start();
  await allArrive([...expired, ...retained]);
  await s.salesforce.settled();
  expect(await metric(`sfmc_bridge_replay_loss_total{channel="${CHANNEL}"}`)).toBe(1);
  expect(await metric(`sfmc_bridge_reconciliations_total{channel="${CHANNEL}",outcome="ok"}`)).toBe(1);
  expect(await metric('sfmc_bridge_salesforce_records_fetched_total{kind="resync"}')).toBeGreaterThanOrEqual(4);
  expect(s.telemetry.salesforce.counters).toMatchObject({ dataLossPossible: 1, reconciliations: 1 });
  expect(await metric(`sfmc_bridge_replay_lag_seconds{channel="${CHANNEL}"}`)).toBeGreaterThanOrEqual(0);
}, 60_000);

test('Pub/Sub: replay lag per channel from the decoded commit time, a stream error counted as a reconnect, a refused replay ID counted per channel', async () => {
  h = await startHarness({ sf: { pubsub: true } });
  const s = await start({ salesforce: { transport: 'pubsub', pubsubUrl: h.sf.pubsub!.address } });
  await allArrive(publish(5));
  const lag = await metric(`sfmc_bridge_replay_lag_seconds{channel="${CHANNEL}"}`);
  expect(lag).toBeGreaterThanOrEqual(0);
  expect(lag).toBeLessThan(60);

  h.sf.pubsub!.injectFault({ type: 'unavailable' });
  const afterError = publish(3);
  await allArrive(afterError);
  await waitFor(
    async () => ((await metric('sfmc_bridge_subscriber_reconnects_total{cause="retry"}')) ?? 0) >= 1,
    20_000,
    'a reconnect counted as retry',
  );

  h.sf.pubsub!.injectFault({ type: 'replay-corrupted' });
  h.sf.pubsub!.injectFault({ type: 'unavailable' });
  await allArrive(publish(3));
  await waitFor(async () => (await metric(`sfmc_bridge_replay_loss_total{channel="${CHANNEL}"}`)) === 1, 20_000, 'the refused replay ID counted');
  await s.salesforce.settled();
  expect(s.telemetry.salesforce.lossWindows[0]).toMatchObject({ channel: CHANNEL, resumedFrom: -2 });
}, 60_000);
