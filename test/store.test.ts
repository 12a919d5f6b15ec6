import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { action, deadLetter } from './helpers/fixtures.ts';

let dir: string;
let store: Store;
const CH = '/data/ContactChangeEvent';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-'));
  store = openSqliteStore({ path: join(dir, 'bridge.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

test('a batch and its checkpoint are committed together and survive reopening the file', async () => {
  await store.commitBatch([action(1), action(2)], [deadLetter(1)], new Map([[CH, '102']]));
  await store.close();
  store = openSqliteStore({ path: join(dir, 'bridge.db') });
  expect((await store.loadCheckpoints()).get(CH)).toBe('102');
  expect(await store.counts()).toEqual({ pending: 2, inflight: 0, delivered: 0, dead: 1 });
  expect(await store.backlog()).toBe(2);
});

test('a batch that fails half-way stores nothing and leaves the checkpoint where it was', async () => {
  await store.commitBatch([action(1)], [], new Map([[CH, '101']]));
  const poisoned = action(3, { payload: { eventDefinitionKey: 'k', contactKey: 'c', data: { n: 10n } } });
  await expect(store.commitBatch([action(2), poisoned], [], new Map([[CH, '103']]))).rejects.toThrow();
  expect((await store.loadCheckpoints()).get(CH)).toBe('101');
  expect(await store.actionsFor(action(2).recordId)).toHaveLength(0);
  expect(await store.backlog()).toBe(1);
});

test('the store refuses an idempotency key twice, across batches', async () => {
  const first = await store.commitBatch([action(1), action(2)], [deadLetter(1)], new Map([[CH, '102']]));
  const again = await store.commitBatch([action(2), action(3)], [deadLetter(1)], new Map([[CH, '103']]));
  expect(first).toEqual({ inserted: 2, duplicates: 0, deadLettered: 1 });
  expect(again).toEqual({ inserted: 1, duplicates: 2, deadLettered: 0 });
  expect((await store.counts()).pending).toBe(3);
});

test('claimed actions come in outbox order, are not claimed twice, and settle with their outcome', async () => {
  await store.commitBatch([action(1), action(2), action(3)], [], new Map([[CH, '103']]));
  const claimed = await store.claimDue(2, Date.now());
  expect(claimed.map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-2']);
  expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-3']);
  const later = Date.now() + 60_000;
  await store.recordAttempts([
    { id: claimed[0]!.id, status: 'delivered', ids: { requestId: 'r-1', eventInstanceId: 'e-1' } },
    { id: claimed[1]!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'Service Unavailable', nextAttemptAt: later },
  ], Date.now());
  const [row1] = await store.actionsFor(action(1).recordId);
  expect(row1).toMatchObject({ status: 'delivered', attempts: 1, deliveryIds: { requestId: 'r-1', eventInstanceId: 'e-1' } });
  expect(await store.claimDue(10, Date.now())).toHaveLength(0);
  expect(await store.nextDueAt()).toBe(later);
  expect((await store.claimDue(10, later)).map((a) => a.idempotencyKey)).toEqual(['key-2']);
  expect(await store.backlog()).toBe(2);
});

test('actions in flight when the process died are due again after reopening', async () => {
  await store.commitBatch([action(1), action(2)], [], new Map([[CH, '102']]));
  expect(await store.claimDue(10, Date.now())).toHaveLength(2);
  expect(await store.counts()).toMatchObject({ inflight: 2, pending: 0 });
  await store.close();
  store = openSqliteStore({ path: join(dir, 'bridge.db') });
  await store.recoverInflight();
  expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-2']);
});

test('a backlog larger than the in-memory cache is read back from the table in order, none skipped or repeated', async () => {
  await store.close();
  store = openSqliteStore({ path: join(dir, 'bridge.db'), cacheLimit: 5 });
  expect(await store.claimDue(10, Date.now())).toHaveLength(0);
  const keys: string[] = [];
  for (let batch = 0; batch < 4; batch++) {
    await store.commitBatch(Array.from({ length: 4 }, (_, i) => action(batch * 4 + i)), [], new Map([[CH, String(batch)]]));
    for (const a of await store.claimDue(3, Date.now())) keys.push(a.idempotencyKey);
  }
  for (let a = await store.claimDue(3, Date.now()); a.length > 0; a = await store.claimDue(3, Date.now())) keys.push(...a.map((x) => x.idempotencyKey));
  expect(keys).toEqual(Array.from({ length: 16 }, (_, i) => `key-${i}`));
});

test('a dead-lettered action keeps its reason', async () => {
  await store.commitBatch([action(1)], [], new Map());
  const [a] = await store.claimDue(1, Date.now());
  await store.recordAttempts([{ id: a!.id, status: 'dead', code: 'MC_400', reason: 'EventDefinitionKey "x" not found' }], Date.now());
  expect((await store.actionsFor(a!.recordId))[0]).toMatchObject({ status: 'dead', errorCode: 'MC_400', error: 'EventDefinitionKey "x" not found' });
  expect(await store.backlog()).toBe(0);
});
