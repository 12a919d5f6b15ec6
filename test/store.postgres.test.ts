/**
 * The Postgres store passes the store conformance suite on the real server, and keeps the
 * rules that sharing adds: instances never claim the same action, a contact's actions go out
 * in order across the fleet (a requeued dead letter too), a dead instance's claims come back, a
 * dead letter requeued by one instance is delivered by any, and concurrent starts migrate once.
 */
import { openPostgresStore, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { PG_MIGRATIONS } from '../src/outbox/postgres/schema.ts';
import type { Store } from '../src/outbox/contract.ts';
import { action, deadLetter } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';
import { adminQuery, dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';
import { storeConformance } from './store-conformance.ts';

const CH = '/data/ContactChangeEvent';

beforeAll(async () => {
  await requirePostgres();
});

describe('Postgres store', () => {
  storeConformance(async () => {
    const schema = freshSchemaName('conf');
    return {
      open: (options) => openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 3, claimLeaseMs: options?.claimLeaseMs }),
      crash: (store) => (store as PostgresStore).close({ keepClaims: true }),
      dispose: () => dropSchema(schema),
    };
  });
});

describe('Postgres store, shared by several instances', () => {
  let schema: string;
  const opened: Store[] = [];
  const open = async (claimLeaseMs = 30_000): Promise<PostgresStore> => {
    const s = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4, claimLeaseMs });
    opened.push(s);
    return s;
  };
  beforeEach(() => {
    schema = freshSchemaName('shared');
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await dropSchema(schema);
  });

  test('three instances starting at once on a fresh schema apply each migration exactly once', async () => {
    const stores = await Promise.all([open(), open(), open()]);
    const { rows } = await adminQuery<{ version: number }>(`SELECT version FROM "${schema}".schema_version ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    // All three work on the same tables.
    await stores[0]!.commitBatch([action(1)], [], new Map([[CH, '101']]));
    expect((await stores[2]!.loadCheckpoints()).get(CH)).toBe('101');
    expect(await stores[1]!.backlog()).toBe(1);
  });

  test('a schema migrated by a newer bridge is refused with a message naming both versions', async () => {
    await (await open()).close();
    await adminQuery(`INSERT INTO "${schema}".schema_version (version) VALUES ($1)`, [PG_MIGRATIONS.length + 1]);
    await expect(openPostgresStore({ url: TEST_DATABASE_URL, schema })).rejects.toThrow(
      `version ${PG_MIGRATIONS.length + 1}, newer than this bridge knows (${PG_MIGRATIONS.length})`,
    );
  });

  test('a batch the database refuses half-way stores nothing and leaves the checkpoint where it was', async () => {
    const s = await open();
    await s.commitBatch([action(1)], [], new Map([[CH, '101']]));
    // PostgreSQL refuses a NUL character in text: the failure comes from the server, mid-transaction.
    await expect(
      s.commitBatch(
        [action(2)],
        [],
        new Map([
          [CH, '102'],
          ['/data/Bad\u0000Channel', '1'],
        ]),
      ),
    ).rejects.toThrow();
    expect((await s.loadCheckpoints()).get(CH)).toBe('101');
    expect(await s.actionsFor(action(2).recordId)).toHaveLength(0);
    expect(await s.backlog()).toBe(1);
  });

  test('instances claiming at the same time never get the same action, and together get all of them', async () => {
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    await a!.commitBatch(
      Array.from({ length: 300 }, (_, i) => action(i)),
      [],
      new Map(),
    );
    const got: number[][] = [[], [], []];
    const drain = async (s: Store, into: number[]): Promise<void> => {
      for (let batch = await s.claimDue(7, Date.now()); batch.length > 0; batch = await s.claimDue(7, Date.now())) {
        into.push(...batch.map((x) => x.id));
      }
    };
    await Promise.all([drain(a!, got[0]!), drain(b!, got[1]!), drain(c!, got[2]!)]);
    const all = got.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(300);
    expect(got.filter((g) => g.length > 0).length).toBeGreaterThan(1);
    expect((await a!.counts()).inflight).toBe(300);
  });

  test("a contact's next action is not claimed while an earlier one is in flight anywhere or waiting for a retry", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const x = action(1).recordId;
    const xSecond = action(2, { recordId: x, contactKey: x });
    await a!.commitBatch([action(1), xSecond, action(3)], [], new Map());
    // A takes the first of contact X and contact Y's action; X's second waits behind the first.
    const first = await a!.claimDue(10, Date.now());
    expect(first.map((q) => q.idempotencyKey)).toEqual(['key-1', 'key-3']);
    expect(await b!.claimDue(10, Date.now())).toEqual([]);
    // A retry later keeps the order: the second still waits.
    const later = Date.now() + 60_000;
    await a!.recordAttempts(
      [
        { id: first[0]!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: later },
        { id: first[1]!.id, status: 'delivered', ids: {} },
      ],
      Date.now(),
    );
    expect(await b!.claimDue(10, Date.now())).toEqual([]);
    expect(await b!.nextDueAt()).toBe(later);
    const retry = await b!.claimDue(10, later);
    expect(retry.map((q) => q.idempotencyKey)).toEqual(['key-1']);
    expect(await a!.claimDue(10, later)).toEqual([]);
    await b!.recordAttempts([{ id: retry[0]!.id, status: 'delivered', ids: {} }], Date.now());
    // Once the first is settled (delivered or dead), the second is due, for whichever instance asks.
    expect((await a!.claimDue(10, Date.now())).map((q) => q.idempotencyKey)).toEqual(['key-2']);
  });

  test("a live instance renews its claims; a dead one's claims run out and another instance recovers them", async () => {
    const a = await open(300);
    const b = await open(300);
    await a.commitBatch([action(1), action(2)], [], new Map());
    expect(await a.claimDue(10, Date.now())).toHaveLength(2);
    // Several lease lengths pass: A renews, B gets nothing.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect(await b.claimDue(10, Date.now())).toEqual([]);
    }
    await a.close({ keepClaims: true });
    let recovered = 0;
    await waitFor(async () => (recovered += await b.recoverInflight()) >= 2, 10_000, "the dead instance's leases to run out");
    expect(recovered).toBe(2);
    const again = await b.claimDue(10, Date.now());
    expect(again.map((q) => q.idempotencyKey)).toEqual(['key-1', 'key-2']);
    const [row] = await b.actionsFor(action(1).recordId);
    expect(row!.status).toBe('inflight');
  });

  test("an instance whose claim was taken over cannot overwrite the new holder's outcome", async () => {
    const a = await open(30_000);
    const b = await open(30_000);
    await a.commitBatch([action(1)], [], new Map());
    const [mine] = await a.claimDue(10, Date.now());
    // A stalls (as if its event loop froze) until its lease runs out (set here; its next renewal is 10 s away); B claims.
    await adminQuery(`UPDATE "${schema}".actions SET claimed_until = 0`);
    const [theirs] = await b.claimDue(10, Date.now());
    expect(theirs!.id).toBe(mine!.id);
    await a.recordAttempts([{ id: mine!.id, status: 'dead', code: 'MC_400', reason: 'late outcome' }], Date.now());
    expect((await b.actionsFor(action(1).recordId))[0]).toMatchObject({ status: 'inflight', errorCode: null });
    await b.recordAttempts([{ id: theirs!.id, status: 'delivered', ids: { eventInstanceId: 'e-b' } }], Date.now());
    expect((await b.actionsFor(action(1).recordId))[0]).toMatchObject({ status: 'delivered', deliveryIds: { eventInstanceId: 'e-b' }, attempts: 1 });
  });

  test('retries and dead letters are kept in the attempts history with the instance that made them', async () => {
    const s = await open();
    await s.commitBatch([action(1)], [], new Map());
    let [a] = await s.claimDue(1, Date.now());
    await s.recordAttempts([{ id: a!.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: 1 }], 1000);
    [a] = await s.claimDue(1, Date.now());
    await s.recordAttempts([{ id: a!.id, status: 'dead', code: 'MC_400', reason: 'bad key' }], 2000);
    const { rows } = await adminQuery(`SELECT at, outcome, code, detail, instance FROM "${schema}".attempts ORDER BY at`);
    expect(rows).toEqual([
      { at: '1000', outcome: 'retry', code: 'MC_HTTP_503', detail: 'unavailable', instance: s.instanceId },
      { at: '2000', outcome: 'dead', code: 'MC_400', detail: 'bad key', instance: s.instanceId },
    ]);
  });

  test('a dead letter requeued by one instance is claimed by whichever asks, and waits while a later action of its contact is in flight', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const x = action(1).recordId;
    await a.commitBatch([action(1)], [], new Map());
    const [first] = await a.claimDue(10, Date.now());
    await a.recordAttempts([{ id: first!.id, status: 'dead', code: 'MC_400', reason: 'definition paused' }], Date.now());
    // A later action of the same contact goes out while the first sits in the queue.
    await a.commitBatch([action(2, { recordId: x, contactKey: x })], [], new Map());
    const [second] = await b.claimDue(10, Date.now());
    expect(second!.idempotencyKey).toBe('key-2');
    // The operator requeues through A (the dlq command's own instance). The first is older, but
    // its contact already has an action in flight at B: it waits for that one.
    expect(await a.requeue([first!.id], Date.now())).toEqual([first!.id]);
    expect(await a.claimDue(10, Date.now())).toEqual([]);
    expect(await b.claimDue(10, Date.now())).toEqual([]);
    expect(await a.nextDueAt()).toBeGreaterThan(Date.now());
    await b.recordAttempts([{ id: second!.id, status: 'delivered', ids: {} }], Date.now());
    expect(await a.nextDueAt()).toBeLessThanOrEqual(Date.now());
    // Nothing of A's old claim is left on it: B, which never saw it, delivers it.
    const again = await b.claimDue(10, Date.now());
    expect(again.map((q) => [q.id, q.attempts])).toEqual([[first!.id, 0]]);
    await b.recordAttempts([{ id: first!.id, status: 'delivered', ids: { eventInstanceId: 'e-2' } }], Date.now());
    const [entry] = await a.trace(x);
    expect(entry!.attempts.map((t) => t.outcome)).toEqual(['dead', 'requeued', 'delivered']);
    const { rows } = await adminQuery(`SELECT outcome, instance FROM "${schema}".attempts ORDER BY seq`);
    expect(rows).toEqual([
      { outcome: 'dead', instance: a.instanceId },
      { outcome: 'requeued', instance: a.instanceId },
    ]);
  });

  test("a requeued dead letter earlier than a contact's waiting action goes first", async () => {
    const s = await open();
    const x = action(1).recordId;
    await s.commitBatch([action(1)], [], new Map());
    const [first] = await s.claimDue(10, Date.now());
    await s.recordAttempts([{ id: first!.id, status: 'dead', code: 'MC_400', reason: 'refused' }], Date.now());
    await s.commitBatch([action(2, { recordId: x, contactKey: x })], [], new Map());
    await s.requeue([first!.id], Date.now());
    expect((await s.claimDue(10, Date.now())).map((q) => q.idempotencyKey)).toEqual(['key-1']);
  });

  test('a schema of version 1 with rows is migrated in place: old rows trace (change type unknown), history in written order', async () => {
    await adminQuery(`CREATE SCHEMA "${schema}"`);
    await adminQuery(`SET search_path TO "${schema}"; ${PG_MIGRATIONS[0]}
      CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO schema_version (version) VALUES (1);
      INSERT INTO actions (idempotency_key, status, route, target, channel, replay_id, record_id, contact_key, correlation_id, payload, attempts, received_at, created_at, error_code, error)
        VALUES ('k', 'dead', 'r', 'journey', '${CH}', '7', 'R1', 'R1', 'c', '{}', 2, 1, 1, 'MC_400', 'no');
      INSERT INTO attempts (action_id, at, outcome, code, detail) SELECT id, 5, 'retry', 'MC_HTTP_503', 'first' FROM actions;
      INSERT INTO attempts (action_id, at, outcome, code, detail) SELECT id, 5, 'dead', 'MC_400', 'second' FROM actions;`);
    const s = await open();
    const [entry] = await s.trace('R1');
    expect(entry).toMatchObject({ replayId: '7', changeType: null, status: 'dead' });
    expect(entry!.attempts.map((t) => [t.attempt, t.detail])).toEqual([
      [1, 'first'],
      [2, 'second'],
    ]);
    expect((await s.deadLetters())[0]).toMatchObject({ idempotencyKey: 'k', discardedAt: null });
    expect(await s.loadCommitMarks()).toEqual(new Map());
  });

  test('retention on instances pruning at once deletes each delivered row once', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    await a.commitBatch(
      Array.from({ length: 40 }, (_, i) => action(i)),
      [deadLetter(1)],
      new Map(),
    );
    const claimed = await a.claimDue(100, Date.now());
    await a.recordAttempts(
      claimed.map((q) => ({ id: q.id, status: 'delivered' as const, ids: {} })),
      1_000,
    );
    const prune = async (s: PostgresStore): Promise<number> => {
      let total = 0;
      for (let n = await s.pruneDelivered(2_000, 3); n > 0; n = await s.pruneDelivered(2_000, 3)) total += n;
      return total;
    };
    const [na, nb] = await Promise.all([prune(a), prune(b)]);
    expect(na + nb).toBe(40);
    expect(await a.counts()).toEqual({ pending: 0, inflight: 0, delivered: 0, dead: 1 });
  });
});
