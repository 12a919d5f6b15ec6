// On a shared Postgres store, a contact's actions waiting behind one that waits for a retry cost the claim nothing however many they are, and come out in order once it settles; an action left parked by statements that crossed (a commit parking while the head settles) is released by the sweep; a database from before parking is parked by the migration (the conformance suite shows the contract one call at a time).
import pg from 'pg';
import type { AttemptRecord } from '../src/outbox/contract.ts';
import { PG_MIGRATIONS } from '../src/outbox/postgres/schema.ts';
import { openPostgresStore, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { action } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';
import { claimRowsRead, dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

let schema: string;
let stores: PostgresStore[];

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  schema = freshSchemaName('park');
  stores = [];
});
afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await dropSchema(schema);
});

async function open(claimLeaseMs = 30_000): Promise<PostgresStore> {
  const s = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4, claimLeaseMs });
  stores.push(s);
  return s;
}

/** The n-th action of contact `c`. */
function of(c: number, n: number): ReturnType<typeof action> {
  const key = `003C${String(c).padStart(14, '0')}`;
  return action(n, { recordId: key, contactKey: key });
}

const delivered = (id: number): AttemptRecord => ({ id, status: 'delivered', ids: { requestId: `r${id}` } });
const retry = (id: number, at: number): AttemptRecord => ({ id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: at });

test("a claim's reads do not grow with the actions waiting behind a retry of their contact: with 10,000 of them ahead it reads about the 100 it takes, and they come out in order once their heads are delivered", async () => {
  const a = await open();
  let n = 0;
  // 100 contacts each with an action that fails and waits for a retry (an hour away); 5,000
  // actions of theirs committed before the retries are recorded, 5,000 after; then 200
  // actions of other contacts: only those are due.
  await a.commitBatch(
    Array.from({ length: 100 }, (_, c) => of(c, ++n)),
    [],
    new Map(),
  );
  const heads = await a.claimDue(100, Date.now());
  expect(heads).toHaveLength(100);
  for (let batch = 0; batch < 5; batch++)
    await a.commitBatch(
      Array.from({ length: 1000 }, (_, i) => of(i % 100, ++n)),
      [],
      new Map(),
    );
  const later = Date.now() + 3_600_000;
  await a.recordAttempts(
    heads.map((h) => retry(h.id, later)),
    Date.now(),
  );
  for (let batch = 0; batch < 5; batch++)
    await a.commitBatch(
      Array.from({ length: 1000 }, (_, i) => of(i % 100, ++n)),
      [],
      new Map(),
    );
  await a.commitBatch(
    Array.from({ length: 200 }, (_, c) => of(1000 + c, ++n)),
    [],
    new Map(),
  );
  expect(await a.backlog()).toBe(10_300);
  expect(await claimRowsRead(schema, 100)).toBeLessThanOrEqual(110);
  const claimed = await a.claimDue(100, Date.now());
  expect(claimed.map((c) => c.idempotencyKey)).toEqual(Array.from({ length: 100 }, (_, i) => `key-${10_101 + i}`));
  await a.recordAttempts(
    claimed.map((c) => delivered(c.id)),
    Date.now(),
  );

  // The retries come due (claimed at `later`): delivered, each releases its contact, in order.
  const retried = await a.claimDue(200, later);
  expect(retried.map((c) => c.id).sort((x, y) => x - y)).toEqual(
    [...heads.map((h) => h.id), ...Array.from({ length: 100 }, (_, i) => 10_201 + i)].sort((x, y) => x - y),
  );
  await a.recordAttempts(
    retried.map((c) => delivered(c.id)),
    later,
  );
  const sent = new Map<string, number[]>();
  for (;;) {
    const next = await a.claimDue(500, later);
    if (next.length === 0) break;
    for (const c of next) sent.set(c.contactKey, [...(sent.get(c.contactKey) ?? []), c.id]);
    await a.recordAttempts(
      next.map((c) => delivered(c.id)),
      later,
    );
  }
  expect([...sent.values()].flat()).toHaveLength(10_000);
  for (const ids of sent.values()) expect(ids).toEqual([...ids].sort((x, y) => x - y));
  expect(await a.backlog()).toBe(0);
}, 60_000);

