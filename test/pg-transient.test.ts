// A deadlock on the shared Postgres store costs a second run of the statement inside the store, never an action lost, sent twice or a stopped dispatcher; and the store's own lease renewal never takes part in one.
import pino from 'pino';
import pg from 'pg';
import { Dispatcher } from '../src/delivery/dispatcher.ts';
import type { DeliveryItem, DeliveryOutcome, Target } from '../src/delivery/target.ts';
import type { AttemptRecord } from '../src/outbox/contract.ts';
import { openPostgresStore, type PostgresStore } from '../src/outbox/postgres/store.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { action } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';
import { adminQuery, dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

let schema: string;
let stores: PostgresStore[];
let dispatcher: Dispatcher | undefined;

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  schema = freshSchemaName('transient');
  stores = [];
});
afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  await Promise.all(stores.map((s) => s.close()));
  await dropSchema(schema);
});

interface Opened {
  store: PostgresStore;
  /** SQLSTATEs (or socket codes) of the statements the store ran again. */
  retried: string[];
}

async function open(options: { claimLeaseMs?: number } = {}): Promise<Opened> {
  const retried: string[] = [];
  const store = await openPostgresStore({
    url: TEST_DATABASE_URL,
    schema,
    poolSize: 3,
    instanceId: `transient-${schema}`,
    onRetry: (err) => retried.push(String((err as { code?: unknown }).code)),
    ...options,
  });
  stores.push(store);
  return { store, retried };
}

/**
 * Another session takes the lock of action `held`, then, once the store waits for it, asks for
 * action `wanted`, which the store holds: a deadlock. Its deadlock_timeout is the longer, so the
 * server breaks the cycle on the store's side. It lets go of both once it has `wanted`.
 */
async function deadlockAgainst(held: number, wanted: number): Promise<{ closed: Promise<void> }> {
  const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await other.connect();
  await other.query(`SET deadlock_timeout = '30s'`);
  await other.query('BEGIN');
  await other.query(`SELECT 1 FROM "${schema}".actions WHERE id = $1 FOR UPDATE`, [held]);
  const closed = (async () => {
    try {
      await waitFor(
        async () =>
          (
            await adminQuery<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
              [`sfmc-bridge transient-${schema}`.slice(0, 63)],
            )
          ).rows[0]!.n > 0,
        10_000,
        'the store waiting for the held row',
      );
      await other.query(`SELECT 1 FROM "${schema}".actions WHERE id = $1 FOR UPDATE`, [wanted]);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
  })();
  return { closed };
}

test.each([
  ['all delivered (one statement)', (ids: number[]): AttemptRecord[] => ids.map((id) => ({ id, status: 'delivered', ids: { requestId: `r${id}` } }))],
  [
    'delivered and a retry (one transaction)',
    (ids: number[]): AttemptRecord[] => [
      { id: ids[0]!, status: 'delivered', ids: { requestId: `r${ids[0]}` } },
      { id: ids[1]!, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: Date.now() + 60_000 },
    ],
  ],
])('a settlement the server picks as a deadlock victim is run again and recorded once: %s', async (_name, outcomes) => {
  const { store, retried } = await open();
  await store.commitBatch([action(1), action(2)], [], new Map());
  const claimed = await store.claimDue(10, Date.now());
  const ids = claimed.map((a) => a.id);
  // The settlement locks the first row, then waits for the second, which the other session holds.
  const { closed } = await deadlockAgainst(ids[1]!, ids[0]!);
  await store.recordAttempts(outcomes(ids), Date.now());
  await closed;

  expect(retried).toEqual(['40P01']);
  const records = outcomes(ids);
  for (const [i, id] of ids.entries()) {
    const [row] = await store.actionsFor(action(i + 1).recordId);
    expect(row).toMatchObject({ id, attempts: 1, status: records[i]!.status === 'delivered' ? 'delivered' : 'pending' });
    // One attempt row per attempt, not one per run of the transaction.
    expect((await store.attemptsOf(id)).length).toBe(records[i]!.status === 'retry' ? 1 : 0);
  }
});

test('a dispatcher whose settlement deadlocks delivers every action once and goes on delivering', async () => {
  const { store, retried } = await open();
  await store.commitBatch(
    Array.from({ length: 10 }, (_, i) => action(i + 1)),
    [],
    new Map(),
  );
  const sent = new Map<number, number>();
  let cycle: Promise<{ closed: Promise<void> }> | undefined;
  const target: Target = {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      for (const i of items) sent.set(i.id, (sent.get(i.id) ?? 0) + 1);
      // The first answer: its settlement will wait for a row another session holds, and deadlock.
      if (!cycle) await (cycle = deadlockAgainst(items.at(-1)!.id, items[0]!.id));
      return items.map((i) => ({ id: i.id, status: 'delivered', ids: { requestId: `r${i.id}` } }));
    },
  };
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  dispatcher = new Dispatcher({ store, telemetry: new Telemetry(logger), targets: { journey: target }, pollIntervalMs: 20 });
  dispatcher.start();
  await waitFor(() => sent.size === 10, 15_000, 'the first ten sent');
  await (await cycle!).closed;
  await store.commitBatch(
    Array.from({ length: 5 }, (_, i) => action(i + 11)),
    [],
    new Map(),
  );
  dispatcher.wake();
  await waitFor(async () => (await store.counts()).delivered === 15, 15_000, 'all fifteen delivered');

  expect(retried).toEqual(['40P01']);
  expect([...sent.values()].every((n) => n === 1)).toBe(true);
  expect(sent.size).toBe(15);
  // The dispatcher never saw the deadlock: no round failed.
  expect(lines.filter((l) => l.event === 'store_failed')).toEqual([]);
});

test('the lease renewal never waits for a row, so settling rounds out of id order never deadlock with it', async () => {
  // Leases of 150 ms are renewed every 50 ms, while rounds of 300 mixed outcomes are settled
  // in reverse id order. Renewal used to lock this instance's rows in id order and wait for
  // the ones a settlement held: PostgreSQL found a deadlock every few rounds.
  const { store, retried } = await open({ claimLeaseMs: 150 });
  const total = 6000;
  for (let n = 0; n < total; n += 1000)
    await store.commitBatch(
      Array.from({ length: 1000 }, (_, i) => action(n + i + 1, { contactKey: `c${n + i}` })),
      [],
      new Map(),
    );
  for (;;) {
    const claimed = await store.claimDue(300, Date.now());
    if (claimed.length === 0) break;
    const records: AttemptRecord[] = claimed.map((a, i) =>
      i % 3 === 0
        ? { id: a.id, status: 'retry', code: 'MC_HTTP_503', reason: 'unavailable', nextAttemptAt: Date.now() + 3_600_000 }
        : { id: a.id, status: 'delivered', ids: { requestId: 'r' } },
    );
    await store.recordAttempts(records.reverse(), Date.now());
  }
  expect(retried).toEqual([]);
  expect(await store.counts()).toMatchObject({ delivered: 4000, pending: 2000, inflight: 0 });
}, 60_000);
