// Triggered and transactional sends reach the Marketing Cloud emulator over real HTTP in MC's shapes, and every failure class ends as the one retry policy says: 109110 on a retry is delivered, 400/403/401-twice/per-recipient errors are dead with MC's errorcode, 429/5xx/resets are retried.
import { request } from 'undici';
import { startMcEmulator, SEND_CODES, type McEmulator } from '../src/emulators/mc/index.ts';
import { BreakerRegistry } from '../src/delivery/breaker.ts';
import { clearSharedTokenManagers } from '../src/delivery/mc/auth.ts';
import { McClients } from '../src/delivery/mc/clients.ts';
import { createTransactionalTarget } from '../src/delivery/targets/transactional.ts';
import { createTriggeredSendTarget } from '../src/delivery/targets/triggered-send.ts';
import type { DeliveryItem, DeliveryOutcome } from '../src/delivery/target.ts';
import type { SendPayload } from '../src/core/model.ts';

const ID = 'send-client-id';
const SECRET = 'send-client-secret-3456';
const DEF = 'order-confirmation';
const TS = 'welcome-ts';

let emu: McEmulator;
let clients: McClients;

beforeEach(async () => {
  clearSharedTokenManagers();
  emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET, sendDefinitionKeys: [DEF, TS] });
  clients = new McClients({ credentials: { authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET }, timeoutMs: 1000 });
});
afterEach(async () => {
  await clients.close();
  await emu.close();
});

function item(n: number, over: Partial<SendPayload> = {}, mode: 'batch' | 'single' = 'batch'): DeliveryItem<SendPayload> {
  return {
    id: n,
    idempotencyKey: `key-${n}-${'x'.repeat(30)}`,
    mode,
    payload: {
      definitionKey: DEF,
      contactKey: `003000000000${String(n).padStart(3, '0')}AAA`,
      address: `c${n}@example.com`,
      attributes: { OrderNumber: `ORD-${n}` },
      ...over,
    },
  };
}

/**
 * From the bridge's side (MC refuses a reused key by itself, so its accepted count proves
 * nothing): every messageKey the target sent is one item's idempotency key and named only that
 * item's recipient, and every delivered outcome carries its own item's key. Returns how many
 * requests carried each key.
 */
function expectKeysOwned(items: DeliveryItem<SendPayload>[], outcomes: DeliveryOutcome[]): Map<string, number> {
  const byKey = new Map(items.map((i) => [i.idempotencyKey, i]));
  const requests = new Map<string, number>();
  for (const [key, asked] of emu.messageKeyRequests()) {
    const own = byKey.get(key);
    expect(own).toBeDefined();
    expect(asked.recipients).toEqual([`${own!.payload.contactKey} ${own!.payload.address}`]);
    requests.set(key, asked.requests);
  }
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const o of outcomes) if (o.status === 'delivered') expect(o.ids.messageKey).toBe(byId.get(o.id)!.idempotencyKey);
  return requests;
}

function byStatus(outcomes: DeliveryOutcome[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const o of outcomes) (out[o.status] ??= []).push(o.id);
  return out;
}

