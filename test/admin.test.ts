/**
 * The admin listener answers each route as documented: open probes, data only with the bearer
 * token, readiness that fails when a dependency does, and Prometheus metrics counted from the
 * same telemetry events as the logs.
 */
import { load } from '../src/config/load.ts';
import { startAdminServer, type AdminServer } from '../src/operations/admin/server.ts';
import { createLogger } from '../src/core/log.ts';
import { startService, type Service } from '../src/service.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import type { RecordTrace } from '../src/operations/trace.ts';
import { bridgeConfig, CHANNEL, contactId, startHarness, waitFor, type Harness } from './helpers/harness.ts';

const TOKEN = 'admin-token-for-tests-7f3a';
const quiet = createLogger({ level: 'silent', pretty: false });
let h: Harness;
let service: Service;
let base: string;

beforeAll(async () => {
  h = await startHarness();
  h.mc.injectFault({ kind: 'status', status: 429, retryAfterSec: 0, count: 1 });
  h.mc.injectFault({ kind: 'status', status: 503, count: 1 });
  for (let i = 0; i < 30; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `a${i}@example.com` } });
  const config = load(bridgeConfig(h.dir, { admin: { enabled: true, port: 0, token: { env: 'ADMIN_TOKEN' } } }), { ...h.env, ADMIN_TOKEN: TOKEN });
  service = await startService(config, quiet);
  base = service.admin!.url;
  await waitFor(() => h.mc.stats().uniqueContacts >= 30, 20_000, '30 contacts delivered');
  await service.dispatcher.settled();
}, 30_000);
afterAll(async () => {
  await service?.stop();
  await h.close();
});

function get(path: string, token?: string): Promise<Response> {
  return fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

test('the listener is on loopback and /healthz answers without a token', async () => {
  expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const res = await get('/healthz');
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
});

test('/readyz is 200 while subscribed, the store takes writes and a Marketing Cloud token is in hand', async () => {
  const res = await get('/readyz');
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    ready: true,
    stopping: false,
    checks: { subscribed: { ok: true }, storeWritable: { ok: true }, marketingCloudToken: { ok: true }, connections: { ok: true } },
  });
});

test('/metrics, /api/status and /api/trace answer 401 without the bearer token, or with a wrong one', async () => {
  for (const path of ['/metrics', '/api/status', `/api/trace/${contactId(1)}`]) {
    const none = await get(path);
    expect({ path, status: none.status }).toEqual({ path, status: 401 });
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect((await get(path, `${TOKEN}x`)).status).toBe(401);
    expect((await get(path, TOKEN)).status).toBe(200);
  }
});

