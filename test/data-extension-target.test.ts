// A data extension row counts as delivered only once Marketing Cloud says it is written: async upserts are batched, followed through status and results, rejected rows become dead letters naming the field, and the changes of one row collapse to the newest.
import pino from 'pino';
import { startMcEmulator, type DeDefinition, type McEmulator } from '../src/emulators/mc/index.ts';
import { McTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient } from '../src/delivery/mc/http.ts';
import { createDataExtensionTarget, type DeliveryItem, type Target } from '../src/delivery/targets/data-extension.ts';
import type { DeliveryOutcome } from '../src/delivery/target.ts';
import { Dispatcher } from '../src/delivery/dispatcher.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import type { Store } from '../src/outbox/contract.ts';
import type { DataExtensionRowPayload, NewAction } from '../src/core/model.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { waitFor } from './helpers/harness.ts';

const ID = 'de-client-id';
const SECRET = 'de-client-secret-4567';
const KEY = 'Contacts_Sendable';
const DE: DeDefinition = {
  key: KEY,
  fields: [
    { name: 'ContactKey', type: 'Text', isPrimaryKey: true, maxLength: 18 },
    { name: 'Email', type: 'EmailAddress', maxLength: 254 },
    { name: 'LastName', type: 'Text', maxLength: 10 },
    { name: 'Score', type: 'Number' },
  ],
};

let emu: McEmulator;
let client: McRestClient;

beforeEach(async () => {
  emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET, dataExtensions: [DE] });
  client = new McRestClient(new McTokenManager({ authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET }));
});
afterEach(async () => {
  await client.close();
  await emu.close();
});

const contact = (n: number) => `003C${String(n).padStart(11, '0')}AAA`;

function payload(n: number, version: number, row: Partial<DataExtensionRowPayload['row']> = {}): DataExtensionRowPayload {
  return {
    key: KEY,
    contactKey: contact(n),
    row: { ContactKey: contact(n), Email: `c${n}@example.com`, LastName: `L${n}`, ...row },
    primaryKey: ['ContactKey'],
    version,
  };
}

function item(id: number, p: DataExtensionRowPayload, mode: 'batch' | 'single' = 'batch'): DeliveryItem {
  return { id, idempotencyKey: `idem-${id}`, mode, payload: p };
}

/** Delivers, then confirms accepted items as the dispatcher would, until every outcome is final. */
async function deliverAll(target: Target, items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
  let outcomes = await target.deliver(items);
  for (let round = 0; round < 10 && outcomes.some((o) => o.status === 'accepted'); round++) {
    const again = outcomes.map((o) => {
      const it = items.find((i) => i.id === o.id)!;
      return o.status === 'accepted' && o.requestId !== null ? { ...it, confirm: { requestId: o.requestId, row: o.row } } : it;
    });
    const next = await target.deliver(again.filter((i) => outcomes.find((o) => o.id === i.id)!.status === 'accepted'));
    outcomes = outcomes.map((o) => next.find((n) => n.id === o.id) ?? o);
  }
  return outcomes;
}

