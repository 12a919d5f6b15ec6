/**
 * The spine end to end over the Pub/Sub API (`salesforce.transport: "pubsub"`): CDC and
 * platform events from the Pub/Sub emulator, through the gRPC subscriber, transform, outbox
 * and dispatcher, into the Marketing Cloud emulator, with the same results as over CometD.
 */
import { load } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { startService, type Service } from '../src/service.ts';
import type { PubSubSubscriber } from '../subscribers/pubsub/index.ts';
import { bridgeConfig, CHANNEL, contactId, startHarness, waitFor, WELCOME_KEY, type Harness } from './helpers/harness.ts';

let h: Harness;
let service: Service | undefined;
const quiet = createLogger({ level: 'silent', pretty: false });

beforeEach(async () => { h = await startHarness({ sf: { pubsub: true } }); });
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await h.close();
});

function pubsubConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return bridgeConfig(h.dir, { salesforce: { transport: 'pubsub', pubsubUrl: h.sf.pubsub!.address }, ...overrides });
}

async function start(overrides: Record<string, unknown> = {}): Promise<Service> {
  service = await startService(load(pubsubConfig(overrides), h.env), quiet);
  return service;
}

test('Marketing Cloud receives exactly the journey entries the routed changes call for, over the Pub/Sub API', async () => {
  const created = Array.from({ length: 250 }, (_, i) => contactId(i));
  for (const [i, id] of created.entries()) {
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [id], fields: { Name: { FirstName: `F${i}`, LastName: `L${i}` }, Email: `c${i}@example.com` } });
  }
  const merged = [contactId(1000), contactId(1001), contactId(1002)];
  h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: merged, fields: { Email: 'shared@example.com' } });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: ['0035g00000XyZab'], fields: { Email: 'short@example.com' } });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [contactId(2000)], fields: { Phone: '555' } });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-broken'], fields: { Email: 'x@example.com' } });
  const last = h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(3000)], fields: { Email: 'last@example.com' } });

  const s = await start();
  const expected = 250 + 3 + 1 + 1;
  await waitFor(() => h.mc.stats().entries >= expected, 15_000, `${expected} entries`);
  await s.dispatcher.settled();

  const entries = h.mc.received();
  expect(entries).toHaveLength(expected);
  expect(h.mc.stats().duplicates).toBe(0);
  const keys = new Set(entries.map((e) => e.contactKey));
  for (const id of [...created, ...merged, '0035g00000XyZabAAF', contactId(3000)]) expect(keys).toContain(id);
  expect(keys).not.toContain(contactId(2000));
  expect(h.mc.received({ contactKey: created[7]! })[0]!.data).toEqual({ Email: 'c7@example.com', FirstName: 'F7', LastName: 'L7' });
  const counts = await s.store.counts();
  expect(counts).toMatchObject({ delivered: expected, pending: 0, inflight: 0, dead: 1 });
  expect((await s.store.actionsFor('003-broken'))[0]?.error).toContain('003-broken');
  // The checkpoint is Salesforce's replay ID bytes in base64, never a number.
  const checkpoint = (await s.store.loadCheckpoints()).get(CHANNEL)!;
  expect(checkpoint).toMatch(/^[A-Za-z0-9+/]{11}=$/);
  expect(Buffer.from(checkpoint, 'base64').readBigUInt64BE()).toBe(BigInt(last.replayId));
  // Flow control: never more than 100 events asked for and not yet received.
  expect(h.sf.pubsub!.stats().maxOutstanding).toBeLessThanOrEqual(100);
  expect((s.subscriber as PubSubSubscriber).streamStats()[CHANNEL]!.maxOutstanding).toBeLessThanOrEqual(100);
});

test('after a restart the bridge resumes from its base64 checkpoint: events published while it was down arrive, earlier ones are not sent again', async () => {
  for (let i = 0; i < 50; i++) h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `a${i}@example.com` } });
  let s = await start();
  await waitFor(() => h.mc.stats().entries >= 50, 10_000, 'first 50');
  await s.stop();
  for (let i = 50; i < 80; i++) h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `b${i}@example.com` } });
  s = await start();
  await waitFor(() => h.mc.stats().entries >= 80, 10_000, 'all 80');
  await new Promise((r) => setTimeout(r, 200));
  expect(h.mc.stats()).toMatchObject({ entries: 80, uniqueContacts: 80, duplicates: 0 });
  expect(h.sf.pubsub!.stats().subscribes).toBe(2);
});

test('a checkpoint the CometD transport stored is honoured when the bridge switches to the Pub/Sub API', async () => {
  for (let i = 0; i < 20; i++) h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `m${i}@example.com` } });
  service = await startService(load(bridgeConfig(h.dir), h.env), quiet); // CometD
  await waitFor(() => h.mc.stats().entries >= 20, 10_000, 'first 20 over CometD');
  expect((await service.store.loadCheckpoints()).get(CHANNEL)).toMatch(/^\d+$/);
  await service.stop();
  for (let i = 20; i < 30; i++) h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `m${i}@example.com` } });
  const s = await start();
  await waitFor(() => h.mc.stats().entries >= 30, 10_000, 'the next 10 over Pub/Sub');
  await new Promise((r) => setTimeout(r, 200));
  expect(h.mc.stats()).toMatchObject({ entries: 30, duplicates: 0 });
  expect((await s.store.loadCheckpoints()).get(CHANNEL)).toMatch(/=$/);
});

test('platform events are routed too over the Pub/Sub API, with their EventUuid', async () => {
  const channel = '/event/Order_Confirmed__e';
  const s = await start({
    channels: [{ name: channel, replayFrom: -2, recordIdField: 'Contact_Id__c' }],
    routes: [{
      name: 'order-confirmed', channel,
      target: { type: 'journey', eventDefinitionKey: 'APIEvent-order', mode: 'batch' },
      mapping: { data: { OrderNumber: 'Order_Number__c' }, required: ['OrderNumber'] },
    }],
  });
  ['0035g00000XyZab', contactId(1)].forEach((id, i) => h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: id, Order_Number__c: `ORD-${i}` }));
  h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: contactId(2) }); // no order number: dead-lettered
  await waitFor(() => h.mc.stats().entries >= 2, 10_000, 'two order entries');
  await s.dispatcher.settled();
  expect(h.mc.received().map((e) => [e.contactKey, e.data])).toEqual([
    ['0035g00000XyZabAAF', { OrderNumber: 'ORD-0' }],
    [contactId(1), { OrderNumber: 'ORD-1' }],
  ]);
  await waitFor(async () => (await s.store.actionsFor(contactId(2))).length > 0, 5_000, 'the dead letter');
  const dead = await s.store.actionsFor(contactId(2));
  expect(dead[0]).toMatchObject({ status: 'dead' });
  expect(dead[0]!.error).toContain('OrderNumber');
});

test('a burst of 1500 retained events is delivered in batches of at most 100 requested at a time', async () => {
  for (let i = 0; i < 1500; i++) h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `b${i}@example.com` } });
  const s = await start();
  await waitFor(() => h.mc.stats().entries >= 1500, 15_000, '1500 entries');
  await s.dispatcher.settled();
  expect(await s.store.counts()).toMatchObject({ delivered: 1500, pending: 0 });
  expect(h.sf.pubsub!.stats().maxOutstanding).toBeLessThanOrEqual(100);
  expect(h.sf.pubsub!.stats().requested).toBeGreaterThanOrEqual(1500);
  expect(s.telemetry.counters.batchesCommitted).toBeGreaterThanOrEqual(15);
});
