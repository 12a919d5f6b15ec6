// On a shared Postgres store, settling a round of deliveries reads the rows it settles and no
// other: not every action in flight, however many there are and however old the table's
// statistics (issue 18: each settlement used to read all the leases, half of PostgreSQL's time
// in the default bench).
import { openPostgresStore, SETTLE_DELIVERED, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { action } from './helpers/fixtures.ts';
import { adminQuery, dropSchema, freshSchemaName, requirePostgres, rowsRead, TEST_DATABASE_URL } from './helpers/postgres.ts';

let schema: string;
let store: PostgresStore | undefined;

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  schema = freshSchemaName('settle');
});
afterEach(async () => {
  await store?.close();
  await dropSchema(schema);
});

test('settling 10 delivered actions reads about those 10 rows, with 5,000 others in flight and statistics taken while the table was young', async () => {
  store = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 2, instanceId: 'settler' });
  // The statistics of a young table (autovacuum analyzes it once, early): a few actions, none in flight.
  await store.commitBatch(
    Array.from({ length: 20 }, (_, i) => action(i + 1)),
    [],
    new Map(),
  );
  await adminQuery(`ANALYZE "${schema}".actions`);
  for (let batch = 0; batch < 5; batch++)
    await store.commitBatch(
      Array.from({ length: 1000 }, (_, i) => action(21 + batch * 1000 + i)),
      [],
      new Map(),
    );
  const inFlight = await store.claimDue(5020, Date.now());
  expect(inFlight).toHaveLength(5020);

  const settled = inFlight.slice(2000, 2010).map((a) => a.id);
  const now = Date.now();
  const read = await rowsRead(schema, SETTLE_DELIVERED, [
    settled,
    settled.map((id) => `r${id}`),
    settled.map(() => null),
    settled.map(() => null),
    now,
    'settler',
  ]);
  expect(read).toBeLessThanOrEqual(20);

  // And the statement settles exactly those (through the store, which runs it).
  await store.recordAttempts(
    settled.map((id) => ({ id, status: 'delivered', ids: { requestId: `r${id}` } })),
    now,
  );
  expect(await store.backlog()).toBe(5010);
}, 60_000);