test('async rows go out in requests of batchSize, are pending until confirmed, and a rejected row is a dead letter naming the field and reason', async () => {
  const target = createDataExtensionTarget(client, { batchSize: 2, confirmAfterMs: 10 });
  const items = [1, 2, 3, 4, 5].map((n) => item(n, payload(n, 1000 + n, n === 4 ? { LastName: 'Much-too-long-a-name' } : {})));
  const first = await target.deliver(items);
  expect(first.map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
  const requests = new Set(first.map((o) => (o.status === 'accepted' ? o.requestId : '')));
  expect(requests.size).toBe(3);
  expect(first.map((o) => (o.status === 'accepted' ? o.row : -1))).toEqual([0, 1, 0, 1, 0]);

  const outcomes = await deliverAll(target, items);
  expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered', 'dead', 'delivered']);
  const dead = outcomes[3] as Extract<DeliveryOutcome, { status: 'dead' }>;
  expect(dead.error.code).toBe('MC_ROW_REJECTED');
  expect(dead.error.message).toContain("'LastName'");
  expect(dead.error.message).toContain(contact(4));
  expect((outcomes[0] as Extract<DeliveryOutcome, { status: 'delivered' }>).ids.requestId).toBeDefined();
  expect(
    emu
      .rows(KEY)
      .map((r) => r.ContactKey)
      .sort(),
  ).toEqual([1, 2, 3, 5].map(contact));
});

test('a request still pending at Marketing Cloud stays accepted, with the same requestId, until it completes', async () => {
  emu.setAsyncDelay(300);
  const target = createDataExtensionTarget(client, { confirmAfterMs: 10 });
  const [accepted] = await target.deliver([item(1, payload(1, 1))]);
  if (accepted?.status !== 'accepted' || accepted.requestId === null) throw new Error(`expected accepted, got ${JSON.stringify(accepted)}`);
  const confirm = { requestId: accepted.requestId, row: accepted.row };
  const [still] = await target.deliver([{ ...item(1, payload(1, 1)), confirm }]);
  expect(still).toMatchObject({ status: 'accepted', requestId: accepted.requestId });
  expect(emu.rows(KEY)).toEqual([]);
  await waitFor(
    async () => (await target.deliver([{ ...item(1, payload(1, 1)), confirm }]))[0]!.status === 'delivered',
    3000,
    'the request to complete',
  );
  expect(emu.rows(KEY)).toHaveLength(1);
});

test('several changes to one row in a batch collapse into one row with the newest values; the older ones count as delivered', async () => {
  const target = createDataExtensionTarget(client, { confirmAfterMs: 10 });
  const items = [
    item(1, payload(7, 3000, { LastName: 'Newest' })),
    item(2, payload(7, 1000, { LastName: 'Oldest', Score: 5 })),
    item(3, payload(8, 1000)),
    item(4, payload(7, 2000, { LastName: 'Middle' })),
  ];
  const outcomes = await deliverAll(target, items);
  expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
  expect(emu.row(KEY, contact(7))).toMatchObject({ LastName: 'Newest', Score: 5 });
  expect(emu.rowWrites(KEY).get(contact(7))).toBe(1);
});

test('sync mode upserts through the rowset endpoint; a refused row is found alone and the others are written', async () => {
  const target = createDataExtensionTarget(client);
  const items = [1, 2, 3].map((n) => item(n, payload(n, n, n === 2 ? { Email: 'not-an-address' } : {}), 'single'));
  const outcomes = await target.deliver(items);
  expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'dead', 'delivered']);
  expect((outcomes[1] as Extract<DeliveryOutcome, { status: 'dead' }>).error.message).toContain("'Email'");
  expect(
    emu
      .rows(KEY)
      .map((r) => r.ContactKey)
      .sort(),
  ).toEqual([contact(1), contact(3)]);
});

test('through the dispatcher and the outbox, an accepted row stays pending until confirmed, then is delivered with its requestId; a rejected one is dead-lettered', async () => {
  emu.setAsyncDelay(200);
  const store: Store = openSqliteStore({ path: ':memory:' });
  const target = createDataExtensionTarget(client, { confirmAfterMs: 50, versions: store });
  const actions: NewAction[] = [1, 2].map((n) => ({
    idempotencyKey: `k${n}`,
    route: 'contacts-de',
    target: 'dataExtension',
    mode: 'batch',
    batchKey: KEY,
    channel: '/data/ContactChangeEvent',
    replayId: String(n),
    recordId: contact(n),
    contactKey: contact(n),
    correlationId: `c${n}`,
    receivedAt: Date.now(),
    payload: payload(n, n, n === 2 ? { Score: 'many' } : {}),
  }));
  await store.commitBatch(actions, [], new Map());
  const dispatcher = new Dispatcher({
    store,
    telemetry: new Telemetry(pino({ level: 'silent' })),
    targets: { dataExtension: target as never },
    pollIntervalMs: 10,
  });
  dispatcher.start();
  try {
    await waitFor(async () => (await store.actionsFor(contact(1)))[0]?.deliveryIds?.requestId !== undefined, 3000, 'the row to be accepted');
    expect((await store.actionsFor(contact(1)))[0]!.status).not.toBe('delivered');
    await waitFor(async () => (await store.counts()).delivered === 1 && (await store.counts()).dead === 1, 5000, 'both rows to be settled');
    const [row1] = await store.actionsFor(contact(1));
    expect(row1).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(row1!.deliveryIds?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const [row2] = await store.actionsFor(contact(2));
    expect(row2).toMatchObject({ status: 'dead', errorCode: 'MC_ROW_REJECTED' });
    expect(row2!.error).toContain("'Score'");
  } finally {
    await dispatcher.stop();
    await store.close();
  }
});