test("an action a commit parks while its contact's head settles (the settlement's snapshot misses it) is released by the sweep of a live instance", async () => {
  const a = await open();
  await a.commitBatch([of(1, 1)], [], new Map());
  const [head] = await a.claimDue(10, Date.now());
  await a.recordAttempts([retry(head!.id, Date.now())], Date.now());
  const [again] = await a.claimDue(10, Date.now());
  expect(again!.id).toBe(head!.id);
  // A session inserting the same idempotency key holds the commit after its snapshot (retry
  // head seen): the head's delivered settlement commits meanwhile, then the commit parks.
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key, correlation_id, payload,
        received_at, created_at) VALUES ('key-2', 'dead', 'welcome', '/c', '2', 'x', 'x', 'corr', '{}', 0, 0)`);
    const committed = a.commitBatch([of(1, 2)], [], new Map());
    await waitFor(
      async () => {
        const { rows } = await holder.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1`,
          [`sfmc-bridge ${a.instanceId.slice(0, 40)}`],
        );
        return rows[0]!.n >= 1;
      },
      5000,
      'the commit waiting',
    );
    await a.recordAttempts([delivered(head!.id)], Date.now());
    await holder.query('ROLLBACK');
    expect((await committed).inserted).toBe(1);
  } finally {
    await holder.end();
  }
  // First of its contact, yet parked: the claim does not see it, until a sweep (every lease).
  expect(await a.claimDue(10, Date.now())).toEqual([]);
  await open(200);
  await waitFor(async () => (await a.claimDue(10, Date.now())).some((c) => c.idempotencyKey === 'key-2'), 5000, 'the parked action claimed');
});

/** A connection to this test's schema, created and migrated to version 8 (before parking); the caller ends it. */
async function schemaAtVersion8(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA "${schema}"; SET search_path TO "${schema}";
      CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const [i, sql] of PG_MIGRATIONS.slice(0, 8).entries()) {
      await c.query(sql);
      await c.query('INSERT INTO schema_version (version) VALUES ($1)', [i + 1]);
    }
    return c;
  } catch (err) {
    await c.end();
    throw err;
  }
}