test('/metrics counts events per channel, actions per route and outcome, latency, 429 and 5xx, backlog, replay lag and reconnects', async () => {
  const res = await get('/metrics', TOKEN);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const value = (series: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    if (line === undefined) throw new Error(`no series ${series} in:\n${text.slice(0, 3000)}`);
    return Number(line.slice(series.length + 1));
  };
  expect(value(`sfmc_bridge_events_received_total{channel="${CHANNEL}"}`)).toBe(30);
  expect(value('sfmc_bridge_actions_total{route="contact-welcome",outcome="routed"}')).toBe(30);
  expect(value('sfmc_bridge_actions_total{route="contact-welcome",outcome="delivered"}')).toBe(30);
  expect(value('sfmc_bridge_actions_total{route="contact-welcome",outcome="retry"}')).toBeGreaterThanOrEqual(30);
  expect(value('sfmc_bridge_delivery_latency_seconds_count{route="contact-welcome"}')).toBe(30);
  expect(value('sfmc_bridge_mc_request_errors_total{class="429"}')).toBe(1);
  expect(value('sfmc_bridge_mc_request_errors_total{class="5xx"}')).toBe(1);
  expect(value('sfmc_bridge_backlog')).toBe(0);
  expect(value('sfmc_bridge_subscribed')).toBe(1);
  expect(value(`sfmc_bridge_replay_lag_seconds{channel="${CHANNEL}"}`)).toBeGreaterThanOrEqual(0);
  expect(text).not.toMatch(/^sfmc_bridge_subscriber_reconnects_total\{/m);
  expect(value('sfmc_bridge_salesforce_rest_calls_total{kind="query"}')).toBe(0);
  expect(text).toContain('sfmc_bridge_process_resident_memory_bytes');
});

test('a streaming reconnect (the server forgot the client) is counted in sfmc_bridge_subscriber_reconnects_total under its cause', async () => {
  h.sf.injectFault({ type: 'unknown-client' });
  const reconnects = async (): Promise<number> => {
    const line = (await (await get('/metrics', TOKEN)).text())
      .split('\n')
      .find((l) => l.startsWith('sfmc_bridge_subscriber_reconnects_total{cause="rehandshake"} '));
    return Number(line?.split(' ')[1]);
  };
  await waitFor(async () => (await reconnects()) >= 1, 20_000, 'a counted reconnect');
  await waitFor(async () => (await get('/readyz')).status === 200, 20_000, 'ready again after the reconnect');
});

test('/api/status gives counters, backlog, dead letters and the latest outcomes; /api/trace/:id the timeline of one record', async () => {
  const status = (await (await get('/api/status', TOKEN)).json()) as {
    backlog: number;
    deadLetters: number;
    subscribed: boolean;
    counters: { delivered: number };
    recent: { outcome: string; recordId: string }[];
  };
  expect(status).toMatchObject({ backlog: 0, deadLetters: 0, subscribed: true, counters: { delivered: 30 } });
  expect(status.recent.length).toBeGreaterThan(0);
  expect(status.recent[0]).toMatchObject({ outcome: 'delivered' });

  const t = (await (await get(`/api/trace/${contactId(4).slice(0, 15)}`, TOKEN)).json()) as RecordTrace;
  expect(t.key).toBe(contactId(4));
  expect(t.entries[0]).toMatchObject({ status: 'delivered', route: 'contact-welcome', changeType: 'CREATE' });
  expect(t.entries[0]!.attempts.at(-1)).toMatchObject({
    outcome: 'delivered',
    ids: { eventInstanceId: h.mc.received({ contactKey: contactId(4) })[0]!.eventInstanceId },
  });
  expect((await get('/api/trace/%20', TOKEN)).status).toBe(400);
});

test('the status page shell is served without a token; unknown paths are 404 and other methods 405', async () => {
  const page = await get('/');
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toContain('text/html');
  expect(await page.text()).toContain('id="trace-id"');
  expect((await get('/nope')).status).toBe(404);
  expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
});

describe('readiness when a dependency fails', () => {
  let admin: AdminServer;
  const store = openSqliteStore({ path: ':memory:' });
  afterAll(async () => {
    await admin?.close();
    await store.close();
  });

  test('/readyz is 503 and names the failed checks: not subscribed, no Marketing Cloud token, store closed, or stopping', async () => {
    admin = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      store,
      telemetry: new Telemetry(quiet),
      logger: quiet,
      allowPersonalData: false,
      subscribed: () => false,
      mcToken: () => Promise.reject(new Error('Marketing Cloud refused the client credentials')),
    });
    let res = await fetch(`${admin.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      ready: false,
      checks: {
        subscribed: { ok: false },
        storeWritable: { ok: true },
        marketingCloudToken: { ok: false, error: 'Marketing Cloud refused the client credentials' },
      },
    });
    await store.close();
    res = await fetch(`${admin.url}/readyz`);
    expect(((await res.json()) as { checks: { storeWritable: { ok: boolean } } }).checks.storeWritable.ok).toBe(false);
    admin.markStopping();
    expect(await (await fetch(`${admin.url}/readyz`)).json()).toMatchObject({ ready: false, stopping: true });
  });
});

describe('probes only (admin.probesOnly)', () => {
  let admin: AdminServer;
  const store = openSqliteStore({ path: ':memory:' });
  afterAll(async () => {
    await admin?.close();
    await store.close();
  });

  test('a listener on every interface without a token serves /healthz, /readyz and /metrics, and nothing that shows a record', async () => {
    admin = await startAdminServer({
      host: '0.0.0.0',
      port: 0,
      probesOnly: true,
      store,
      telemetry: new Telemetry(quiet),
      logger: quiet,
      allowPersonalData: false,
      subscribed: () => true,
      mcToken: () => Promise.resolve('t'),
    });
    const at = admin.url.replace('0.0.0.0', '127.0.0.1');
    for (const path of ['/healthz', '/readyz', '/metrics']) expect({ path, status: (await fetch(at + path)).status }).toEqual({ path, status: 200 });
    for (const path of ['/', '/api/status', `/api/trace/${contactId(1)}`]) {
      const res = await fetch(at + path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await res.text()).toContain('admin.probesOnly');
    }
  });
});
