/**
 * Every fault of docs/protocols.md's CometD table, driven in the emulator while the bridge runs:
 * the bridge recovers as the table says and nothing is lost (every contact published reaches
 * Marketing Cloud, none twice). For a refused replay ID: the loss window is reported and the
 * object reconciled.
 */
import { PassThrough } from 'node:stream';
import { createLogger } from '../src/core/log.ts';
import type { Service } from '../src/service.ts';
import type { FaultSpec } from '../src/emulators/streaming/index.ts';
import { bridgeConfig, contactId, useHarness, waitFor } from './helpers/harness.ts';

let lines: Record<string, unknown>[];
const h = useHarness(
  {},
  {
    setup: () => {
      lines = [];
    },
  },
);

/** A bridge on the refresh-token method (so a revoked token can be replaced) with short timers. */
async function start(overrides: Record<string, unknown> = {}): Promise<Service> {
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const config = bridgeConfig(h.dir, {
    salesforce: { auth: { method: 'refresh_token', clientId: 'emulator-consumer-key', refreshToken: { env: 'SF_REFRESH_TOKEN' } } },
    subscriber: { watchdogMs: 1500, retryInitialMs: 50, retryMaxMs: 400, dailyLimitPauseMs: 600 },
    ...overrides,
  });
  const logger = createLogger({ level: 'info', pretty: false, destination: out });
  return h.startService(config, { env: { SF_REFRESH_TOKEN: 'emulator-refresh-token' }, logger });
}

let serial = 0;
function publish(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = contactId(serial++);
    ids.push(id);
    h.sf.publishChange({
      entityName: 'Contact',
      changeType: 'CREATE',
      recordIds: [id],
      fields: { Email: `${id}@example.com`, Name: { LastName: `L${id}` } },
    });
  }
  return ids;
}

async function allArrive(ids: string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(() => ids.every((id) => h.mc.received({ contactKey: id }).length > 0), timeoutMs, `${ids.length} contacts in Marketing Cloud`);
}

/**
 * Publishes, injects `fault`, publishes again; asserts every injected fault hit a request of
 * the bridge (a fault that never fired proves nothing), that the bridge connected again after
 * it, and that all arrived exactly once.
 */
async function survives(fault: FaultSpec | FaultSpec[]): Promise<Service> {
  const s = await start();
  const before = publish(15);
  await allArrive(before);
  const faults = [fault].flat();
  const connectsBefore = h.sf.stats().connects;
  for (const f of faults) h.sf.injectFault(f);
  const after = publish(15);
  await allArrive([...before, ...after]);
  await s.dispatcher.settled();
  const hits: Record<string, number> = {};
  for (const f of faults)
    if (f.type !== 'unknown-client' && f.type !== 'hang-clients')
      hits[f.type] = (hits[f.type] ?? 0) + ('count' in f && f.count !== undefined ? f.count : 1);
  expect(h.sf.stats()).toMatchObject({ faultsFired: hits, faultsPending: 0 });
  expect(h.sf.stats().connects).toBeGreaterThan(connectsBefore);
  expect(h.mc.stats()).toMatchObject({ entries: 30, uniqueContacts: 30, duplicates: 0 });
  return s;
}

const tokenGrants = () => h.sf.restCalls().filter((c) => c.path === '/services/oauth2/token' && c.status === 200).length;

test('401::Authentication invalid with reconnect none on /meta/connect: a new token, a new handshake, resumed from the stored replay IDs', async () => {
  const s = await survives({ type: 'connect-401' });
  expect(tokenGrants()).toBe(2);
  expect(s.salesforce.telemetry.counters.reconnects).toBeGreaterThanOrEqual(1);
});

test('403::Handshake denied (failureReason 401): a new token and a handshake that succeeds', async () => {
  // Unknown client forces a handshake; that handshake is denied for authentication.
  const s = await survives([{ type: 'handshake-denied' }, { type: 'unknown-client' }]);
  expect(tokenGrants()).toBe(2);
  expect(lines.some((l) => l.event === 'bayeux_failure' && l.decision === 'reauth')).toBe(true);
  expect(s.salesforce.telemetry.counters.streamFaults).toBeGreaterThanOrEqual(2);
});

test('403::Unknown client: one new handshake (single flight), resubscribed from the stored replay IDs', async () => {
  const handshakesBefore = () => h.sf.stats().handshakes;
  const s = await start();
  const first = publish(10);
  await allArrive(first);
  const before = handshakesBefore();
  // Three refusals in a row must not leave several clients behind (cometd#2057, aiocometd#1).
  h.sf.injectFault({ type: 'unknown-client' });
  h.sf.injectFault({ type: 'unknown-client' });
  const second = publish(10);
  await allArrive([...first, ...second]);
  await s.dispatcher.settled();
  expect(h.mc.stats()).toMatchObject({ uniqueContacts: 20, duplicates: 0 });
  expect(h.sf.stats().clients).toBe(1);
  expect(h.sf.stats().handshakes - before).toBeLessThanOrEqual(3);
  expect(tokenGrants()).toBe(1); // no token needed for an unknown client
});

