// An older change never overwrites a newer data extension row: not when its first attempt failed and it is retried after a newer change was written, and not after the bridge restarts, on both stores.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { McTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient } from '../src/delivery/mc/http.ts';
import { createDataExtensionTarget } from '../src/delivery/targets/data-extension.ts';
import { Dispatcher } from '../src/delivery/dispatcher.ts';
import { RetryPolicy } from '../src/delivery/retry.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { openPostgresStore } from '../src/outbox/postgres/store.ts';
import type { Store } from '../src/outbox/contract.ts';
import type { NewAction } from '../src/core/model.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { waitFor } from './helpers/harness.ts';
import { dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

const ID = 'newest-client';
const SECRET = 'newest-client-secret-1';
const KEY = 'Contacts_Mirror';
const CONTACT = '003C00000000007AAA';

interface Fixture {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

const engines: [string, () => Promise<Fixture>][] = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'de-newest-'));
      return {
        open: async () => openSqliteStore({ path: join(dir, 'bridge.db') }),
        dispose: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
  [
    'Postgres',
    async () => {
      await requirePostgres();
      const schema = freshSchemaName('denew');
      return { open: () => openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 3 }), dispose: () => dropSchema(schema) };
    },
  ],
];

function change(n: number, version: number, lastName: string): NewAction {
  return {
    idempotencyKey: `change-${n}`,
    route: 'contacts-de',
    target: 'dataExtension',
    mode: 'batch',
    batchKey: KEY,
    channel: '/data/ContactChangeEvent',
    replayId: String(n),
    recordId: CONTACT,
    contactKey: CONTACT,
    correlationId: `corr-${n}`,
    receivedAt: Date.now(),
    changeType: 'UPDATE',
    payload: { key: KEY, contactKey: CONTACT, row: { ContactKey: CONTACT, LastName: lastName }, primaryKey: ['ContactKey'], version },
  };
}

describe.each(engines)('%s store', (_name, makeFixture) => {
  let emu: McEmulator;
  let client: McRestClient;
  let fx: Fixture;
  let store: Store;
  let dispatcher: Dispatcher | undefined;

  const start = () => {
    const target = createDataExtensionTarget(client, { confirmAfterMs: 20, versions: store });
    dispatcher = new Dispatcher({
      store,
      telemetry: new Telemetry(pino({ level: 'silent' })),
      targets: { dataExtension: target as never },
      pollIntervalMs: 10,
      retry: new RetryPolicy(12, { baseMs: 400, capMs: 400 }),
    });
    dispatcher.start();
  };
  const statusOf = async (key: string) => (await store.actionsFor(CONTACT)).find((r) => r.idempotencyKey === key)?.status;

  beforeEach(async () => {
    emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET });
    client = new McRestClient(new McTokenManager({ authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET }));
    fx = await makeFixture();
    store = await fx.open();
  });
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await store.close();
    await fx.dispose();
    await client.close();
    await emu.close();
  });

  test('a failed older change is retried before the newer one is written, never after; after a restart a late older change is refused and a newer one is written', async () => {
    // The older change's first request fails; while it waits for its retry, the newer change lands.
    emu.injectFault({ kind: 'status', status: 503, count: 1 });
    await store.commitBatch([change(1, 1_000, 'Older')], [], new Map());
    start();
    await waitFor(async () => (await store.actionsFor(CONTACT))[0]?.attempts === 1, 3000, 'the first attempt to fail');
    await store.commitBatch([change(2, 2_000, 'Newer')], [], new Map());
    dispatcher!.wake();
    await waitFor(
      async () => (await statusOf('change-1')) === 'delivered' && (await statusOf('change-2')) === 'delivered',
      5000,
      'both changes to settle',
    );
    expect(emu.row(KEY, CONTACT)).toMatchObject({ LastName: 'Newer' });
    // Both stores hold a contact's later actions until the earlier one settles: both are
    // written, the older first, so the newer one stays.
    const writes = emu.rowWrites(KEY).get(CONTACT)!;
    expect(writes).toBe(2);

    // Restart: a fresh store handle and dispatcher; an even older change arrives late (a replay).
    await dispatcher!.stop();
    await store.close();
    store = await fx.open();
    await store.commitBatch([change(3, 500, 'Oldest')], [], new Map());
    start();
    await waitFor(async () => (await statusOf('change-3')) === 'delivered', 5000, 'the late change to settle');
    expect(emu.row(KEY, CONTACT)).toMatchObject({ LastName: 'Newer' });
    expect(emu.rowWrites(KEY).get(CONTACT)).toBe(writes);
    await store.commitBatch([change(4, 3_000, 'Newest')], [], new Map());
    dispatcher!.wake();
    await waitFor(() => emu.row(KEY, CONTACT)?.LastName === 'Newest', 5000, 'the newest change to be written');
    expect(emu.rowWrites(KEY).get(CONTACT)).toBe(writes + 1);
  });
});
