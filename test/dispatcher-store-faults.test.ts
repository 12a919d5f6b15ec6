// A delivery round the store fails does not stop the dispatcher (nor a status round the feedback publisher): the outcomes Marketing Cloud gave are written once the store answers, nothing is sent twice, and a store that stays broken is logged at error at every round, further and further apart, never polled in a tight loop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pino from 'pino';
import { Dispatcher } from '../src/delivery/dispatcher.ts';
import { FeedbackPublisher } from '../src/delivery/feedback/publisher.ts';
import { createMetrics } from '../src/operations/admin/metrics.ts';
import type { DeliveryItem, DeliveryOutcome, Target } from '../src/delivery/target.ts';
import type { Store } from '../src/outbox/contract.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { exited, outboxRows, startBridge } from './helpers/bridge-process.ts';
import { action } from './helpers/fixtures.ts';
import { bridgeConfig, contactId, startHarness, waitFor } from './helpers/harness.ts';

let dir: string;
let store: Store;
let dispatcher: Dispatcher | undefined;
let lines: Record<string, unknown>[];
let telemetry: Telemetry;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-faults-'));
  lines = [];
  telemetry = new Telemetry(pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l)) }));
});
afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const failedRounds = () => lines.filter((l) => l.event === 'store_failed');

/** Answers every item delivered, counting how often each was sent. */
function countingTarget(sent: Map<number, number>, before?: () => void): Target {
  return {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      before?.();
      for (const i of items) sent.set(i.id, (sent.get(i.id) ?? 0) + 1);
      return items.map((i) => ({ id: i.id, status: 'delivered', ids: { requestId: `r${i.id}` } }));
    },
  };
}

test('outcomes the store could not write (SQLITE_BUSY) are written when it answers again; each action is sent once and later ones are delivered too', async () => {
  const path = join(dir, 'outbox.db');
  store = openSqliteStore({ path, busyTimeoutMs: 50 });
  await store.commitBatch(
    Array.from({ length: 10 }, (_, i) => action(i + 1)),
    [],
    new Map(),
  );
  // Another process (an operator's dlq command, say) holds the write lock while the first answers come back.
  const other = new DatabaseSync(path);
  let locked = false;
  const sent = new Map<number, number>();
  const target = countingTarget(sent, () => {
    if (locked) return;
    other.exec('BEGIN IMMEDIATE');
    locked = true;
  });
  const metrics = createMetrics({ telemetry, store, subscribed: () => true, leads: () => new Map() });
  dispatcher = new Dispatcher({ store, telemetry, targets: { journey: target }, batchSize: 5, concurrency: 1, pollIntervalMs: 20 });
  dispatcher.start();
  await waitFor(() => failedRounds().length >= 2, 10_000, 'two failed rounds');
  // The first chunk was answered and not written; the second was held, not sent.
  expect(sent.size).toBe(5);
  other.exec('ROLLBACK');
  await waitFor(async () => (await store.counts()).delivered === 10, 10_000, 'the ten delivered');
  await store.commitBatch(
    Array.from({ length: 5 }, (_, i) => action(i + 11)),
    [],
    new Map(),
  );
  dispatcher.wake();
  await waitFor(async () => (await store.counts()).delivered === 15, 10_000, 'the five later ones delivered');
  other.close();

  expect(sent.size).toBe(15);
  expect([...sent.values()].every((n) => n === 1)).toBe(true);
  expect(failedRounds()[0]).toMatchObject({ level: 50, loop: 'dispatcher', code: 'SQLITE_BUSY', failures: 1 });
  expect(failedRounds()[1]).toMatchObject({ failures: 2 });
  // Counted as logged: one per failed round.
  expect(await metrics.render()).toContain(`sfmc_bridge_store_errors_total{where="dispatcher",code="SQLITE_BUSY"} ${failedRounds().length}`);
  metrics.close();
});

