// The journey target returns one outcome per item, in input order: per-member results mapped back to the right item, batches split at 100, and whole-request failures classified once for every item.
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { McTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient } from '../src/delivery/mc/http.ts';
import { createJourneyTarget, mapMembers, type DeliveryItem, type DeliveryOutcome, type Target } from '../src/delivery/targets/journey.ts';
import { PermanentError, TransientError } from '../src/core/errors.ts';

const ID = 'journey-client-id';
const SECRET = 'journey-client-secret-3456';
const KEY = 'APIEvent-journey';

let emu: McEmulator;
let client: McRestClient;
let target: Target;

beforeEach(async () => {
  emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET, eventDefinitionKeys: [KEY] });
  client = new McRestClient(new McTokenManager({ authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET }));
  target = createJourneyTarget(client);
});
afterEach(async () => {
  await client.close();
  await emu.close();
});

function items(n: number, mode: 'batch' | 'single' = 'batch', key = KEY, from = 1): DeliveryItem[] {
  return Array.from({ length: n }, (_, i) => {
    const id = from + i;
    return {
      id,
      idempotencyKey: `idem-${id}`,
      mode,
      payload: { eventDefinitionKey: key, contactKey: `003C${String(id).padStart(14, '0')}`, data: { Seq: id } },
    };
  });
}

function byStatus(outcomes: DeliveryOutcome[], status: DeliveryOutcome['status']): number[] {
  return outcomes.filter((o) => o.status === status).map((o) => o.id);
}

