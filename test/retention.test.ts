/**
 * Retention deletes delivered actions once they are older than store.retentionDays, and
 * nothing else: pending and dead-lettered actions, and recent deliveries, stay traceable.
 * Held on both stores (the embedded one, and Postgres on the real server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/core/log.ts';
import { startRetention } from '../src/operations/retention.ts';
import { openPostgresStore } from '../src/outbox/postgres/store.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import type { Store } from '../src/outbox/contract.ts';
import { action, deadLetter } from './helpers/fixtures.ts';
import { dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
let dir: string;
let store: Store;
const quiet = createLogger({ level: 'silent', pretty: false });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'retention-'));
  store = openSqliteStore({ path: join(dir, 'bridge.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

/** Delivers action n at `at` after one failed attempt the day before. */
async function deliverAt(n: number, at: number, store: Store): Promise<string> {
  const a = action(n);
  await store.commitBatch([a], [], new Map());
  let [c] = await store.claimDue(1, at - DAY);
  await store.recordAttempts([{ id: c!.id, status: 'retry', code: 'MC_SERVER_ERROR', reason: '503', nextAttemptAt: at - DAY + 1 }], at - DAY);
  [c] = await store.claimDue(1, at);
  await store.recordAttempts([{ id: c!.id, status: 'delivered', ids: { requestId: `r${n}` } }], at);
  return a.recordId;
}

/** Deliveries past the window are deleted with their attempts; recent ones, pending actions and dead letters stay. */
async function keepsWhatItMust(store: Store): Promise<void> {
  const old = await deliverAt(1, T0, store);
  const recent = await deliverAt(2, T0 + 20 * DAY, store);
  const failed = action(4);
  await store.commitBatch([failed], [], new Map());
  const [c] = await store.claimDue(1, T0);
  await store.recordAttempts([{ id: c!.id, status: 'dead', code: 'MC_REJECTED', reason: '400' }], T0);
  await store.commitBatch([action(3)], [deadLetter(1)], new Map());
  const pending = action(3).recordId;

  let clock = T0 + 29 * DAY;
  const retention = startRetention({ store, retentionDays: 30, logger: quiet, now: () => clock, batch: 1 });
  try {
    expect(await retention.runOnce()).toBe(0);
    expect(await store.trace(old)).toHaveLength(1);

    clock = T0 + 31 * DAY;
    expect(await retention.runOnce()).toBe(1);
    expect(await store.trace(old)).toEqual([]);
    expect((await store.trace(recent))[0]!.attempts.map((a) => a.outcome)).toEqual(['retry', 'delivered']);
    expect(await store.trace(pending)).toHaveLength(1);
    expect((await store.trace(failed.recordId))[0]).toMatchObject({ status: 'dead' });

    clock = T0 + 365 * DAY;
    expect(await retention.runOnce()).toBe(1);
    expect(await store.counts()).toMatchObject({ delivered: 0, dead: 2, pending: 1 });
  } finally {
    await retention.stop();
  }
}

test('with an injected clock: deliveries past the window are deleted with their attempts, recent ones, pending and dead letters stay', async () => {
  await keepsWhatItMust(store);
});

test('the same on the Postgres store', async () => {
  await requirePostgres();
  const schema = freshSchemaName('retention');
  const pgStore = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 2 });
  try {
    await keepsWhatItMust(pgStore);
  } finally {
    await pgStore.close();
    await dropSchema(schema);
  }
});

test('pruning goes in batches until nothing past the window is left, but keeps the newest row so no id is handed out twice', async () => {
  for (let n = 1; n <= 7; n++) await deliverAt(n, T0 + n, store);
  const retention = startRetention({ store, retentionDays: 3, logger: quiet, now: () => T0 + 10 * DAY, batch: 2 });
  try {
    expect(await retention.runOnce()).toBe(6);
  } finally {
    await retention.stop();
  }
  expect(await store.counts()).toMatchObject({ delivered: 1, pending: 0 });
  const newest = (await store.trace(action(7).recordId))[0]!.id;
  await store.commitBatch([action(100)], [], new Map());
  expect((await store.claimDue(10, Date.now()))[0]!.id).toBeGreaterThan(newest);
});
