// On a shared Postgres store, work one instance commits is taken up by another instance's idle dispatcher at once (LISTEN/NOTIFY), not at its next poll, and a claim never walks over the actions in flight or waiting for a retry ahead of the due one.
import pino from 'pino';
import { Dispatcher } from '../src/delivery/dispatcher.ts';
import type { DeliveryItem, DeliveryOutcome, Target } from '../src/delivery/target.ts';
import { openPostgresStore, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { action } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';
import { claimRowsRead, dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

let schema: string;
let stores: PostgresStore[];
let dispatcher: Dispatcher | undefined;

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  schema = freshSchemaName('wake');
  stores = [];
});
afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  await Promise.all(stores.map((s) => s.close()));
  await dropSchema(schema);
});

async function open(): Promise<PostgresStore> {
  const s = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 3 });
  stores.push(s);
  return s;
}

test("an action committed by one instance is delivered by another instance's idle dispatcher well within its poll interval", async () => {
  const [a, b] = [await open(), await open()];
  const delivered: { id: number; at: number }[] = [];
  const target: Target = {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      for (const i of items) delivered.push({ id: i.id, at: Date.now() });
      return items.map((i) => ({ id: i.id, status: 'delivered', ids: { requestId: 'r' } }));
    },
  };
  // Polls every 10 s: only a wake-up explains a delivery within a second.
  dispatcher = new Dispatcher({
    store: b,
    telemetry: new Telemetry(pino({ level: 'silent' })),
    targets: { journey: target },
    pollIntervalMs: 10_000,
    notifiedPollIntervalMs: 10_000,
  });
  dispatcher.start();
  await b.listening();
  for (const n of [1, 2]) {
    const committedAt = Date.now();
    await a.commitBatch([action(n)], [], new Map());
    await waitFor(() => delivered.length === n, 5000, `action ${n} delivered by b`);
    expect(delivered[n - 1]!.at - committedAt).toBeLessThan(1000);
  }
});

test('a claim reads no action in flight nor waiting for a retry: with 600 of them ahead, the one due behind them is the only row it visits', async () => {
  const a = await open();
  await a.commitBatch(
    Array.from({ length: 601 }, (_, i) => action(i + 1)),
    [],
    new Map(),
  );
  const claimed = await a.claimDue(600, Date.now());
  expect(claimed).toHaveLength(600);
  // The first 100 failed and wait an hour for their next attempt; the other 500 are in flight.
  const inAnHour = Date.now() + 3_600_000;
  await a.recordAttempts(
    claimed.slice(0, 100).map((c) => ({ id: c.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: inAnHour })),
    Date.now(),
  );
  // The claim as the store runs it, explained on a connection set up like the store's.
  const visited = await claimRowsRead(schema, 10);
  expect(visited).toBeLessThanOrEqual(2);
  const [last] = await a.claimDue(10, Date.now());
  expect(last!.idempotencyKey).toBe('key-601');
  // The waiting ones are still found when due.
  expect(await a.nextDueAt()).toBe(inAnHour);
  expect(await a.claimDue(200, inAnHour)).toHaveLength(100);
});
