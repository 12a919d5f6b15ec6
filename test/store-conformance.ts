/**
 * The store contract, as one suite every store implementation runs: outbox atomicity,
 * idempotency, checkpoints and commit marks, claims and in-flight recovery, retries and
 * `nextDueAt`, dead letters, the trace timeline, retention, readiness and the dead-letter queue. A store file calls `storeConformance` with a way to open its
 * store on fresh storage; store-specific rules live in that store's own test file.
 */
import type { Store } from '../src/outbox/contract.ts';
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
    await store.commitBatch(
      [action(1)],
      [],
      new Map([
        [CH, '101'],
        [other, '7'],
      ]),
    );
    await store.commitBatch([action(2)], [], new Map([[CH, '102']]));
    expect(await store.loadCheckpoints()).toEqual(
      new Map([
        [CH, '102'],
        [other, '7'],
      ]),
    );
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
    await store.recordAttempts(
      [
        { id: claimed[0]!.id, status: 'delivered', ids: { requestId: 'r-1', eventInstanceId: 'e-1' } },
        { id: claimed[1]!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'Service Unavailable', nextAttemptAt: later },
      ],
      Date.now(),
    );
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

  test("a contact's later actions wait behind one in flight or waiting for a retry, also across a restart; others go on", async () => {
    const x = action(1).recordId;
    const xAction = (n: number) =>
      action(n, { recordId: x, contactKey: x, payload: { eventDefinitionKey: 'APIEvent-1', contactKey: x, data: { Email: `v${n}@example.com` } } });
    await store.commitBatch([xAction(1), xAction(2), action(3), xAction(4)], [], new Map([[CH, '104']]));
    const first = await store.claimDue(10, Date.now());
    expect(first.map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-3']);
    const later = Date.now() + 60_000;
    await store.recordAttempts(
      [
        { id: first[0]!.id, status: 'retry', code: 'MC_HTTP_500', reason: 'Internal Server Error', nextAttemptAt: later },
        { id: first[1]!.id, status: 'delivered', ids: {} },
      ],
      Date.now(),
    );
    // The first of X waits for its retry: X's second and third stay behind it, now and after a restart.
    expect(await store.claimDue(10, Date.now())).toEqual([]);
    await reopen();
    expect(await store.claimDue(10, Date.now())).toEqual([]);
    expect(await store.nextDueAt()).toBe(later);
    const retried = await store.claimDue(10, later);
    expect(retried.map((a) => a.idempotencyKey)).toEqual(['key-1']);
    await store.recordAttempts([{ id: retried[0]!.id, status: 'delivered', ids: {} }], Date.now());
    // Then one at a time, in order: a dead letter releases the next one too.
    const second = await store.claimDue(10, Date.now());
    expect(second.map((a) => a.idempotencyKey)).toEqual(['key-2']);
    await store.recordAttempts([{ id: second[0]!.id, status: 'dead', code: 'MC_400', reason: 'rejected' }], Date.now());
    expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-4']);
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
      await store.commitBatch(
        Array.from({ length: 4 }, (_, i) => action(batch * 4 + i)),
        [],
        new Map([[CH, String(batch)]]),
      );
      for (const a of await store.claimDue(3, Date.now())) keys.push(a.idempotencyKey);
    }
    for (let a = await store.claimDue(3, Date.now()); a.length > 0; a = await store.claimDue(3, Date.now()))
      keys.push(...a.map((x) => x.idempotencyKey));
    expect(keys).toEqual(Array.from({ length: 16 }, (_, i) => `key-${i}`));
  });

  test('a dead-lettered action keeps its reason and leaves the backlog', async () => {
    await store.commitBatch([action(1)], [], new Map());
    const [a] = await store.claimDue(1, Date.now());
    await store.recordAttempts([{ id: a!.id, status: 'dead', code: 'MC_400', reason: 'EventDefinitionKey "x" not found' }], Date.now());
    expect((await store.actionsFor(a!.recordId))[0]).toMatchObject({
      status: 'dead',
      errorCode: 'MC_400',
      error: 'EventDefinitionKey "x" not found',
      attempts: 1,
    });
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
    await store.recordAttempts(
      [{ id: first!.id, status: 'retry', code: 'MC_HTTP_429', reason: 'Too Many Requests', nextAttemptAt: Date.now() + 60_000 }],
      Date.now(),
    );
    const rows = await store.actionsFor(id);
    expect(rows.map((r) => [r.idempotencyKey, r.route, r.replayId])).toEqual([
      ['key-7', 'welcome', '107'],
      ['key-7b', 'second', '300'],
    ]);
    expect(rows[0]).toMatchObject({
      status: 'pending',
      attempts: 1,
      errorCode: 'MC_HTTP_429',
      error: 'Too Many Requests',
      contactKey: id,
      channel: CH,
      correlationId: 'corr-7',
      deliveredAt: null,
      deliveryIds: null,
    });
    expect(rows[0]!.payload).toEqual(action(7).payload);
    expect(rows[1]).toMatchObject({ status: 'pending', attempts: 0 });
    expect(rows[0]!.id).toBeLessThan(rows[1]!.id);
    expect(await store.actionsFor('003000000000404AAA')).toEqual([]);
  });

  test('a record whose actions lie thousands of rows apart is found whole by actionsFor and trace', async () => {
    // The embedded store indexes records per block of ids: a look-up must visit every block.
    const fillers = (from: number) =>
      Array.from({ length: 2500 }, (_, i) => action(100 + ((from + i) % 800), { idempotencyKey: `filler-${from + i}` }));
    const id = action(7).recordId;
    await store.commitBatch([action(7)], [], new Map());
    await store.commitBatch(fillers(0), [], new Map());
    await store.commitBatch([action(7, { idempotencyKey: 'key-7b' })], [], new Map());
    await store.commitBatch(fillers(2500), [], new Map());
    await store.commitBatch([action(7, { idempotencyKey: 'key-7c' })], [], new Map());
    expect((await store.actionsFor(id)).map((r) => r.idempotencyKey)).toEqual(['key-7', 'key-7b', 'key-7c']);
    expect((await store.trace(id)).map((e) => e.idempotencyKey)).toEqual(['key-7', 'key-7b', 'key-7c']);
  });

  test('trace shows what was received, how it was routed, each failed attempt and the delivery with its Marketing Cloud IDs', async () => {
    const a = action(1, { changeType: 'UPDATE', receivedAt: 1_000 });
    await store.commitBatch([a], [], new Map([[CH, '101']]));
    let [claimed] = await store.claimDue(1, 2_000);
    await store.recordAttempts(
      [{ id: claimed!.id, status: 'retry', code: 'MC_RATE_LIMITED', reason: '429 Rate limit exceeded.', nextAttemptAt: 3_000 }],
      2_000,
    );
    [claimed] = await store.claimDue(1, 3_000);
    await store.recordAttempts([{ id: claimed!.id, status: 'retry', code: 'MC_SERVER_ERROR', reason: '503', nextAttemptAt: 4_000 }], 3_000);
    [claimed] = await store.claimDue(1, 4_000);
    await store.recordAttempts([{ id: claimed!.id, status: 'delivered', ids: { requestId: 'req-1', eventInstanceId: 'ev-1' } }], 4_000);
    const [entry, ...more] = await store.trace(a.recordId);
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({
      id: claimed!.id,
      idempotencyKey: 'key-1',
      channel: CH,
      replayId: '101',
      changeType: 'UPDATE',
      receivedAt: 1_000,
      correlationId: 'corr-1',
      recordId: a.recordId,
      contactKey: a.recordId,
      route: 'welcome',
      target: 'journey',
      mode: 'batch',
      batchKey: 'APIEvent-1',
      status: 'delivered',
      deliveredAt: 4_000,
      deliveryIds: { requestId: 'req-1', eventInstanceId: 'ev-1' },
      errorCode: null,
      error: null,
    });
    expect(entry!.attempts).toEqual([
      { attempt: 1, at: 2_000, outcome: 'retry', code: 'MC_RATE_LIMITED', detail: '429 Rate limit exceeded.' },
      { attempt: 2, at: 3_000, outcome: 'retry', code: 'MC_SERVER_ERROR', detail: '503' },
      { attempt: 3, at: 4_000, outcome: 'delivered', code: null, detail: null, ids: { requestId: 'req-1', eventInstanceId: 'ev-1' } },
    ]);
  });

  test('trace: a triggered send keeps its recipientSendId, and an action in flight shows as such', async () => {
    const send = action(1, { target: 'triggeredSend', idempotencyKey: 'ts-1' });
    await store.commitBatch([send, action(2)], [], new Map());
    const claimed = await store.claimDue(10, Date.now());
    await store.recordAttempts([{ id: claimed[0]!.id, status: 'delivered', ids: { recipientSendId: 'rs-1' } }], 5_000);
    const [entry] = await store.trace(send.recordId);
    expect(entry).toMatchObject({ status: 'delivered', deliveryIds: { recipientSendId: 'rs-1' } });
    expect(entry!.attempts).toEqual([{ attempt: 1, at: 5_000, outcome: 'delivered', code: null, detail: null, ids: { recipientSendId: 'rs-1' } }]);
    expect((await store.actionsFor(send.recordId))[0]!.deliveryIds).toEqual({ recipientSendId: 'rs-1' });
    expect(await store.trace(action(2).recordId)).toMatchObject([{ status: 'inflight', attempts: [] }]);
  });

  test('trace: a dead letter made before delivery keeps its reason and the change type and receipt time of its source event', async () => {
    const recordId = '003000000000001AAA';
    const d = { ...deadLetter(1), recordId, contactKey: recordId, route: 'welcome', source: { changeType: 'CREATE', receivedAt: 5_000, fields: {} } };
    await store.commitBatch([], [d], new Map([[CH, '501']]));
    const [entry] = await store.trace(recordId);
    expect(entry).toMatchObject({
      status: 'dead',
      changeType: 'CREATE',
      receivedAt: 5_000,
      target: null,
      mode: null,
      errorCode: 'INPUT_INVALID_ID',
      attempts: [],
    });
    expect(entry!.error).toContain('is not a Salesforce ID');
  });

  test('trace finds a contact key that a mapper chose apart from the record ID, and nothing for an unknown key', async () => {
    const a = action(2, { contactKey: 'customer-42', payload: { eventDefinitionKey: 'APIEvent-1', contactKey: 'customer-42', data: {} } });
    await store.commitBatch([a, action(3)], [], new Map([[CH, '103']]));
    expect((await store.trace('customer-42')).map((e) => e.recordId)).toEqual([a.recordId]);
    expect((await store.trace(a.recordId)).map((e) => e.contactKey)).toEqual(['customer-42']);
    expect(await store.trace('nobody')).toEqual([]);
  });

  test("trace finds actions and dead letters by the admin's correlation ID, shows it, and a claimed action keeps it", async () => {
    const a = action(5, { adminCorrelationId: 'ORDER-981' });
    const d = { ...deadLetter(6), adminCorrelationId: 'ORDER-981' };
    await store.commitBatch([a, action(7)], [d], new Map([[CH, '105']]));
    const found = await store.trace('ORDER-981');
    expect(found.map((e) => [e.recordId, e.status, e.adminCorrelationId])).toEqual([
      [a.recordId, 'pending', 'ORDER-981'],
      [d.recordId, 'dead', 'ORDER-981'],
    ]);
    expect((await store.trace(action(7).recordId))[0]!.adminCorrelationId).toBeNull();
    // Read back from the table too (a restart), so the delivery's log line can carry it.
    const claimed = await (await reopen()).claimDue(10, Date.now());
    expect(claimed.find((c) => c.recordId === a.recordId)?.adminCorrelationId).toBe('ORDER-981');
    expect(claimed.find((c) => c.recordId === action(7).recordId)?.adminCorrelationId).toBeUndefined();
  });

  test('pruneDelivered deletes only delivered actions older than the cutoff, with their attempt rows, a limited number at a time', async () => {
    await store.commitBatch([action(1), action(2), action(3), action(4)], [deadLetter(1)], new Map());
    const [a1, a2, a3, a4] = await store.claimDue(10, Date.now());
    await store.recordAttempts([{ id: a1!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: 1 }], 500);
    const [again] = await store.claimDue(1, Date.now());
    expect(again!.id).toBe(a1!.id);
    await store.recordAttempts(
      [
        { id: a1!.id, status: 'delivered', ids: { requestId: 'r-1' } },
        { id: a2!.id, status: 'delivered', ids: { requestId: 'r-2' } },
      ],
      1_000,
    );
    await store.recordAttempts([{ id: a3!.id, status: 'delivered', ids: {} }], 9_000);
    await store.recordAttempts([{ id: a4!.id, status: 'dead', code: 'MC_400', reason: 'refused' }], 1_000);
    expect(await store.attemptsOf(a1!.id)).toHaveLength(1);
    expect(await store.pruneDelivered(5_000, 1)).toBe(1);
    expect(await store.pruneDelivered(5_000, 10)).toBe(1);
    expect(await store.pruneDelivered(5_000, 10)).toBe(0);
    expect(await store.trace(action(1).recordId)).toEqual([]);
    expect(await store.trace(action(2).recordId)).toEqual([]);
    expect(await store.attemptsOf(a1!.id)).toEqual([]);
    expect(await store.trace(action(3).recordId)).toMatchObject([{ status: 'delivered' }]);
    expect(await store.trace(action(4).recordId)).toMatchObject([{ status: 'dead', attempts: [{ outcome: 'dead' }] }]);
    expect(await store.counts()).toEqual({ pending: 0, inflight: 0, delivered: 1, dead: 2 });
    // Pending and dead-lettered actions are never pruned, however old.
    await store.commitBatch([action(5)], [deadLetter(2)], new Map());
    expect(await store.pruneDelivered(Date.now() + 86_400_000, 100)).toBe(1);
    expect(await store.counts()).toEqual({ pending: 1, inflight: 0, delivered: 0, dead: 3 });
    expect(await store.backlog()).toBe(1);
  });

  test('checkWritable resolves on an open store and rejects once it is closed', async () => {
    await expect(store.checkWritable()).resolves.toBeUndefined();
    // It wrote nothing.
    expect(await store.loadCheckpoints()).toEqual(new Map());
    await store.close();
    await expect(store.checkWritable()).rejects.toThrow('closed');
  });

  test('commit marks are kept with the checkpoint, never move back, and survive reopening', async () => {
    const other = '/data/LeadChangeEvent';
    expect(await store.loadCommitMarks!()).toEqual(new Map());
    await store.commitBatch(
      [action(1)],
      [],
      new Map([
        [CH, '101'],
        [other, '5'],
      ]),
      new Map([[CH, 1_700_000_001_000]]),
    );
    await store.commitBatch(
      [action(2)],
      [],
      new Map([[CH, '102']]),
      new Map([
        [CH, 1_700_000_000_500],
        [other, 1_700_000_002_000],
      ]),
    );
    await store.commitBatch([action(3)], [], new Map([[CH, '103']]));
    await reopen();
    expect(await store.loadCommitMarks!()).toEqual(
      new Map([
        [CH, 1_700_000_001_000],
        [other, 1_700_000_002_000],
      ]),
    );
    expect(await store.loadCheckpoints()).toEqual(
      new Map([
        [CH, '103'],
        [other, '5'],
      ]),
    );
  });

  test('a batch that fails takes its commit marks back with it', async () => {
    await store.commitBatch([action(1)], [], new Map([[CH, '101']]), new Map([[CH, 1_000]]));
    const poisoned = action(3, { payload: { eventDefinitionKey: 'k', contactKey: 'c', data: { n: 10n } } });
    await expect(store.commitBatch([poisoned], [], new Map([[CH, '103']]), new Map([[CH, 2_000]]))).rejects.toThrow();
    expect(await store.loadCommitMarks!()).toEqual(new Map([[CH, 1_000]]));
  });

  /** Stores a delivery-time dead letter (action `n`, one failed attempt) and a plan-time one (dead letter `n`). */
  const twoDeadLetters = async (n: number): Promise<{ atDelivery: number; beforeDelivery: number }> => {
    await store.commitBatch([action(n)], [{ ...deadLetter(n), route: 'welcome' }], new Map());
    const [a] = await store.claimDue(1, Date.now());
    await store.recordAttempts([{ id: a!.id, status: 'dead', code: 'MC_400', reason: 'definition paused' }], 1_000);
    const rows = await store.deadLetters();
    return { atDelivery: a!.id, beforeDelivery: rows.find((r) => r.target === null)!.id };
  };

  test('deadLetters lists the queue oldest first, by route or ID, leaving out discarded ones unless asked', async () => {
    await store.commitBatch([action(1), action(2)], [deadLetter(1), { ...deadLetter(2), route: 'other' }], new Map());
    const [a1] = await store.claimDue(1, Date.now());
    await store.recordAttempts([{ id: a1!.id, status: 'dead', code: 'MC_400', reason: 'refused' }], 1_000);
    const all = await store.deadLetters();
    expect(all.map((r) => [r.idempotencyKey, r.status, r.target])).toEqual([
      ['key-1', 'dead', 'journey'],
      ['dead-1', 'dead', null],
      ['dead-2', 'dead', null],
    ]);
    expect(all[1]).toMatchObject({ errorCode: 'INPUT_INVALID_ID', payload: { bad: 1 }, discardedAt: null });
    expect((await store.deadLetters({ route: 'other' })).map((r) => r.idempotencyKey)).toEqual(['dead-2']);
    expect((await store.deadLetters({ ids: [all[2]!.id, all[0]!.id] })).map((r) => r.idempotencyKey)).toEqual(['key-1', 'dead-2']);
    expect(await store.deadLetters({ ids: [] })).toEqual([]);
    expect((await store.deadLetters({ limit: 1 })).map((r) => r.idempotencyKey)).toEqual(['key-1']);
    expect(await store.discard([all[1]!.id], 2_000)).toEqual([all[1]!.id]);
    expect((await store.deadLetters()).map((r) => r.idempotencyKey)).toEqual(['key-1', 'dead-2']);
    const withDiscarded = await store.deadLetters({ includeDiscarded: true });
    expect(withDiscarded.map((r) => r.idempotencyKey)).toEqual(['key-1', 'dead-1', 'dead-2']);
    expect(withDiscarded[1]!.discardedAt).toBe(2_000);
  });

  test('requeue makes a delivery-time dead letter pending and claimable with a fresh count, keeps its history, and skips the rest', async () => {
    const { atDelivery, beforeDelivery } = await twoDeadLetters(1);
    expect(await store.backlog()).toBe(0);
    expect(await store.requeue([beforeDelivery, atDelivery, 999_999], 2_000)).toEqual([atDelivery]);
    expect(await store.requeue([atDelivery], 2_000)).toEqual([]);
    expect(await store.backlog()).toBe(1);
    const [row] = await store.actionsFor(action(1).recordId);
    expect(row).toMatchObject({ status: 'pending', attempts: 0, errorCode: null, error: null });
    expect(await store.attemptsOf(atDelivery)).toEqual([
      { at: 1_000, outcome: 'dead', code: 'MC_400', detail: 'definition paused' },
      { at: 2_000, outcome: 'requeued', code: 'MC_400', detail: 'requeued after 1 attempts; last error: definition paused' },
    ]);
    const [claimed] = await store.claimDue(10, Date.now());
    expect(claimed).toMatchObject({ id: atDelivery, idempotencyKey: 'key-1', attempts: 0 });
    await store.recordAttempts([{ id: atDelivery, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: 3_000 }], 2_500);
    const [retry] = await store.claimDue(10, 3_000);
    await store.recordAttempts([{ id: retry!.id, status: 'delivered', ids: { requestId: 'r-9' } }], 3_000);
    // Dead-letter queue steps are not attempts: counting starts again after the requeue.
    expect((await store.trace(action(1).recordId))[0]!.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'dead'],
      [0, 'requeued'],
      [1, 'retry'],
      [2, 'delivered'],
    ]);
    expect((await store.deadLetters()).map((r) => r.id)).toEqual([beforeDelivery]);
  });

  test('discard takes dead letters out of the queue with a note in their history; a discarded one is not requeued', async () => {
    const { atDelivery, beforeDelivery } = await twoDeadLetters(1);
    expect(await store.discard([atDelivery], 2_000, 'customer asked')).toEqual([atDelivery]);
    expect(await store.discard([atDelivery, beforeDelivery], 3_000)).toEqual([beforeDelivery]);
    expect(await store.deadLetters()).toEqual([]);
    expect(await store.requeue([atDelivery], 4_000)).toEqual([]);
    expect((await store.attemptsOf(atDelivery)).at(-1)).toEqual({ at: 2_000, outcome: 'discarded', code: null, detail: 'customer asked' });
    expect(await store.attemptsOf(beforeDelivery)).toEqual([
      { at: 3_000, outcome: 'discarded', code: null, detail: 'discarded from the dead-letter queue' },
    ]);
    expect((await store.actionsFor(action(1).recordId))[0]).toMatchObject({ status: 'dead', discardedAt: 2_000 });
    expect((await store.trace(action(1).recordId))[0]!.attempts.map((a) => a.outcome)).toEqual(['dead', 'discarded']);
    expect(await store.counts()).toMatchObject({ dead: 2, pending: 0 });
  });

  test("replaceDeadLetter: an action with the dead letter's own key takes over its row, pending and claimable, and others are added", async () => {
    const recordId = '003000000000001AAA';
    await store.commitBatch(
      [],
      [{ ...deadLetter(1), route: 'welcome', recordId, contactKey: recordId, source: { changeType: 'UPDATE', receivedAt: 7_000 } }],
      new Map(),
    );
    const [dead] = await store.deadLetters();
    const own = action(1, { idempotencyKey: 'dead-1', recordId, contactKey: recordId, changeType: 'UPDATE' });
    const extra = action(2, { changeType: 'UPDATE' });
    expect(await store.replaceDeadLetter(dead!.id, [own, extra], [], 2_000)).toEqual({
      requeued: true,
      inserted: 1,
      deadLettered: 0,
      stillDead: false,
    });
    expect(await store.deadLetters()).toEqual([]);
    expect(await store.backlog()).toBe(2);
    const [entry] = await store.trace(recordId);
    expect(entry).toMatchObject({
      id: dead!.id,
      status: 'pending',
      target: 'journey',
      batchKey: 'APIEvent-1',
      errorCode: null,
      changeType: 'UPDATE',
    });
    expect(entry!.attempts).toEqual([
      { attempt: 0, at: 2_000, outcome: 'rederived', code: null, detail: 'mapping re-run: pending again, with 1 more action(s)' },
    ]);
    expect((await store.trace(extra.recordId))[0]).toMatchObject({ status: 'pending', changeType: 'UPDATE' });
    const claimed = await store.claimDue(10, Date.now());
    expect(claimed.map((a) => a.idempotencyKey)).toEqual(['dead-1', 'key-2']);
    expect(claimed[0]!.payload).toEqual(own.payload);
    await expect(store.replaceDeadLetter(dead!.id, [], [], 3_000)).rejects.toThrow('not a dead letter in the queue');
  });

  test('replaceDeadLetter: the row taken over shows the change type of the re-derived action when its dead letter had none', async () => {
    const recordId = '003000000000002AAA';
    // A raw message that could not be read: the dead letter knows no change type.
    await store.commitBatch([], [{ ...deadLetter(1), route: 'welcome', recordId, contactKey: recordId, source: undefined }], new Map());
    const [dead] = await store.deadLetters();
    expect((await store.trace(recordId))[0]).toMatchObject({ changeType: null });
    const own = action(1, { idempotencyKey: 'dead-1', recordId, contactKey: recordId, changeType: 'CREATE' });
    await store.replaceDeadLetter(dead!.id, [own], [], 2_000);
    expect((await store.trace(recordId))[0]).toMatchObject({ id: dead!.id, status: 'pending', changeType: 'CREATE' });
  });

  test('replaceDeadLetter: the same failure again leaves it dead with the new reason; anything else replaces it and it leaves the queue', async () => {
    await store.commitBatch(
      [],
      [
        { ...deadLetter(1), route: 'welcome' },
        { ...deadLetter(2), route: 'welcome' },
      ],
      new Map(),
    );
    const [d1, d2] = await store.deadLetters();
    const again = { ...deadLetter(1), route: 'welcome', code: 'MAPPING_MISSING_FIELD', reason: 'Note__c is missing' };
    expect(await store.replaceDeadLetter(d1!.id, [], [again], 2_000)).toEqual({ requeued: false, inserted: 0, deadLettered: 0, stillDead: true });
    expect((await store.deadLetters({ ids: [d1!.id] }))[0]).toMatchObject({
      status: 'dead',
      errorCode: 'MAPPING_MISSING_FIELD',
      error: 'Note__c is missing',
      discardedAt: null,
    });
    expect(await store.attemptsOf(d1!.id)).toEqual([
      { at: 2_000, outcome: 'rederive_failed', code: 'MAPPING_MISSING_FIELD', detail: 'Note__c is missing' },
    ]);
    const other = { ...deadLetter(3), route: 'welcome', source: { changeType: 'DELETE', receivedAt: 6_000 } };
    expect(await store.replaceDeadLetter(d2!.id, [action(4)], [other], 3_000)).toEqual({
      requeued: false,
      inserted: 1,
      deadLettered: 1,
      stillDead: false,
    });
    expect((await store.deadLetters()).map((r) => r.idempotencyKey)).toEqual(['dead-1', 'dead-3']);
    expect((await store.deadLetters({ ids: [d2!.id], includeDiscarded: true }))[0]!.discardedAt).toBe(3_000);
    expect(await store.attemptsOf(d2!.id)).toEqual([
      { at: 3_000, outcome: 'rederived', code: null, detail: 'replaced by 1 action(s) and 1 dead letter(s)' },
    ]);
    expect((await store.claimDue(10, Date.now())).map((a) => a.idempotencyKey)).toEqual(['key-4']);
  });

  test('an action accepted asynchronously stays pending, not an attempt, and comes back due with its request to confirm, across a reopen', async () => {
    await store.commitBatch([action(1), action(2)], [], new Map());
    const [a1, a2] = await store.claimDue(10, Date.now());
    const due = Date.now() + 200;
    await store.recordAttempts(
      [
        { id: a1!.id, status: 'accepted', requestId: 'req-1', row: 0, nextAttemptAt: due },
        { id: a2!.id, status: 'accepted', requestId: 'req-1', row: 1, nextAttemptAt: due },
      ],
      Date.now(),
    );
    expect(await store.backlog()).toBe(2);
    expect(await store.claimDue(10, Date.now())).toEqual([]);
    await reopen();
    let again: Awaited<ReturnType<Store['claimDue']>> = [];
    await waitFor(async () => (again = await store.claimDue(10, Date.now())).length > 0, 3000, 'the accepted actions to be due');
    expect(Date.now()).toBeGreaterThanOrEqual(due);
    expect(again.map((a) => [a.idempotencyKey, a.attempts, a.confirm])).toEqual([
      ['key-1', 0, { requestId: 'req-1', row: 0 }],
      ['key-2', 0, { requestId: 'req-1', row: 1 }],
    ]);
    // A forgotten request (null) makes the action a fresh send again.
    await store.recordAttempts(
      [
        { id: a1!.id, status: 'accepted', requestId: null, row: 0, nextAttemptAt: Date.now() },
        { id: a2!.id, status: 'delivered', ids: { requestId: 'req-1' } },
      ],
      Date.now(),
    );
    const [fresh] = await store.claimDue(10, Date.now() + 10);
    expect(fresh!.confirm).toBeUndefined();
    expect((await store.actionsFor(action(2).recordId))[0]).toMatchObject({ status: 'delivered', attempts: 1, deliveryIds: { requestId: 'req-1' } });
  });

  test('a delivered action is never claimed again, across a restart too, whichever way it was delivered; backlog and counts agree', async () => {
    await store.commitBatch([action(1), action(2), action(3), action(4), action(5)], [], new Map());
    const [first, retried, accepted, requeued] = await store.claimDue(4, Date.now());
    // 1 at its first attempt; 2 after a retry; 3 after an asynchronous acceptance; 4 from the dead-letter queue; 5 stays pending.
    await store.recordAttempts(
      [
        { id: first!.id, status: 'delivered', ids: { requestId: 'r-1', eventInstanceId: 'e-1' } },
        { id: retried!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: 1 },
        { id: accepted!.id, status: 'accepted', requestId: 'req-3', row: 0, nextAttemptAt: 1 },
        { id: requeued!.id, status: 'dead', code: 'MC_400', reason: 'definition paused' },
      ],
      1_000,
    );
    expect(await store.requeue([requeued!.id], 1_500)).toEqual([requeued!.id]);
    const again = await store.claimDue(10, Date.now());
    expect(again.map((a) => a.id)).toEqual([retried!.id, accepted!.id, requeued!.id, first!.id + 4]);
    await store.recordAttempts(
      again.slice(0, 3).map((a) => ({ id: a.id, status: 'delivered', ids: { requestId: `r-${a.id}` } }) as const),
      2_000,
    );
    const settled = { pending: 1, inflight: 0, delivered: 4, dead: 0 };
    const fifth = again[3]!;
    await store.recordAttempts(
      [{ id: fifth.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: Date.now() + 60_000 }],
      2_000,
    );
    expect(await store.counts()).toEqual(settled);
    expect(await store.backlog()).toBe(1);
    for (const n of [1, 2]) {
      // A clean close, then a kill: the restarted store reads every delivery from the table.
      if (n === 1) await reopen();
      else {
        await fx.crash(store);
        store = await fx.open();
      }
      expect(await store.claimDue(10, Date.now())).toEqual([]);
      expect(await store.counts()).toEqual(settled);
      expect(await store.backlog()).toBe(1);
      expect(await store.nextDueAt()).toBeGreaterThan(Date.now());
    }
    expect((await store.actionsFor(action(1).recordId))[0]).toMatchObject({
      status: 'delivered',
      attempts: 1,
      deliveredAt: 1_000,
      errorCode: null,
      deliveryIds: { requestId: 'r-1', eventInstanceId: 'e-1' },
    });
    expect((await store.trace(action(2).recordId))[0]!.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'retry'],
      [2, 'delivered'],
    ]);
    expect((await store.actionsFor(action(3).recordId))[0]).toMatchObject({ status: 'delivered', deliveryIds: { requestId: `r-${accepted!.id}` } });
    expect((await store.actionsFor(action(4).recordId))[0]).toMatchObject({ status: 'delivered', errorCode: null });
    // Retention takes every delivered row, whichever way it was recorded, and leaves the pending one.
    expect(await store.pruneDelivered(Date.now(), 100)).toBe(4);
    expect(await store.counts()).toEqual({ ...settled, delivered: 0 });
    expect((await store.actionsFor(action(5).recordId))[0]).toMatchObject({ status: 'pending' });
  });

  test('row versions: a claim at least as new as the stored one wins and is kept; an older one loses, also after a reopen', async () => {
    const c = (rowKey: string, version: number, seq: number) => ({ table: 'DE', rowKey, version, seq });
    expect(await store.claimRowVersions([c('a', 200, 5), c('b', 100, 1)])).toEqual([true, true]);
    expect(await store.claimRowVersions([c('a', 100, 9), c('a2', 1, 1), c('b', 100, 0)])).toEqual([false, true, false]);
    expect(await store.claimRowVersions([c('a', 200, 5)])).toEqual([true]);
    await reopen();
    expect(await store.claimRowVersions([c('a', 199, 99), c('b', 101, 0)])).toEqual([false, true]);
    expect(await store.claimRowVersions([{ table: 'OTHER', rowKey: 'a', version: 1, seq: 0 }])).toEqual([true]);
  });

  test('job state is saved, read back after a reopen, replaced and cleared', async () => {
    expect(await store.loadJobState('backfill:x')).toBeUndefined();
    await store.saveJobState('backfill:x', { locator: 'abc', rows: 10 });
    await reopen();
    expect(await store.loadJobState('backfill:x')).toEqual({ locator: 'abc', rows: 10 });
    await store.saveJobState('backfill:x', { locator: null, rows: 20 });
    expect(await store.loadJobState('backfill:x')).toEqual({ locator: null, rows: 20 });
    await store.saveJobState('backfill:x', undefined);
    expect(await store.loadJobState('backfill:x')).toBeUndefined();
  });

  test('status outbox: a status is stored only with its settlement, claimed once while leased, deleted when published, kept with its reason when refused, and survives a reopen', async () => {
    await store.commitBatch([action(1), action(2), action(3)], [], new Map());
    const [a1, a2, a3] = await store.claimDue(10, Date.now());
    const fields = (n: number) => ({ Record_Id__c: `r${n}`, Status__c: 'Delivered', Attempts__c: 1 });
    await store.recordAttempts(
      [
        { id: a1!.id, status: 'delivered', ids: { requestId: 'q' }, feedback: fields(1) },
        { id: a2!.id, status: 'dead', code: 'MC_REJECTED', reason: 'no', feedback: fields(2) },
        { id: a3!.id, status: 'retry', code: 'MC_SERVER_ERROR', reason: 'later', nextAttemptAt: Date.now() + 60_000 },
      ],
      Date.now(),
    );
    expect(await store.statusBacklog()).toBe(2);
    await reopen();
    const now = Date.now();
    const claimed = await store.claimStatuses(10, now, 60_000);
    expect(claimed.map((c) => [c.actionId, c.fields])).toEqual([
      [a1!.id, fields(1)],
      [a2!.id, fields(2)],
    ]);
    expect(await store.claimStatuses(10, now, 60_000)).toEqual([]); // leased
    await store.releaseStatuses([claimed[1]!.id]);
    expect((await store.claimStatuses(10, now, 60_000)).map((c) => c.id)).toEqual([claimed[1]!.id]);
    await store.settleStatuses([claimed[0]!.id], [{ id: claimed[1]!.id, reason: 'INVALID_FIELD: no such field' }], now);
    expect(await store.statusBacklog()).toBe(0);
    expect(await store.claimStatuses(10, now + 120_000, 60_000)).toEqual([]);
  });

  test('status outbox: a dead letter with a status gets it stored once, a duplicate dead letter none', async () => {
    const d = { ...deadLetter(1), feedback: { Record_Id__c: 'r', Status__c: 'Failed', Attempts__c: 0 } };
    await store.commitBatch([], [d, deadLetter(2)], new Map());
    await store.commitBatch([], [d], new Map());
    const [row] = await store.deadLetters();
    const claimed = await store.claimStatuses(10, Date.now(), 60_000);
    expect(claimed.map((c) => [c.actionId, c.fields])).toEqual([[row!.id, d.feedback]]);
  });
}
