/** With --json, `check`, `trace` and `dlq` answer one JSON object on failure too (sf CLI style), with the same exit codes as without; a store that does not exist yet is said plainly, exit 1. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/bridge-process.ts';

let dir: string;
let noStore: string;
let invalid: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-json-'));
  noStore = join(dir, 'no-store.json');
  writeFileSync(noStore, JSON.stringify({ store: { kind: 'sqlite', path: join(dir, 'never-ran.db') } }));
  invalid = join(dir, 'invalid.json');
  writeFileSync(invalid, JSON.stringify({ dispatcher: { batchSize: 'many' } }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SF|MC)_/.test(k) && k !== 'SFMC_BRIDGE_CONFIG'));

/** Runs the CLI; with --json the failure must be exactly one JSON object on stderr and nothing on stdout. */
async function failing(args: string[]): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await runCli(args, env, 60_000);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  return { status: r.status, json: JSON.parse(lines[0]!) as Record<string, unknown> };
}

test('an invalid config is status 2 ConfigError naming the key, for check, trace and dlq alike', async () => {
  const runs = await Promise.all([
    failing(['check', '--config', invalid, '--offline', '--json']),
    failing(['trace', '0035g0000100000AAA', '--config', invalid, '--json']),
    failing(['dlq', 'list', '--config', invalid, '--json']),
  ]);
  for (const r of runs) {
    expect(r.status).toBe(2);
    expect(r.json).toMatchObject({ status: 2, name: 'ConfigError', code: 'CONFIG_INVALID', key: 'dispatcher.batchSize' });
    expect(r.json.message).toContain('dispatcher.batchSize');
  }
}, 90_000);

test('a missing config file and a bad argument are status 2 as JSON', async () => {
  const missing = await failing(['trace', 'x', '--config', join(dir, 'nope.json'), '--json']);
  expect(missing).toMatchObject({ status: 2, json: { status: 2, name: 'ConfigError' } });
  expect(missing.json.message).toContain('nope.json');
  const badLimit = await failing(['dlq', 'list', '--limit', 'lots', '--json']);
  expect(badLimit).toMatchObject({ status: 2, json: { status: 2, name: 'ConfigError', key: '--limit' } });
  const unknown = await failing(['dlq', 'list', '--jsonn', '--json']);
  expect(unknown).toMatchObject({ status: 2, json: { status: 2, name: 'UsageError' } });
  expect(unknown.json.message).toContain('--jsonn');
  const noIds = await failing(['dlq', 'retry', '--json']);
  expect(noIds).toMatchObject({ status: 2, json: { name: 'ConfigError', key: 'dlq retry' } });
}, 90_000);

test('trace and dlq on a store that does not exist yet say so plainly and exit 1, as text and as JSON', async () => {
  for (const args of [
    ['trace', '0035g0000100000AAA'],
    ['dlq', 'list'],
  ]) {
    const json = await failing([...args, '--config', noStore, '--json']);
    expect(json.status).toBe(1);
    expect(json.json).toMatchObject({ status: 1, name: 'StoreNotFoundError', code: 'STORE_NOT_FOUND' });
    expect(json.json.message).toContain('never-ran.db');
    const text = await runCli([...args, '--config', noStore], env, 60_000);
    expect(text.status).toBe(1);
    expect(text.stderr).toMatch(/^sfmc-bridge: no store at ".*never-ran\.db" yet: the bridge has not run with this config here/);
    expect(text.stderr).not.toContain('invalid configuration');
  }
}, 90_000);
