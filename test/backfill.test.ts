// `backfill` loads existing records through a route: a dry run writes nothing, send routes are refused without --confirm-sends, a row the live stream wrote more recently is never overwritten (not even one changed while its page is being written), and a backfill killed with SIGKILL resumes where it stopped with every record written exactly once.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { runBackfillCommand } from '../src/commands/backfill.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { loadMappers } from '../src/route/mapper-loader.ts';
import { openSalesforceSession } from '../src/salesforce/auth.ts';
import { planBackfill } from '../src/backfill/plan.ts';
import { runBackfill } from '../src/backfill/run.ts';
import { BulkQuerySource } from '../src/backfill/source.ts';
import { ConfigError } from '../src/core/errors.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { McTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient } from '../src/delivery/mc/http.ts';
import { createDataExtensionTarget } from '../src/delivery/targets/data-extension.ts';
import { BIN, exited, runCli, startBridge } from './helpers/bridge-process.ts';
import { waitFor } from './helpers/harness.ts';

const SF_TOKEN = '00Dxx0000001gPF!BackfillTestToken';
const ID = 'backfill-client';
const SECRET = 'backfill-client-secret-1';
const KEY = 'Contacts_Mirror';
const SEEDED_AT = Date.parse('2026-03-01T00:00:00.000Z');

let sf: StreamingEmulator;
let mc: McEmulator;
let dir: string;
let configPath: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN });
  mc = await startMcEmulator({
    clientId: ID,
    clientSecret: SECRET,
    dataExtensions: [
      {
        key: KEY,
        fields: [
          { name: 'ContactKey', type: 'Text', isPrimaryKey: true },
          { name: 'Email', type: 'EmailAddress' },
          { name: 'LastName', type: 'Text' },
        ],
      },
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'backfill-'));
  configPath = join(dir, 'bridge.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      salesforce: { auth: { method: 'access_token' } },
      channels: [{ name: '/data/ContactChangeEvent' }],
      routes: [
        {
          name: 'contacts-de',
          channel: '/data/ContactChangeEvent',
          target: { type: 'dataExtension', key: KEY, fieldTypes: { Email: 'EmailAddress' } },
          mapping: { data: { Email: 'Email', LastName: 'LastName' } },
        },
        {
          name: 'welcome',
          channel: '/data/ContactChangeEvent',
          target: { type: 'journey', eventDefinitionKey: 'APIEvent-welcome' },
          mapping: { data: { Email: 'Email' } },
        },
      ],
      store: { kind: 'sqlite', path: join(dir, 'bridge.db') },
      log: { level: 'silent' },
    }),
  );
  env = {
    ...process.env,
    SF_INSTANCE_URL: sf.url,
    SF_ACCESS_TOKEN: SF_TOKEN,
    MC_AUTH_BASE_URL: mc.authBaseUrl,
    MC_CLIENT_ID: ID,
    MC_CLIENT_SECRET: SECRET,
  };
});

