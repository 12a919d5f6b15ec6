/**
 * The store contract, as one suite every store implementation runs: outbox atomicity,
 * idempotency, checkpoints, claims and in-flight recovery, retries and `nextDueAt`, dead
 * letters and the trace query. A store file calls `storeConformance` with a way to open its
 * store on fresh storage; store-specific rules live in that store's own test file.
 */
import type { Store } from '../src/store/store.ts';
import { action, deadLetter } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';

/** Options a test may pass when opening a store; a store ignores those it has no use for. */
export interface OpenOptions {
  /** Embedded store: new actions kept in memory. */
  cacheLimit?: number;
  /** Shared store: claim lease (ms). */
  claimLeaseMs?: number;
}

/** Fresh storage for one test, on which stores can be opened, crashed and reopened. */
export interface StoreFixture {
  /** Opens a store on this test's storage (again after close or crash: same data). */
  open(options?: OpenOptions): Promise<Store>;
  /** Leaves a store the way a killed process leaves it: claims not handed back. */
  crash(store: Store): Promise<void>;
  /** Removes the storage. */
  dispose(): Promise<void>;
}

const CH = '/data/ContactChangeEvent';

/** Defines the conformance tests for one store implementation. */
export function storeConformance(makeFixture: () => Promise<StoreFixture>): void {
  let fx: StoreFixture;
  let store: Store;
  const reopen = async (options?: OpenOptions): Promise<Store> => {
    await store.close();
    store = await fx.open(options);
    return store;
  };

  beforeEach(async () => {
    fx = await makeFixture();
    store = await fx.open();
  });
  afterEach(async () => {
    await store.close();
    await fx.dispose();
  });

  test('a batch and its checkpoint are committed together and survive reopening the store', async () => {
    await store.commitBatch([action(1), action(2)], [deadLetter(1)], new Map([[CH, '102']]));
    await reopen();
    expect((await store.loadCheckpoints()).get(CH)).toBe('102');
    expect(await store.counts()).toEqual({ pending: 2, inflight: 0, delivered: 0, dead: 1 });
    expect(await store.backlog()).toBe(2);
  });

  test('a checkpoint moves with each batch and only the channels named are touched', async () => {
    const other = '/event/MC_Journey_Entry__e';
    await store.commitBatch([action(1)], [], new Map([[CH, '101'], [other, '7']]));
    await store.commitBatch([action(2)], [], new Map([[CH, '102']]));
    expect(await store.loadCheckpoints()).toEqual(new Map([[CH, '102'], [other, '7']]));
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
    expect((await store.loadCheckpoints()).get(CH)).toBe('103');
  });

  test('claimed actions come in outbox order, are not claimed twice, and settle with their outcome', async () => {
    await store.commitBatch([action(1), action(2), action(3)], [], new Map([[CH, '103']]));
    const claimed = await store.claimDue(2, Date.now());
    expect(claimed.map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-2']);
    expect(claimed[0]).toMatchObject({ ...action(1), attempts: 0 });
    expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-3']);
    expect(await store.counts()).toMatchObject({ inflight: 3, pending: 0 });
    const later = Date.now() + 60_000;
    await store.recordAttempts([
      { id: claimed[0]!.id, status: 'delivered', ids: { requestId: 'r-1', eventInstanceId: 'e-1' } },
      { id: claimed[1]!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'Service Unavailable', nextAttemptAt: later },
    ], Date.now());
    const [row1] = await store.actionsFor(action(1).recordId);
    expect(row1).toMatchObject({ status: 'delivered', attempts: 1, deliveryIds: { requestId: 'r-1', eventInstanceId: 'e-1' } });
    expect(row1!.deliveredAt).toEqual(expect.any(Number));
    expect(await store.claimDue(10, Date.now())).toHaveLength(0);
    expect(await store.nextDueAt()).toBe(later);
    const retried = await store.claimDue(10, later);
    expect(retried.map((a) => a.idempotencyKey)).toEqual(['key-2']);
    expect(retried[0]!.attempts).toBe(1);
    expect(await store.backlog()).toBe(2);
  });

  test('nextDueAt is undefined with nothing pending and now-or-earlier with a new action waiting', async () => {
    expect(await store.nextDueAt()).toBeUndefined();
    await store.commitBatch([action(1)], [], new Map());
    expect(await store.nextDueAt()).toBeLessThanOrEqual(Date.now());
    const [a] = await store.claimDue(10, Date.now());
    await store.recordAttempts([{ id: a!.id, status: 'delivered', ids: {} }], Date.now());
    expect(await store.nextDueAt()).toBeUndefined();
    expect(await store.backlog()).toBe(0);
  });

  test('actions in flight when the process died are due again after it restarts', async () => {
    await store.commitBatch([action(1), action(2)], [], new Map([[CH, '102']]));
    await store.close();
    store = await fx.open({ claimLeaseMs: 300 });
    expect(await store.claimDue(10, Date.now())).toHaveLength(2);
    expect(await store.counts()).toMatchObject({ inflight: 2, pending: 0 });
    await fx.crash(store);
    store = await fx.open({ claimLeaseMs: 300 });
    // A store that writes claims gives them back when their lease runs out; one that keeps them in memory at once.
    await waitFor(async () => (await store.recoverInflight(), (await store.counts()).inflight === 0), 10_000, 'claims to run out');
    expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-2']);
  });

  test('a clean close hands claims back: the next start delivers them at once', async () => {
    await store.commitBatch([action(1)], [], new Map());
    expect(await store.claimDue(10, Date.now())).toHaveLength(1);
    await reopen({ claimLeaseMs: 60_000 });
    expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-1']);
  });

  test('a backlog larger than the in-memory cache is read back in order, none skipped or repeated', async () => {
    await reopen({ cacheLimit: 5 });
    expect(await store.claimDue(10, Date.now())).toHaveLength(0);
    const keys: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      await store.commitBatch(Array.from({ length: 4 }, (_, i) => action(batch * 4 + i)), [], new Map([[CH, String(batch)]]));
      for (const a of await store.claimDue(3, Date.now())) keys.push(a.idempotencyKey);
    }
    for (let a = await store.claimDue(3, Date.now()); a.length > 0; a = await store.claimDue(3, Date.now())) keys.push(...a.map((x) => x.idempotencyKey));
    expect(keys).toEqual(Array.from({ length: 16 }, (_, i) => `key-${i}`));
  });

  test('a dead-lettered action keeps its reason and leaves the backlog', async () => {
    await store.commitBatch([action(1)], [], new Map());
    const [a] = await store.claimDue(1, Date.now());
    await store.recordAttempts([{ id: a!.id, status: 'dead', code: 'MC_400', reason: 'EventDefinitionKey "x" not found' }], Date.now());
    expect((await store.actionsFor(a!.recordId))[0]).toMatchObject({ status: 'dead', errorCode: 'MC_400', error: 'EventDefinitionKey "x" not found', attempts: 1 });
    expect(await store.backlog()).toBe(0);
    expect(await store.claimDue(10, Date.now())).toHaveLength(0);
  });

  test('a dead letter from bad input is stored with its code, reason and source, never delivered', async () => {
    const d = { ...deadLetter(4), recordId: '003000000000999AAA', contactKey: '003000000000999AAA' };
    await store.commitBatch([], [d], new Map([[CH, '504']]));
    const [row] = await store.actionsFor(d.recordId);
    expect(row).toMatchObject({ status: 'dead', errorCode: 'INPUT_INVALID_ID', error: d.reason, payload: { bad: 4 }, correlationId: 'corr-dead-4' });
    expect(await store.claimDue(10, Date.now())).toHaveLength(0);
    expect(await store.counts()).toEqual({ pending: 0, inflight: 0, delivered: 0, dead: 1 });
  });

  test('the trace query returns every row of one record, oldest first, with status, attempts and outcome', async () => {
    const id = action(7).recordId;
    await store.commitBatch([action(7), action(8)], [], new Map());
    await store.commitBatch([action(7, { idempotencyKey: 'key-7b', route: 'second', replayId: '300' })], [], new Map());
    const [first] = await store.claimDue(1, Date.now());
    expect(first!.idempotencyKey).toBe('key-7');
    await store.recordAttempts([{ id: first!.id, status: 'retry', code: 'MC_HTTP_429', reason: 'Too Many Requests', nextAttemptAt: Date.now() + 60_000 }], Date.now());
    const rows = await store.actionsFor(id);
    expect(rows.map((r) => [r.idempotencyKey, r.route, r.replayId])).toEqual([['key-7', 'welcome', '107'], ['key-7b', 'second', '300']]);
    expect(rows[0]).toMatchObject({ status: 'pending', attempts: 1, errorCode: 'MC_HTTP_429', error: 'Too Many Requests', contactKey: id, channel: CH, correlationId: 'corr-7', deliveredAt: null, deliveryIds: null });
    expect(rows[0]!.payload).toEqual(action(7).payload);
    expect(rows[1]).toMatchObject({ status: 'pending', attempts: 0 });
    expect(rows[0]!.id).toBeLessThan(rows[1]!.id);
    expect(await store.actionsFor('003000000000404AAA')).toEqual([]);
  });
}