describe('transactional target', () => {
  test("a batch goes out as one request with per-recipient messageKeys: each item's own key, sent once, for its own recipient", async () => {
    const target = createTransactionalTarget(clients.clientFor);
    const items = Array.from({ length: 120 }, (_, i) => item(i));
    const outcomes = await target.deliver(items);
    expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
    const requests = expectKeysOwned(items, outcomes);
    expect([...requests.values()]).toEqual(Array(120).fill(1));
    expect(outcomes[3]).toMatchObject({ status: 'delivered', ids: { messageKey: items[3]!.idempotencyKey, requestId: expect.any(String) } });
    expect(emu.stats()).toMatchObject({ sends: 120, requests: 1 });
    const sent = emu.sends({ messageKey: items[7]!.idempotencyKey });
    expect(sent).toEqual([
      expect.objectContaining({ api: 'transactional', via: 'batch', definitionKey: DEF, to: 'c7@example.com', attributes: { OrderNumber: 'ORD-7' } }),
    ]);
  });

  test('a batch is split at 500 recipients with attributes, 2,000 without', async () => {
    const target = createTransactionalTarget(clients.clientFor, { batchSize: 2000 });
    await target.deliver(Array.from({ length: 1001 }, (_, i) => item(i)));
    expect(emu.stats().requests).toBe(3);
    await target.deliver(Array.from({ length: 2001 }, (_, i) => item(5000 + i, { attributes: {} })));
    expect(emu.stats()).toMatchObject({ requests: 5, sends: 3002 });
  });

  test("a reset after MC recorded the batch is retried, and the retry's 109110 answers count as delivered: one send per messageKey", async () => {
    const target = createTransactionalTarget(clients.clientFor);
    const items = Array.from({ length: 10 }, (_, i) => item(i));
    emu.injectFault({ kind: 'reset', when: 'after' });
    const first = await target.deliver(items);
    expect(first.every((o) => o.status === 'retry' && o.error.code === 'MC_CONNECTION_LOST')).toBe(true);
    const second = await target.deliver(items);
    expect(second.every((o) => o.status === 'delivered')).toBe(true);
    // The retry reused each item's own key (so MC could recognize it), once, for the same recipient.
    const requests = expectKeysOwned(items, second);
    expect([...requests.values()]).toEqual(Array(10).fill(2));
    expect(emu.stats()).toMatchObject({ sends: 10, messageKeyReused: 10 });
  });

  test('single mode: one request per messageKey; a repeated key is a 400 with 109110, which counts as delivered', async () => {
    const target = createTransactionalTarget(clients.clientFor);
    const one = item(1, {}, 'single');
    expect((await target.deliver([one]))[0]).toMatchObject({ status: 'delivered', ids: { messageKey: one.idempotencyKey } });
    const res = await request(`${emu.restBaseUrl}messaging/v1/email/messages/${one.idempotencyKey}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(await clients.clientFor(undefined).tokens.get()).accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ definitionKey: DEF, recipient: { contactKey: 'c', to: 'a@example.com' } }),
    });
    expect(res.statusCode).toBe(400);
    expect(await res.body.json()).toMatchObject({
      errorcode: SEND_CODES.messageKeyReused,
      responses: [{ messageKey: one.idempotencyKey, errorcode: 109110 }],
    });
    const again = await target.deliver([one]);
    expect(again[0]).toMatchObject({ status: 'delivered', ids: { messageKey: one.idempotencyKey } });
    // Ours twice, the hand-made request once: always under the item's own key.
    expect(emu.messageKeyRequests().get(one.idempotencyKey)?.requests).toBe(3);
    expect(emu.sends()).toHaveLength(1);
  });

  test("per-recipient errors are dead with MC's errorcode and message; the others in the batch are delivered", async () => {
    const target = createTransactionalTarget(clients.clientFor);
    const items = [item(1), item(2, { address: 'not-an-address' }), item(3)];
    emu.injectFault({ kind: 'member', contactKeys: [items[2]!.payload.contactKey], errorcode: 1, message: 'Unsubscribed' });
    const outcomes = await target.deliver(items);
    expect(byStatus(outcomes)).toEqual({ delivered: [1], dead: [2, 3] });
    expect(outcomes[1]).toMatchObject({ error: { code: 'MC_RECIPIENT_REJECTED', mcErrorCode: SEND_CODES.invalidEmail } });
    expect(outcomes[2]).toMatchObject({ error: { mcErrorCode: 1 } });
    expect((outcomes[2] as { error: Error }).error.message).toContain('Unsubscribed');
  });

  test("a paused or unknown definition is a 400: dead with MC's errorcode, nothing sent", async () => {
    const target = createTransactionalTarget(clients.clientFor);
    emu.setDefinitionStatus(DEF, 'paused');
    const paused = await target.deliver([item(1), item(2)]);
    expect(
      paused.every(
        (o) =>
          o.status === 'dead' &&
          o.error.code === 'MC_REJECTED' &&
          (o.error as { mcErrorCode?: unknown }).mcErrorCode === SEND_CODES.definitionNotActive,
      ),
    ).toBe(true);
    const unknown = await target.deliver([item(3, { definitionKey: 'nope' }, 'single')]);
    expect(unknown[0]).toMatchObject({ status: 'dead', error: { status: 400, mcErrorCode: SEND_CODES.definitionNotFound } });
    expect(emu.stats().sends).toBe(0);
  });

  test('429 50100 is retried after its Retry-After; 50200 is retried with no advice; 5xx is retried', async () => {
    const target = createTransactionalTarget(clients.clientFor);
    emu.injectFault({ kind: 'status', status: 429, retryAfterSec: 4 });
    expect((await target.deliver([item(1)]))[0]).toMatchObject({ status: 'retry', retryAfterMs: 4000, error: { code: 'MC_RATE_LIMITED' } });
    emu.injectFault({ kind: 'status', status: 429, errorcode: 50200 });
    expect((await target.deliver([item(1)]))[0]).toMatchObject({ status: 'retry', error: { code: 'MC_TEMPORARILY_BLOCKED' } });
    emu.injectFault({ kind: 'status', status: 503 });
    expect((await target.deliver([item(1)]))[0]).toMatchObject({ status: 'retry', error: { code: 'MC_SERVER_ERROR' } });
    emu.injectFault({ kind: 'delay', ms: 1500 });
    expect((await target.deliver([item(1)]))[0]).toMatchObject({ status: 'retry', error: { code: 'MC_TIMEOUT' } });
  });

  test('403 and a 401 that survives one refresh are dead', async () => {
    const target = createTransactionalTarget(clients.clientFor);
    emu.injectFault({ kind: 'status', status: 403, errorcode: 40001, message: 'Insufficient privileges' });
    expect((await target.deliver([item(1)]))[0]).toMatchObject({ status: 'dead', error: { status: 403, mcErrorCode: 40001 } });
    emu.injectFault({ kind: 'status', status: 401, count: 2 });
    expect((await target.deliver([item(1)]))[0]).toMatchObject({ status: 'dead', error: { code: 'MC_UNAUTHORIZED' } });
  });

  test('a token per business unit: actions for two MIDs get two tokens, each asked with its account_id', async () => {
    const target = createTransactionalTarget(clients.clientFor);
    await target.deliver([item(1, { mid: '100' }), item(2, { mid: '200' }), item(3, { mid: '100' })]);
    expect(emu.stats()).toMatchObject({ tokensIssued: 2, sends: 3, requests: 2 });
  });
});

describe('triggered send target', () => {
  test('each recipient is one POST to key:<key>/send with SubscriberKey and attributes; the recipientSendId is kept', async () => {
    const target = createTriggeredSendTarget(clients.clientFor);
    const outcomes = await target.deliver([item(1, { definitionKey: TS }, 'single'), item(2, { definitionKey: TS }, 'single')]);
    expect(outcomes).toEqual([
      { id: 1, status: 'delivered', ids: { requestId: expect.any(String), recipientSendId: expect.any(String) } },
      { id: 2, status: 'delivered', ids: { requestId: expect.any(String), recipientSendId: expect.any(String) } },
    ]);
    expect(emu.sends()).toEqual([
      expect.objectContaining({ api: 'triggered', definitionKey: TS, to: 'c1@example.com', attributes: { OrderNumber: 'ORD-1' } }),
      expect.objectContaining({ api: 'triggered', definitionKey: TS, to: 'c2@example.com' }),
    ]);
  });

  test("hasErrors is dead with MC's messages; a paused definition is a 400 and dead", async () => {
    const target = createTriggeredSendTarget(clients.clientFor);
    const bad = await target.deliver([item(1, { definitionKey: TS, address: 'nobody' }, 'single')]);
    expect(bad[0]).toMatchObject({ status: 'dead', error: { code: 'MC_RECIPIENT_REJECTED', mcErrorCode: SEND_CODES.invalidEmail } });
    emu.setDefinitionStatus(TS, 'paused');
    const paused = await target.deliver([item(2, { definitionKey: TS }, 'single')]);
    expect(paused[0]).toMatchObject({ status: 'dead', error: { status: 400, mcErrorCode: SEND_CODES.definitionNotActive } });
    expect((paused[0] as { error: Error }).error.message).toContain('paused');
  });
});

test('the circuit breaker opens after consecutive 5xx and refuses calls without reaching MC', async () => {
  const breakers = new BreakerRegistry({ threshold: 3, openMs: 60_000 });
  const guarded = new McClients({ credentials: { authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET }, breakers, timeoutMs: 1000 });
  try {
    const target = createTransactionalTarget(guarded.clientFor);
    emu.injectFault({ kind: 'status', status: 500, count: 3 });
    for (let i = 0; i < 3; i++) await target.deliver([item(i)]);
    const before = emu.stats().requests;
    const refused = await target.deliver([item(9)]);
    expect(refused[0]).toMatchObject({ status: 'retry', error: { code: 'MC_CIRCUIT_OPEN' } });
    expect((refused[0] as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(50_000);
    expect(emu.stats().requests).toBe(before);
    expect(breakers.blockedUntil()).toBeGreaterThan(Date.now());
  } finally {
    await guarded.close();
  }
});

test('chaos control: random 5xx, resets and 429 bursts hit REST requests at the configured rates', async () => {
  const res = await request(`${emu.authBaseUrl}/_emulator/chaos`, { method: 'POST', body: JSON.stringify({ serverErrorRate: 0.5, seed: 7 }) });
  expect(res.statusCode).toBe(200);
  await res.body.dump();
  const target = createTransactionalTarget(clients.clientFor);
  const outcomes: DeliveryOutcome[] = [];
  const items = Array.from({ length: 40 }, (_, i) => item(i, {}, 'single'));
  for (const one of items) outcomes.push(...(await target.deliver([one])));
  const retried = outcomes.filter((o) => o.status === 'retry').length;
  // A 5xx is answered before MC looks at the message: each key reached it at most once, and
  // exactly the delivered ones did.
  const requests = expectKeysOwned(items, outcomes);
  expect([...requests.values()].every((n) => n === 1)).toBe(true);
  expect(requests.size).toBe(40 - retried);
  expect(retried).toBeGreaterThan(8);
  expect(retried).toBeLessThan(32);
  expect(emu.stats().chaos).toBe(retried);
  emu.setChaos(undefined);
  const counts = (await (await request(`${emu.authBaseUrl}/_emulator/send-counts`)).body.json()) as { keys: number; repeated: unknown[] };
  expect(counts).toEqual({ keys: 40 - retried, accepted: 40 - retried, repeated: [] });
});