test('a store that stays broken is logged at error at every round, each further apart, and wake-ups do not hurry it', async () => {
  store = openSqliteStore({ path: ':memory:' });
  await store.commitBatch([action(1)], [], new Map());
  let claims = 0;
  // Every claim fails as a Postgres shutting down answers (SQLSTATE 57P01).
  const claimDue = async (): Promise<never> => {
    claims++;
    throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
  };
  const broken = new Proxy(store, {
    get: (s, key) =>
      key === 'claimDue'
        ? claimDue
        : typeof s[key as keyof Store] === 'function'
          ? (s[key as keyof Store] as Function).bind(s)
          : s[key as keyof Store],
  });
  const sent = new Map<number, number>();
  dispatcher = new Dispatcher({ store: broken, telemetry, targets: { journey: countingTarget(sent) }, pollIntervalMs: 20 });
  dispatcher.start();
  // New work committed meanwhile wakes the dispatcher, many times.
  const poke = setInterval(() => dispatcher?.wake(), 5);
  try {
    await waitFor(() => failedRounds().length >= 3, 10_000, 'three failed rounds');
  } finally {
    clearInterval(poke);
  }
  const [first, second, third] = failedRounds() as { level: number; code: string; failures: number; delayMs: number }[];
  expect([first, second, third].map((l) => [l!.level, l!.code, l!.failures])).toEqual([
    [50, '57P01', 1],
    [50, '57P01', 2],
    [50, '57P01', 3],
  ]);
  // The one backoff, doubling: at least half of 250, 500 and 1000 ms.
  expect(second!.delayMs).toBeGreaterThanOrEqual(250);
  expect(third!.delayMs).toBeGreaterThanOrEqual(500);
  // One claim per logged round: no attempt in between, whatever the wake-ups.
  expect(claims).toBe(failedRounds().length);
  expect(sent.size).toBe(0);
});

test('the feedback publisher goes on too: a status outbox that stays broken is logged at error at every round, each further apart', async () => {
  store = openSqliteStore({ path: ':memory:' });
  let claims = 0;
  const claimStatuses = async (): Promise<never> => {
    claims++;
    throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
  };
  const broken = new Proxy(store, {
    get: (s, key) =>
      key === 'claimStatuses'
        ? claimStatuses
        : typeof s[key as keyof Store] === 'function'
          ? (s[key as keyof Store] as Function).bind(s)
          : s[key as keyof Store],
  });
  const publisher = new FeedbackPublisher({
    store: broken,
    instanceUrl: 'http://127.0.0.1:9',
    apiVersion: '62.0',
    getAccessToken: async () => 'token',
    telemetry: telemetry.feedback,
    storeTelemetry: telemetry.store,
    lingerMs: 5,
  });
  publisher.start();
  try {
    await waitFor(() => failedRounds().length >= 3, 10_000, 'three failed rounds');
  } finally {
    await publisher.stop();
  }
  const [first, second, third] = failedRounds() as { level: number; loop: string; code: string; failures: number; delayMs: number }[];
  expect([first, second, third].map((l) => [l!.level, l!.loop, l!.code, l!.failures])).toEqual([
    [50, 'feedback', 'ECONNRESET', 1],
    [50, 'feedback', 'ECONNRESET', 2],
    [50, 'feedback', 'ECONNRESET', 3],
  ]);
  // Not the 5 ms linger: the one backoff, doubling.
  expect(second!.delayMs).toBeGreaterThanOrEqual(250);
  expect(third!.delayMs).toBeGreaterThanOrEqual(500);
  expect(claims).toBeLessThanOrEqual(failedRounds().length + 1);
});

test('a bridge whose store stays locked past its busy timeout while deliveries are answered keeps running, then records them: every event reaches Marketing Cloud once', async () => {
  const h = await startHarness();
  const TOTAL = 40;
  // Answers take a while: the database is locked while requests are in flight.
  h.mc.injectFault({ kind: 'delay', ms: 1500, count: 100_000 });
  const child = startBridge(h.writeConfig(bridgeConfig(h.dir, { log: { level: 'info', pretty: false } })), h.env);
  const other = new DatabaseSync(join(h.dir, 'bridge.db'));
  try {
    await child.started;
    for (let i = 0; i < TOTAL; i++)
      h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `l${i}@example.com` } });
    await waitFor(() => outboxRows(join(h.dir, 'bridge.db')).length === TOTAL, 20_000, 'all events committed');
    // Another process takes the write lock and keeps it past the store's busy timeout (5 s).
    other.exec('BEGIN IMMEDIATE');
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`the bridge exited (${child.exitCode}) when its store failed a round`);
        return child.output().includes('"event":"store_failed"');
      },
      30_000,
      'a delivery round failed by the store',
    );
    other.exec('ROLLBACK');
    await waitFor(() => outboxRows(join(h.dir, 'bridge.db')).every((r) => r.status === 'delivered'), 30_000, 'every action recorded delivered');
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect((await exited(child)).code).toBe(0);
    const stats = h.mc.stats();
    expect(stats.uniqueContacts).toBe(TOTAL);
    expect(stats.entries).toBe(TOTAL);
    const failed = child
      .output()
      .split('\n')
      .filter((l) => l.includes('"event":"store_failed"'))
      .map((l) => JSON.parse(l));
    expect(failed[0]).toMatchObject({ level: 50, loop: 'dispatcher', code: 'SQLITE_BUSY' });
  } finally {
    other.close();
    child.kill('SIGKILL');
    await exited(child);
    await h.close();
  }
}, 90_000);