test('an async batch maps per-member errors to the right items and records requestId and eventInstanceId', async () => {
  const batch = items(6);
  emu.setInactiveContacts([batch[1]!.payload.contactKey, batch[4]!.payload.contactKey]);
  const outcomes = await target.deliver(batch);
  expect(outcomes.map((o) => o.id)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(byStatus(outcomes, 'delivered')).toEqual([1, 3, 4, 6]);
  expect(byStatus(outcomes, 'dead')).toEqual([2, 5]);
  const dead = outcomes[1] as Extract<DeliveryOutcome, { status: 'dead' }>;
  expect(dead.error).toBeInstanceOf(PermanentError);
  expect(dead.error).toMatchObject({ code: 'MC_MEMBER_REJECTED', mcErrorCode: '30000' }); // a String in the async answer, as documented
  expect(dead.error.message).toContain(batch[1]!.payload.contactKey);
  const received = emu.received();
  expect(received.map((e) => e.contactKey)).toEqual([1, 3, 4, 6].map((i) => batch[i - 1]!.payload.contactKey));
  for (const o of outcomes) {
    if (o.status !== 'delivered') continue;
    const entry = received.find((e) => e.eventInstanceId === o.ids.eventInstanceId);
    expect(entry?.contactKey).toBe(batch[o.id - 1]!.payload.contactKey);
    expect(entry?.data).toEqual({ Seq: o.id });
    expect(o.ids.requestId).toBe(entry?.requestId);
  }
});

test('more than 100 items are split into requests of at most 100 members', async () => {
  const outcomes = await target.deliver(items(250));
  expect(byStatus(outcomes, 'delivered')).toHaveLength(250);
  expect(emu.stats()).toMatchObject({ batches: 3, entries: 250, uniqueContacts: 250, duplicates: 0, rejected: 0, tokensIssued: 1 });
  const requestIds = new Set(outcomes.map((o) => (o.status === 'delivered' ? o.ids.requestId : undefined)));
  expect(requestIds.size).toBe(3);
  const small = createJourneyTarget(client, { batchSize: 40 });
  await small.deliver(items(81, 'batch', KEY, 1000));
  expect(emu.stats().batches).toBe(6);
});

test('single mode sends one /interaction/v1/events per item; an inactive contact is dead, the others delivered', async () => {
  const batch = items(5, 'single');
  emu.setInactiveContacts([batch[2]!.payload.contactKey]);
  const outcomes = await target.deliver(batch);
  expect(byStatus(outcomes, 'delivered')).toEqual([1, 2, 4, 5]);
  expect(outcomes[2]).toMatchObject({ status: 'dead', error: { code: 'MC_REJECTED', status: 400, mcErrorCode: 30000 } });
  const delivered = outcomes[0] as Extract<DeliveryOutcome, { status: 'delivered' }>;
  expect(emu.received({ contactKey: batch[0]!.payload.contactKey })).toEqual([
    expect.objectContaining({ via: 'single', eventInstanceId: delivered.ids.eventInstanceId, data: { Seq: 1 } }),
  ]);
  expect(emu.stats()).toMatchObject({ entries: 4, batches: 0, requests: 5 });
});

test('a whole-request failure gives every item of that request the same classified outcome', async () => {
  emu.injectFault({ kind: 'status', status: 503 });
  let outcomes = await target.deliver(items(3));
  expect(outcomes.map((o) => o.status)).toEqual(['retry', 'retry', 'retry']);
  expect(outcomes[0]).toMatchObject({ error: expect.any(TransientError) });

  emu.injectFault({ kind: 'status', status: 429, retryAfterSec: 4 });
  outcomes = await target.deliver(items(2));
  expect(outcomes).toEqual([
    { id: 1, status: 'retry', error: expect.objectContaining({ code: 'MC_RATE_LIMITED' }), retryAfterMs: 4000 },
    { id: 2, status: 'retry', error: expect.objectContaining({ code: 'MC_RATE_LIMITED' }), retryAfterMs: 4000 },
  ]);

  emu.injectFault({ kind: 'reset' });
  outcomes = await target.deliver(items(2));
  expect(outcomes.map((o) => o.status)).toEqual(['retry', 'retry']);

  outcomes = await target.deliver(items(2, 'batch', 'APIEvent-unknown'));
  expect(outcomes.map((o) => o.status)).toEqual(['dead', 'dead']);
  expect(outcomes[0]).toMatchObject({ error: { code: 'MC_REJECTED', status: 400 } });
  expect(emu.stats().entries).toBe(0);
});

test("only the failed request's items are retried when one of several requests fails", async () => {
  emu.injectFault({ kind: 'status', status: 500 });
  const small = createJourneyTarget(client, { batchSize: 10, batchConcurrency: 1 });
  const outcomes = await small.deliver(items(25));
  expect(byStatus(outcomes, 'retry')).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  expect(byStatus(outcomes, 'delivered')).toHaveLength(15);
});

test('a temporarily-blocked 429 asks the dispatcher for a long wait', async () => {
  emu.injectFault({ kind: 'status', status: 429, errorcode: 50200 });
  const [outcome] = await target.deliver(items(1));
  expect(outcome).toMatchObject({ status: 'retry', retryAfterMs: 60_000, error: { code: 'MC_TEMPORARILY_BLOCKED' } });
});

test('a 401 is retried once inside the client with a fresh token, so the items are delivered', async () => {
  await target.deliver(items(1));
  emu.expireTokens();
  const outcomes = await target.deliver(items(3, 'batch', KEY, 10));
  expect(byStatus(outcomes, 'delivered')).toEqual([10, 11, 12]);
  expect(emu.stats()).toMatchObject({ tokensIssued: 2, unauthorized: 1 });
});

test('an answer that does not line up is matched by contact key, and unlisted members are only delivered when none went unqueued', () => {
  const chunk = items(3);
  const [a, , c] = chunk.map((i) => i.payload.contactKey);
  const shuffled = mapMembers(chunk, {
    requestId: 'r1',
    notQueuedCount: 1,
    members: [
      { contactKey: c, eventInstanceId: 'e3' },
      { contactKey: a, eventInstanceId: 'e1', errorcode: 5, message: 'no' },
    ],
  });
  expect(shuffled[0]).toMatchObject({ id: 1, status: 'dead', error: { code: 'MC_MEMBER_REJECTED', mcErrorCode: 5 } });
  expect(shuffled[1]).toMatchObject({ id: 2, status: 'dead', error: { code: 'MC_MEMBER_UNACCOUNTED' } });
  expect(shuffled[2]).toEqual({ id: 3, status: 'delivered', ids: { requestId: 'r1', eventInstanceId: 'e3' } });
  const bare = mapMembers(chunk, { requestId: 'r2', count: 3, notQueuedCount: 0 });
  expect(bare.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
});
