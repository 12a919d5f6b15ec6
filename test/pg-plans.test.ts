// On a shared Postgres store, the statements on the way from Salesforce to Marketing Cloud read
// what they need whatever statistics the planner holds, and are never compiled by PostgreSQL's
// JIT (issue 18): settling a round reads the rows it settles, not every action in flight; the
// backpressure gate's count reads the queue's indexes, not the table; and a claim costs
// microseconds of planning, not a compilation at every execution.
import { backlogCount, CLAIM, openPostgresStore, SETTLE_DELIVERED, sessionOptions, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { action } from './helpers/fixtures.ts';
import { adminQuery, dropSchema, explain, freshSchemaName, requirePostgres, rowsRead, TEST_DATABASE_URL } from './helpers/postgres.ts';

let schema: string;
let store: PostgresStore | undefined;

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  schema = freshSchemaName('plans');
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await dropSchema(schema);
});

async function open(): Promise<PostgresStore> {
  store = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 2, instanceId: 'planner' });
  return store;
}

/** Commits actions `from`..`to` (inclusive) in batches of 1,000. */
async function commit(s: PostgresStore, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n += 1000)
    await s.commitBatch(
      Array.from({ length: Math.min(1000, to - n + 1) }, (_, i) => action(n + i)),
      [],
      new Map(),
    );
}

const delivered = (id: number) => ({ id, status: 'delivered' as const, ids: { requestId: `r${id}` } });

test('settling 10 delivered actions reads about those 10 rows, with 5,000 others in flight and statistics taken while the table was young', async () => {
  const s = await open();
  // The statistics of a young table (autovacuum analyzes it once, early): a few actions, none in flight.
  await commit(s, 1, 20);
  await adminQuery(`ANALYZE "${schema}".actions`);
  await commit(s, 21, 5020);
  const inFlight = await s.claimDue(5020, Date.now());
  expect(inFlight).toHaveLength(5020);

  const settled = inFlight.slice(2000, 2010).map((a) => a.id);
  const now = Date.now();
  const read = await rowsRead(schema, SETTLE_DELIVERED, [
    settled,
    settled.map((id) => `r${id}`),
    settled.map(() => null),
    settled.map(() => null),
    now,
    'planner',
  ]);
  expect(read).toBeLessThanOrEqual(20);

  // And the statement settles exactly those (through the store, which runs it).
  await s.recordAttempts(settled.map(delivered), now);
  expect(await s.backlog()).toBe(5010);
}, 60_000);

// In the bench (autovacuum on, ANALYZE at a peak of ~46,000 leases in a table of ~200,000) the
// planner counted the leases with a scan of the whole table; this smaller store did not get that
// plan from the unordered count either, so the test guards the outcome, not that regression.
test("the backpressure gate's count reads the queue's indexes: 10 left in flight of 40,000 analyzed at their peak, it reads about 10 rows, not the table", async () => {
  const s = await open();
  // A busy hour: 100,000 actions through the queue (each leaves a dead entry in the index of
  // leases until vacuum), then 40,000 in flight at once.
  for (let n = 1; n <= 100_000; n += 20_000) {
    await commit(s, n, n + 19_999);
    await s.recordAttempts(
      (await s.claimDue(20_000, Date.now())).map((a) => delivered(a.id)),
      Date.now(),
    );
  }
  await commit(s, 100_001, 140_000);
  const inFlight = await s.claimDue(40_000, Date.now());
  expect(inFlight).toHaveLength(40_000);
  // Autovacuum analyzes at the peak; then the dispatcher delivers all but 10.
  await adminQuery(`ANALYZE "${schema}".actions`);
  await s.recordAttempts(
    inFlight.slice(10).map((a) => delivered(a.id)),
    Date.now(),
  );

  expect(await s.backlog(20_000)).toBe(10);
  expect(await rowsRead(schema, backlogCount(20_000), [], 'actions')).toBeLessThanOrEqual(50);
}, 60_000);

test("the store's sessions never JIT-compile a claim, even where the server would compile every statement", async () => {
  const s = await open();
  await commit(s, 1, 100);
  // A server whose JIT thresholds every statement passes (as the claim's costs do once a
  // large backlog has been analyzed).
  const eager = '-c jit=on -c jit_above_cost=0 -c jit_inline_above_cost=0 -c jit_optimize_above_cost=0';
  const claim = (options: string) => explain(schema, CLAIM, [Date.now(), 100, 'explain', 30_000], `${eager} ${options}`);
  const { rows } = await adminQuery<{ available: boolean }>('SELECT pg_jit_available() AS available');
  // Where the server can compile at all, a plain session does: the setting below is what stops it.
  if (rows[0]!.available) expect((await claim('')).jit).toBe(true);
  expect((await claim(sessionOptions(schema, false))).jit).toBe(false);
});