test('a database migrated from before parking parks the actions already waiting behind a retry, and releases them in order', async () => {
  // Schema version 8: a contact's first action waiting for a retry, due now; 300 behind it; one other due.
  const c = await schemaAtVersion8();
  try {
    await c.query(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key, correlation_id, payload,
        received_at, created_at, attempts, next_attempt_at, claimed_by, claimed_until)
      SELECT 'key-' || n, 'pending', 'welcome', '/c', n::text, k, k, 'corr', '{}', 0, 0,
        CASE WHEN n = 1 THEN 1 ELSE 0 END, CASE WHEN n = 1 THEN 1 ELSE 0 END, CASE WHEN n = 1 THEN '' END, CASE WHEN n = 1 THEN 1 END
      FROM generate_series(1, 302) AS n, LATERAL (SELECT CASE WHEN n = 302 THEN 'other' ELSE 'contact' END AS k) x`);
  } finally {
    await c.end();
  }
  const a = await open();
  expect(await a.backlog()).toBe(302);
  expect(await claimRowsRead(schema, 10)).toBeLessThanOrEqual(3);
  const order: string[] = [];
  for (;;) {
    const claimed = await a.claimDue(10, Date.now());
    if (claimed.length === 0) break;
    order.push(...claimed.map((x) => x.idempotencyKey));
    await a.recordAttempts(
      claimed.map((x) => delivered(x.id)),
      Date.now(),
    );
  }
  expect(order).toEqual(['key-1', 'key-302', ...Array.from({ length: 300 }, (_, i) => `key-${i + 2}`)]);
});

test('a database migrated by the reverted parking (its migration 9) is migrated: what it parked is released, and actions go out in order', async () => {
  const c = await schemaAtVersion8();
  try {
    // The reverted migration 9 (60ad57b), and a contact's second action it parked behind the first, delivered.
    await c.query(`ALTER TABLE actions ADD COLUMN parked boolean NOT NULL DEFAULT false,
        ADD COLUMN releases_next boolean NOT NULL DEFAULT false, ADD COLUMN parks integer NOT NULL DEFAULT 0;
      DROP INDEX actions_unclaimed;
      CREATE INDEX actions_unclaimed ON actions (id) WHERE status = 'pending' AND claimed_by IS NULL AND NOT parked;
      CREATE INDEX actions_parked ON actions (id) WHERE status = 'pending' AND parked;
      INSERT INTO schema_version (version) VALUES (9);
      INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key, correlation_id, payload,
        received_at, created_at, parked)
      VALUES ('key-1', 'delivered', 'welcome', '/c', '1', 'k', 'k', 'corr', '{}', 0, 0, false),
        ('key-2', 'pending', 'welcome', '/c', '2', 'k', 'k', 'corr', '{}', 0, 0, true)`);
  } finally {
    await c.end();
  }
  const a = await open();
  expect((await a.claimDue(10, Date.now())).map((x) => x.idempotencyKey)).toEqual(['key-2']);
  await a.commitBatch([of(1, 3), of(1, 4)], [], new Map());
  const [third] = await a.claimDue(10, Date.now());
  expect(third!.idempotencyKey).toBe('key-3');
});

test("four instances committing and settling the same contacts at once, with retries: each contact's actions go out in order, none is left parked", async () => {
  // Leases of a second: a stranded action waits for a sweep at most a second.
  const committer = await open(1000);
  const instances = [await open(1000), await open(1000), await open(1000)];
  const CONTACTS = 12;
  const TOTAL = 1200;
  const sent: { id: number; contact: string }[] = [];
  let committed = 0;
  let retried = 0;
  const commit = async (): Promise<void> => {
    while (committed < TOTAL) {
      const size = 1 + Math.floor(Math.random() * 8);
      const batch = Array.from({ length: Math.min(size, TOTAL - committed) }, (_, i) => of(Math.floor(Math.random() * CONTACTS), committed + i + 1));
      committed += batch.length;
      await committer.commitBatch(batch, [], new Map());
    }
  };
  const work = async (s: PostgresStore): Promise<void> => {
    while (sent.length < TOTAL) {
      const claimed = await s.claimDue(5, Date.now());
      if (claimed.length === 0) {
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      const records: AttemptRecord[] = [];
      for (const c of claimed) {
        // One in ten fails once and is tried again 20 ms later: its contact's later actions park meanwhile.
        if (Math.random() < 0.1 && retried < 100) {
          retried++;
          records.push(retry(c.id, Date.now() + 20));
        } else {
          sent.push({ id: c.id, contact: c.contactKey });
          records.push(delivered(c.id));
        }
      }
      await s.recordAttempts(records, Date.now());
    }
  };
  let stall: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([commit(), ...instances.map(work)]),
    new Promise((_, reject) => {
      stall = setTimeout(() => reject(new Error(`stalled: ${sent.length} of ${TOTAL} sent`)), 30_000);
    }),
  ]).finally(() => clearTimeout(stall));
  expect(retried).toBeGreaterThan(0);
  expect(new Set(sent.map((s) => s.id)).size).toBe(TOTAL);
  const byContact = new Map<string, number[]>();
  for (const s of sent) byContact.set(s.contact, [...(byContact.get(s.contact) ?? []), s.id]);
  for (const ids of byContact.values()) expect(ids).toEqual([...ids].sort((x, y) => x - y));
  expect(await committer.backlog()).toBe(0);
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  await c.connect();
  try {
    const { rows } = await c.query<{ heads: number; parked: number }>(
      `SELECT (SELECT count(*) FROM retry_heads)::int AS heads, (SELECT count(*) FROM actions WHERE parked)::int AS parked`,
    );
    expect(rows[0]).toEqual({ heads: 0, parked: 0 });
  } finally {
    await c.end();
  }
}, 40_000);
