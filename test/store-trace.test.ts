/**
 * The store keeps what `trace` shows: for a record, what was received (channel, replay ID,
 * change type), how it was routed, every attempt with its outcome, and how it ended.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from '../src/store/sqlite-schema.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { action, deadLetter } from './helpers/fixtures.ts';

let dir: string;
let store: Store;
const CH = '/data/ContactChangeEvent';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-trace-'));
  store = openSqliteStore({ path: join(dir, 'bridge.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

test('a record delivered on its third attempt shows received, routed, two failed attempts and the delivery with its Marketing Cloud IDs', async () => {
  const a = action(1, { changeType: 'UPDATE', receivedAt: 1_000 });
  await store.commitBatch([a], [], new Map([[CH, '101']]));
  let [claimed] = await store.claimDue(1, 2_000);
  await store.recordAttempts([{ id: claimed!.id, status: 'retry', code: 'MC_RATE_LIMITED', reason: '429 Rate limit exceeded.', nextAttemptAt: 3_000 }], 2_000);
  [claimed] = await store.claimDue(1, 3_000);
  await store.recordAttempts([{ id: claimed!.id, status: 'retry', code: 'MC_SERVER_ERROR', reason: '503', nextAttemptAt: 4_000 }], 3_000);
  [claimed] = await store.claimDue(1, 4_000);
  await store.recordAttempts([{ id: claimed!.id, status: 'delivered', ids: { requestId: 'req-1', eventInstanceId: 'ev-1' } }], 4_000);

  const [entry, ...more] = await store.trace(a.recordId);
  expect(more).toHaveLength(0);
  expect(entry).toMatchObject({
    channel: CH, replayId: '101', changeType: 'UPDATE', receivedAt: 1_000, correlationId: 'corr-1',
    route: 'welcome', target: 'journey', mode: 'batch', batchKey: 'APIEvent-1', status: 'delivered',
    deliveredAt: 4_000, deliveryIds: { requestId: 'req-1', eventInstanceId: 'ev-1' },
  });
  expect(entry!.attempts).toEqual([
    { attempt: 1, at: 2_000, outcome: 'retry', code: 'MC_RATE_LIMITED', detail: '429 Rate limit exceeded.' },
    { attempt: 2, at: 3_000, outcome: 'retry', code: 'MC_SERVER_ERROR', detail: '503' },
    { attempt: 3, at: 4_000, outcome: 'delivered', code: null, detail: null, ids: { requestId: 'req-1', eventInstanceId: 'ev-1' } },
  ]);
});

test('a dead letter made before delivery keeps its reason, and the change type and receipt time of the event it came from', async () => {
  const d = { ...deadLetter(1), recordId: '003000000000001AAA', contactKey: '003000000000001AAA', route: 'welcome', source: { changeType: 'CREATE', receivedAt: 5_000, fields: {} } };
  await store.commitBatch([], [d], new Map([[CH, '501']]));
  const [entry] = await store.trace('003000000000001AAA');
  expect(entry).toMatchObject({ status: 'dead', changeType: 'CREATE', receivedAt: 5_000, target: null, errorCode: 'INPUT_INVALID_ID', attempts: [] });
  expect(entry!.error).toContain('is not a Salesforce ID');
});

test('a contact key that a mapper chose apart from the record ID finds the action too', async () => {
  const a = action(2, { contactKey: 'customer-42', payload: { eventDefinitionKey: 'APIEvent-1', contactKey: 'customer-42', data: {} } });
  await store.commitBatch([a, action(3)], [], new Map([[CH, '103']]));
  expect((await store.trace('customer-42')).map((e) => e.recordId)).toEqual([a.recordId]);
  expect((await store.trace(a.recordId)).map((e) => e.contactKey)).toEqual(['customer-42']);
  expect(await store.trace('nobody')).toEqual([]);
});

test('a store created before migration 2 is upgraded in place and its old rows still trace (change type unknown)', async () => {
  await store.close();
  const path = join(dir, 'old.db');
  const db = new DatabaseSync(path);
  db.exec(MIGRATIONS[0]!);
  db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1)');
  db.prepare(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key, correlation_id, payload, received_at, created_at)
    VALUES ('k', 'pending', 'r', ?, '7', 'R1', 'R1', 'c', '{}', 1, 1)`).run(CH);
  db.close();
  store = openSqliteStore({ path });
  expect(await store.trace('R1')).toMatchObject([{ replayId: '7', changeType: null, status: 'pending' }]);
  await store.commitBatch([action(4, { changeType: 'CREATE' })], [], new Map());
  expect((await store.trace(action(4).recordId))[0]!.changeType).toBe('CREATE');
});

test('checkWritable resolves on an open store and rejects once it is closed', async () => {
  await expect(store.checkWritable()).resolves.toBeUndefined();
  await store.close();
  await expect(store.checkWritable()).rejects.toThrow('closed');
});