test('503 on connect and handshake: backoff, then the stream resumes', async () => {
  const s = await survives({ type: 'server-busy-503', count: 3, on: ['connect', 'handshake'] });
  const retries = lines.filter((l) => l.event === 'reconnecting' && l.why === 'server busy (503)');
  expect(retries.length).toBeGreaterThanOrEqual(2);
  // Exponential: each wait longer than the one before (within jitter).
  expect(Number(retries[1]!.delayMs)).toBeGreaterThan(Number(retries[0]!.delayMs) * 1.2);
  expect(s.salesforce.telemetry.counters.reconnects).toBeGreaterThanOrEqual(2);
});

test('daily delivery limit: consumption pauses with an alert, and resumes after the pause', async () => {
  await start();
  const first = publish(10);
  await allArrive(first);
  const faultAt = Date.now();
  h.sf.injectFault({ type: 'daily-limit' });
  const second = publish(10);
  await allArrive([...first, ...second]);
  expect(Date.now() - faultAt).toBeGreaterThanOrEqual(550);
  const alert = lines.find((l) => l.event === 'stream_paused');
  expect(alert).toMatchObject({ level: 50, reason: '403::Organization total events daily limit exceeded', pauseMs: 600 });
  expect(h.mc.stats()).toMatchObject({ uniqueContacts: 20, duplicates: 0 });
});

test('concurrent client limit: jittered backoff between handshakes, then the stream resumes', async () => {
  await survives([{ type: 'concurrent-limit', count: 3 }, { type: 'unknown-client' }]);
  const waits = lines.filter((l) => l.event === 'reconnecting' && l.why === 'concurrent client limit').map((l) => Number(l.delayMs));
  expect(waits.length).toBe(3);
  expect(waits.every((w) => w >= 50 && w <= 450)).toBe(true);
});

test('a silently stuck /meta/connect: the watchdog rebuilds the client (new session) and nothing is lost', async () => {
  await start();
  const first = publish(10);
  await allArrive(first);
  const handshakes = h.sf.stats().handshakes;
  h.sf.injectFault({ type: 'hang-clients' });
  const second = publish(10);
  await allArrive([...first, ...second], 20_000);
  expect(h.sf.stats().handshakes).toBeGreaterThan(handshakes);
  expect(lines.some((l) => l.event === 'watchdog')).toBe(true);
  expect(h.mc.stats()).toMatchObject({ uniqueContacts: 20, duplicates: 0 });
});

test('a connection dropped mid-request is retried and nothing is lost', async () => {
  const s = await survives({ type: 'drop-connection', count: 2 });
  // Each dropped /meta/connect went unanswered; the bridge noticed and connected again.
  expect(lines.some((l) => l.event === 'reconnecting')).toBe(true);
  expect(s.salesforce.telemetry.counters.reconnects).toBeGreaterThanOrEqual(1);
});

test('a stored replay ID past retention: resumed from the fallback, the loss window reported loudly, the object reconciled', async () => {
  let s = await start();
  const first = publish(10);
  await allArrive(first);
  await s.stop();
  // While the bridge is down: 20 more changes, of which the first 8 fall out of retention.
  const expiredIds = publish(8);
  const lastExpired = h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [expiredIds[0]!],
    fields: { Email: 'changed@example.com' },
  }).replayId;
  const retained = publish(12);
  h.sf.expireRetention(lastExpired);
  const restCallsBefore = h.sf.restCalls().length;

  s = await start();
  await allArrive([...first, ...expiredIds, ...retained]);
  await s.salesforce.settled();
  const window = s.salesforce.telemetry.lossWindows[0]!;
  expect(window).toMatchObject({ channel: '/data/ContactChangeEvent', resumedFrom: -2 });
  expect(window.since).toBeGreaterThan(0);
  expect(window.until).toBeGreaterThanOrEqual(window.since!);
  const loud = lines.find((l) => l.event === 'data_loss_possible');
  expect(loud).toMatchObject({ level: 50, channel: '/data/ContactChangeEvent', resumedFrom: -2 });
  expect(loud!.windowStart).toBe(new Date(window.since!).toISOString());
  expect(String(loud!.msg)).toContain('DATA LOSS POSSIBLE');
  expect(s.salesforce.telemetry.counters.dataLossPossible).toBe(1);
  // The reconciliation: one query by LastModifiedDate since the last commit seen.
  const queries = h.sf
    .restCalls()
    .slice(restCallsBefore)
    .filter((c) => c.soql?.includes('LastModifiedDate >='));
  expect(queries).toHaveLength(1);
  expect(queries[0]!.soql).toContain(new Date(window.since!).toISOString());
  expect(lines.some((l) => l.event === 'reconciled')).toBe(true);
  // The changed e-mail reached Marketing Cloud through the reconciliation (its event is gone).
  expect(h.mc.received({ contactKey: expiredIds[0]! }).some((e) => e.data?.Email === 'changed@example.com')).toBe(true);
  expect(h.mc.stats().uniqueContacts).toBe(30);
});