afterEach(async () => {
  await sf.close();
  await mc.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

async function backfill(extra: Partial<Parameters<typeof runBackfillCommand>[0]> = {}) {
  const out: string[] = [];
  const code = await runBackfillCommand({
    config: configPath,
    route: 'contacts-de',
    json: true,
    env,
    out: { write: (t: string) => out.push(t) },
    ...extra,
  });
  return { code, summary: JSON.parse(out.join('')) };
}

test('a dry run reads and maps every record, reports what it would write, and writes nothing', async () => {
  sf.seedContacts(30, { modifiedAt: SEEDED_AT });
  const { code, summary } = await backfill({ dryRun: true, pageSize: 7 });
  expect(code).toBe(0);
  expect(summary).toMatchObject({ status: 'dry-run', read: 30, accepted: 30, rejected: 0, pages: 5, total: 30, via: 'none' });
  expect(mc.rows(KEY)).toEqual([]);
  const store = openSqliteStore({ path: join(dir, 'bridge.db') });
  try {
    expect(await store.loadJobState('backfill:contacts-de')).toBeUndefined();
  } finally {
    await store.close();
  }
});

test('a journey route is refused without --confirm-sends, before anything is read', async () => {
  sf.seedContacts(3);
  await expect(backfill({ route: 'welcome' })).rejects.toThrow(ConfigError);
  await expect(backfill({ route: 'welcome' })).rejects.toThrow(/--confirm-sends/);
  expect(sf.restCalls().filter((c) => c.path.includes('/jobs/query'))).toEqual([]);
  const r = await runCli(['backfill', '--config', configPath, '--route', 'welcome', '--json'], env);
  expect(r.status).toBe(2);
  expect(JSON.parse(r.stderr)).toMatchObject({ status: 2, message: expect.stringContaining('--confirm-sends') });
});

test('a row the live stream wrote more recently is skipped; the others are written through async rows', async () => {
  const { firstId } = sf.seedContacts(20, { modifiedAt: SEEDED_AT });
  // The stream wrote this contact after the records the backfill reads were last modified.
  const client = new McRestClient(new McTokenManager({ authBaseUrl: mc.authBaseUrl, clientId: ID, clientSecret: SECRET }));
  const store = openSqliteStore({ path: join(dir, 'bridge.db') });
  try {
    const target = createDataExtensionTarget(client, { versions: store, confirmAfterMs: 10 });
    const payload = {
      key: KEY,
      contactKey: firstId,
      row: { ContactKey: firstId, LastName: 'FromStream' },
      primaryKey: ['ContactKey'],
      version: SEEDED_AT + 60_000,
    };
    const [accepted] = await target.deliver([{ id: 7, idempotencyKey: 'k7', mode: 'batch', payload }]);
    if (accepted?.status !== 'accepted' || accepted.requestId === null) throw new Error('not accepted');
    await target.deliver([{ id: 7, idempotencyKey: 'k7', mode: 'batch', payload, confirm: { requestId: accepted.requestId, row: 0 } }]);
  } finally {
    await store.close();
    await client.close();
  }
  const { code, summary } = await backfill({ pageSize: 8 });
  expect(code).toBe(0);
  expect(summary).toMatchObject({ status: 'completed', read: 20, accepted: 19, skipped: 1, rejected: 0, via: 'async' });
  expect(mc.row(KEY, firstId)).toMatchObject({ LastName: 'FromStream' });
  expect(mc.rowWrites(KEY).get(firstId)).toBe(1);
  expect(mc.rows(KEY)).toHaveLength(20);
});

test('killed with SIGKILL mid-run, the same command resumes from its saved page, and every record is written exactly once', async () => {
  const N = 1200;
  sf.seedContacts(N, { modifiedAt: SEEDED_AT });
  // Slow Marketing Cloud down so the kill lands mid-run.
  mc.injectFault({ kind: 'delay', ms: 60, count: 100_000 });
  const args = ['backfill', '--config', configPath, '--route', 'contacts-de', '--json', '--page-size', '100', '--ingest-threshold', '1'];
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await waitFor(() => mc.rows(KEY).length >= 300 || child.exitCode !== null, 30_000, `some pages written (stderr: ${stderr})`);
  child.kill('SIGKILL');
  expect((await exited(child)).signal).toBe('SIGKILL');
  const before = mc.rows(KEY).length;
  expect(before).toBeGreaterThan(0);
  expect(before).toBeLessThan(N);

  const r = await runCli(args, env, 120_000);
  expect(r.status).toBe(0);
  const summary = JSON.parse(r.stdout);
  expect(summary).toMatchObject({ status: 'completed', resumed: true, read: N, accepted: N, rejected: 0, skipped: 0, via: 'ingest' });
  const writes = [...mc.rowWrites(KEY).values()];
  expect(writes).toHaveLength(N);
  expect(writes.every((n) => n === 1)).toBe(true);
}, 180_000);

test('--since and --where narrow what is read', async () => {
  sf.seedContacts(10, { from: 1, modifiedAt: SEEDED_AT });
  sf.seedContacts(4, { from: 100, modifiedAt: Date.parse('2026-06-01T00:00:00.000Z') });
  expect((await backfill({ dryRun: true, since: '2026-05-01' })).summary).toMatchObject({
    read: 4,
    soql: expect.stringContaining('SystemModstamp >= 2026-05-01T00:00:00.000Z'),
  });
  expect((await backfill({ dryRun: true, where: "LastName = 'Contact3'" })).summary).toMatchObject({ read: 1 });
  await expect(backfill({ dryRun: true, since: 'last tuesday' })).rejects.toThrow(/--since/);
});

test("it runs while `start` runs on the same store, and the stream's newer change wins over the backfilled row", async () => {
  const { firstId } = sf.seedContacts(50, { modifiedAt: SEEDED_AT });
  // The same config, logging at info: the harness waits for the service's "started" line.
  const serviceConfig = join(dir, 'service.json');
  writeFileSync(serviceConfig, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), log: { level: 'info', pretty: false } }));
  const bridge = startBridge(serviceConfig, {
    SF_INSTANCE_URL: sf.url,
    SF_ACCESS_TOKEN: SF_TOKEN,
    MC_AUTH_BASE_URL: mc.authBaseUrl,
    MC_CLIENT_ID: ID,
    MC_CLIENT_SECRET: SECRET,
  });
  try {
    await bridge.started;
    const r = await runCli(['backfill', '--config', configPath, '--route', 'contacts-de', '--json', '--page-size', '10'], env);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', read: 50, accepted: 50 });
    sf.publishChange({
      entityName: 'Contact',
      changeType: 'UPDATE',
      recordIds: [firstId],
      commitTimestamp: Date.now(),
      fields: { LastName: 'Renamed', Email: 'renamed@example.com' },
      changedFields: ['LastName', 'Email'],
    });
    await waitFor(() => mc.row(KEY, firstId)?.LastName === 'Renamed', 15_000, 'the streamed change to be written');
    expect(mc.rows(KEY)).toHaveLength(50);
  } finally {
    bridge.kill('SIGTERM');
    await exited(bridge);
  }
}, 60_000);

