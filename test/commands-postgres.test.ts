/**
 * The operator commands work on a Postgres-configured bridge as on an embedded one:
 * `sfmc-bridge trace` prints a record's timeline and `dlq list`/`discard` work the shared
 * dead-letter queue, through the real CLI with the store URL from the environment.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPostgresStore } from '../src/outbox/postgres/store.ts';
import type { TraceEntry } from '../src/outbox/contract.ts';
import { action } from './helpers/fixtures.ts';
import { dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

const BIN = fileURLToPath(new URL('../bin/sfmc-bridge.js', import.meta.url));
const CH = '/data/ContactChangeEvent';
let dir: string;
let schema: string;
let configPath: string;

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'commands-pg-'));
  schema = freshSchemaName('cmd');
  configPath = join(dir, 'bridge.json');
  writeFileSync(configPath, JSON.stringify({ store: { kind: 'postgres', url: { env: 'BRIDGE_TEST_PG_URL' }, schema } }));
});
afterEach(async () => {
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
});

function cli(
  args: string[],
  env: Record<string, string> = { BRIDGE_TEST_PG_URL: TEST_DATABASE_URL },
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', configPath], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('trace and dlq read and work the Postgres store named by the config', async () => {
  const store = await openPostgresStore({ url: TEST_DATABASE_URL, schema });
  const delivered = action(1, { changeType: 'UPDATE', receivedAt: 1_000 });
  await store.commitBatch([delivered, action(2, { changeType: 'CREATE' })], [], new Map([[CH, '102']]));
  const [a1, a2] = await store.claimDue(10, 2_000);
  await store.recordAttempts(
    [
      { id: a1!.id, status: 'retry', code: 'MC_RATE_LIMITED', reason: '429', nextAttemptAt: 3_000 },
      { id: a2!.id, status: 'dead', code: 'MC_400', reason: 'definition paused' },
    ],
    2_000,
  );
  const [again] = await store.claimDue(10, 3_000);
  await store.recordAttempts([{ id: again!.id, status: 'delivered', ids: { requestId: 'req-1', eventInstanceId: 'ev-1' } }], 3_000);
  await store.close();

  // The 15-character form of the ID finds the record too.
  const json = cli(['trace', delivered.recordId.slice(0, 15), '--json']);
  expect(json.stderr).toBe('');
  expect(json.status).toBe(0);
  const trace = JSON.parse(json.stdout) as { key: string; entries: TraceEntry[] };
  expect(trace.key).toBe(delivered.recordId);
  expect(trace.entries).toMatchObject([
    { changeType: 'UPDATE', status: 'delivered', replayId: '101', deliveryIds: { requestId: 'req-1', eventInstanceId: 'ev-1' } },
  ]);
  expect(trace.entries[0]!.attempts.map((t) => [t.attempt, t.outcome])).toEqual([
    [1, 'retry'],
    [2, 'delivered'],
  ]);
  const text = cli(['trace', delivered.recordId]);
  expect(text.stdout).toContain('changeType=UPDATE');
  expect(text.stdout).toMatch(/delivered +attempt 2 /);

  const list = cli(['dlq', 'list', '--json']);
  expect(list.status).toBe(0);
  const rows = JSON.parse(list.stdout) as { id: number; idempotencyKey: string; history: { outcome: string }[] }[];
  expect(rows.map((r) => [r.id, r.idempotencyKey, r.history.map((h) => h.outcome)])).toEqual([[a2!.id, 'key-2', ['dead']]]);
  expect(cli(['dlq', 'discard', String(a2!.id)]).status).toBe(0);
  expect(cli(['dlq', 'list']).stdout).toContain('empty');
  expect(
    (JSON.parse(cli(['trace', action(2).recordId, '--json']).stdout) as { entries: TraceEntry[] }).entries[0]!.attempts.map((t) => t.outcome),
  ).toEqual(['dead', 'discarded']);
}, 60_000);

test('trace on a Postgres config without its URL variable names the key and exits 2', () => {
  const r = cli(['trace', action(1).recordId], { BRIDGE_TEST_PG_URL: '' });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('store.url');
  expect(r.stderr).toContain('BRIDGE_TEST_PG_URL');
});
