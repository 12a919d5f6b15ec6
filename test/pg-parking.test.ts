// On a shared Postgres store, a contact's actions waiting behind one in flight or waiting for a retry cost the claim nothing however many they are, a waiting action left parked by a process that died between its head's settlement and the release is released, and instances committing and settling the same contacts at once keep every contact's order and leave nothing parked (the conformance suite shows one at a time).
import pg from 'pg';
import type { AttemptRecord } from '../src/outbox/contract.ts';
import { PG_MIGRATIONS } from '../src/outbox/postgres/schema.ts';
import { CLAIM, openPostgresStore, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { action } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';
import { dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

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

test("a claim's reads do not grow with the actions waiting behind their contact: with 10,000 of them ahead, it reads the 100 it takes", async () => {
  const a = await open();
  let n = 0;
  // 100 contacts each with an action in flight, 100 more actions of each behind it, then 200
  // actions of other contacts: only those are due.
  await a.commitBatch(
    Array.from({ length: 100 }, (_, c) => of(c, ++n)),
    [],
    new Map(),
  );
  expect(await a.claimDue(100, Date.now())).toHaveLength(100);
  for (let batch = 0; batch < 10; batch++)
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
  const plan = await explainClaim(100);
  const visited = scansOfActions(plan).reduce(
    (sum, node) => sum + node['Actual Rows'] * node['Actual Loops'] + (node['Rows Removed by Filter'] ?? 0),
    0,
  );
  expect(visited).toBeLessThanOrEqual(110);
  const claimed = await a.claimDue(100, Date.now());
  expect(claimed.map((c) => c.idempotencyKey)).toEqual(Array.from({ length: 100 }, (_, i) => `key-${10_101 + i}`));
});

test("an action left parked by a process that died between its contact's settlement and the release is released by the sweep of a live instance", async () => {
  // The release is a statement apart only when a commit parked an action behind the settled one
  // after the settlement's snapshot: a session holding the head's lock lines the two up.
  let dying = false;
  const query = pg.Pool.prototype.query;
  pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
    if (dying && (args[0] as { name?: string })?.name === 'sfmc-release') return Promise.reject(new Error('killed before the release'));
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  let a: PostgresStore;
  try {
    a = await open();
    const b = await open();
    await a.commitBatch([of(1, 1)], [], new Map());
    const [first] = await a.claimDue(10, Date.now());
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM actions WHERE id = $1 FOR SHARE', [first!.id]);
    const waiting = async (n: number): Promise<boolean> => {
      const { rows } = await holder.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = ANY($1)`,
        [[a, b].map((s) => `sfmc-bridge ${s.instanceId.slice(0, 40)}`)],
      );
      return rows[0]!.n >= n;
    };
    // b's commit waits for the head first, then a's settlement (its snapshot taken): b parks first.
    const committed = b.commitBatch([of(1, 2), of(2, 3)], [], new Map());
    await waitFor(() => waiting(1), 5000, "b's commit waiting for the head");
    dying = true;
    const settled = a.recordAttempts([delivered(first!.id)], Date.now());
    await waitFor(() => waiting(2), 5000, "a's settlement waiting for the head");
    await holder.query('COMMIT');
    await committed;
    await expect(settled).rejects.toThrow('killed before the release');
    expect((await a.actionsFor(first!.recordId))[0]!.status).toBe('delivered');
  } finally {
    pg.Pool.prototype.query = query;
    await holder.end();
  }
  // The other contact goes on; the parked one waits, until another instance's sweep (every lease) releases it.
  const taken = (await a.claimDue(10, Date.now())).map((c) => c.idempotencyKey);
  expect(taken).toEqual(['key-3']);
  await open(200);
  await waitFor(
    async () => {
      for (const c of await a.claimDue(10, Date.now())) taken.push(c.idempotencyKey);
      return taken.includes('key-2');
    },
    5000,
    'the parked action claimed',
  );
});

test("a batch whose first action of a contact is a refused duplicate does not leave the contact's next one parked", async () => {
  const a = await open();
  await a.commitBatch([of(1, 1)], [], new Map());
  const [first] = await a.claimDue(10, Date.now());
  await a.recordAttempts([delivered(first!.id)], Date.now());
  // Received again with a later change of the contact: the first is refused, the second is due now.
  expect((await a.commitBatch([of(1, 1), of(1, 2)], [], new Map())).duplicates).toBe(1);
  expect((await a.claimDue(10, Date.now())).map((c) => c.idempotencyKey)).toEqual(['key-2']);
});

test('a database migrated from before parking parks the actions already waiting behind their contact, and releases them in order', async () => {
  // Schema version 8, as the bridge before this one left it: a contact's first action in flight, 300 waiting behind it, one other due.
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA "${schema}"; SET search_path TO "${schema}";
      CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const [i, sql] of PG_MIGRATIONS.slice(0, 8).entries()) {
      await c.query(sql);
      await c.query('INSERT INTO schema_version (version) VALUES ($1)', [i + 1]);
    }
    await c.query(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key, correlation_id, payload,
        received_at, created_at, claimed_by, claimed_until)
      SELECT 'key-' || n, 'pending', 'welcome', '/c', n::text, k, k, 'corr', '{}', 0, 0,
        CASE WHEN n = 1 THEN 'old-instance' END, CASE WHEN n = 1 THEN 0 END
      FROM generate_series(1, 302) AS n, LATERAL (SELECT CASE WHEN n = 302 THEN 'other' ELSE 'contact' END AS k) x`);
  } finally {
    await c.end();
  }
  const a = await open();
  expect(await a.backlog()).toBe(302);
  const plan = await explainClaim(10);
  const visited = scansOfActions(plan).reduce(
    (sum, node) => sum + node['Actual Rows'] * node['Actual Loops'] + (node['Rows Removed by Filter'] ?? 0),
    0,
  );
  expect(visited).toBeLessThanOrEqual(3);
  // The old instance's lease ran out: its action comes back first, with the other contact's; then one at a time.
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

test("four instances committing and settling the same contacts at once: each contact's actions go out in order, none is left parked", async () => {
  const committer = await open();
  const instances = [await open(), await open(), await open()];
  const CONTACTS = 12;
  const TOTAL = 1200;
  // In the order sent: a contact's next action is claimable only once this one's settlement is committed.
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
        // One in ten fails once and is tried again at once: its contact keeps waiting meanwhile.
        if (Math.random() < 0.1 && retried < 100) {
          retried++;
          records.push({ id: c.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: Date.now() });
        } else {
          sent.push({ id: c.id, contact: c.contactKey });
          records.push(delivered(c.id));
        }
      }
      await s.recordAttempts(records, Date.now());
    }
  };
  // Nothing may wait for the sweep (every 30 s): a stranded action would stop the run.
  let stall: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([commit(), ...instances.map(work)]),
    new Promise((_, reject) => {
      stall = setTimeout(() => reject(new Error(`stalled: ${sent.length} of ${TOTAL} sent`)), 20_000);
    }),
  ]).finally(() => clearTimeout(stall));
  expect(new Set(sent.map((s) => s.id)).size).toBe(TOTAL);
  const byContact = new Map<string, number[]>();
  for (const s of sent) byContact.set(s.contact, [...(byContact.get(s.contact) ?? []), s.id]);
  for (const ids of byContact.values()) expect(ids).toEqual([...ids].sort((x, y) => x - y));
  expect(await committer.backlog()).toBe(0);
}, 30_000);

interface PlanNode {
  'Node Type': string;
  Alias?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** EXPLAIN ANALYZE of the store's claim, rolled back (nothing is claimed). */
async function explainClaim(limit: number): Promise<PlanNode> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema} -c enable_bitmapscan=off` });
  await client.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${CLAIM}`, [
      Date.now(),
      limit,
      'explain',
      30_000,
    ]);
    return rows[0]!['QUERY PLAN'][0].Plan;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
  }
}

/** The scans of the claimed rows (alias `a`) in a plan. */
function scansOfActions(node: PlanNode): PlanNode[] {
  const here = node.Alias === 'a' && node['Node Type'].includes('Scan') ? [node] : [];
  return [...here, ...(node.Plans ?? []).flatMap(scansOfActions)];
}