test('with --confirm-sends a journey route enters every selected record once, through its target', async () => {
  const { firstId } = sf.seedContacts(12, { modifiedAt: SEEDED_AT });
  const { code, summary } = await backfill({ route: 'welcome', confirmSends: true, pageSize: 5 });
  expect(code).toBe(0);
  expect(summary).toMatchObject({ status: 'completed', read: 12, accepted: 12, rejected: 0, via: 'targets' });
  const entries = mc.received({ eventDefinitionKey: 'APIEvent-welcome' });
  expect(entries).toHaveLength(12);
  expect(new Set(entries.map((e) => e.contactKey)).size).toBe(12);
  expect(entries.find((e) => e.contactKey === firstId)?.data).toEqual({ Email: 'seed.1@example.com' });
});

test("a record changed while its page is being written ends with the change, not the page's older copy", async () => {
  const { firstId } = sf.seedContacts(10, { modifiedAt: SEEDED_AT });
  const config = loadConfigFile(configPath, env);
  const plan = planBackfill(config, await loadMappers(config), { route: 'contacts-de', confirmSends: false });
  const store = openSqliteStore({ path: join(dir, 'bridge.db') });
  const client = new McRestClient(new McTokenManager({ authBaseUrl: mc.authBaseUrl, clientId: ID, clientSecret: SECRET }));
  const target = createDataExtensionTarget(client, { versions: store, confirmAfterMs: 10 });
  let raced = false;
  // The live change commits in Salesforce and its row is written while the page's ingest job
  // waits to be completed: the job's older copy lands after it.
  const liveChange = async () => {
    raced = true;
    const changedAt = SEEDED_AT + 60_000;
    sf.upsertRecord('Contact', { Id: firstId, LastName: 'Changed', SystemModstamp: new Date(changedAt).toISOString() });
    const payload = {
      key: KEY,
      contactKey: firstId,
      row: { ContactKey: firstId, LastName: 'Changed' },
      primaryKey: ['ContactKey'],
      version: changedAt,
    };
    const [accepted] = await target.deliver([{ id: 3, idempotencyKey: 'k3', mode: 'batch', payload }]);
    if (accepted?.status !== 'accepted' || accepted.requestId === null) throw new Error('not accepted');
    await target.deliver([{ id: 3, idempotencyKey: 'k3', mode: 'batch', payload, confirm: { requestId: accepted.requestId, row: 0 } }]);
    expect(mc.row(KEY, firstId)).toMatchObject({ LastName: 'Changed' });
  };
  const racing = new Proxy(client, {
    get(t, p) {
      if (p === 'post') {
        return async (path: string, body: unknown) => {
          if (path.endsWith('/batches/complete') && !raced) await liveChange();
          return t.post(path, body);
        };
      }
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  try {
    const session = await openSalesforceSession(config.salesforce);
    const summary = await runBackfill({
      plan,
      store,
      source: new BulkQuerySource(session, '62.0'),
      mc: () => racing,
      ingestThreshold: 1,
      pollMs: 20,
    });
    expect(raced).toBe(true);
    expect(summary).toMatchObject({ status: 'completed', read: 10, accepted: 10, repaired: 1 });
    expect(mc.row(KEY, firstId)).toMatchObject({ LastName: 'Changed' });
    expect(mc.rows(KEY)).toHaveLength(10);
  } finally {
    await store.close();
    await client.close();
  }
});
