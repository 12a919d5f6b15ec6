/**
 * The spine end to end over the Pub/Sub API (`salesforce.transport: "pubsub"`): CDC and
 * platform events from the Pub/Sub emulator, through the gRPC subscriber, planner, outbox
 * and dispatcher, into the Marketing Cloud emulator, with the same results as over CometD.
 */
import type { Service } from '../src/service.ts';
import type { PubSubSubscriber } from '../subscribers/pubsub/index.ts';
import { bridgeConfig, CHANNEL, contactId, useHarness, waitFor } from './helpers/harness.ts';
import {
  expectCaughtUp,
  expectOrderEntries,
  expectResumeAfterRestart,
  expectSpineEntries,
  ORDER_ROUTING,
  publishOrders,
  publishSpineChanges,
} from './helpers/spine.ts';

const h = useHarness({ sf: { pubsub: true } });

function pubsubConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return bridgeConfig(h.dir, { salesforce: { transport: 'pubsub', pubsubUrl: h.sf.pubsub!.address }, ...overrides });
}

const start = (overrides: Record<string, unknown> = {}): Promise<Service> => h.startService(pubsubConfig(overrides));

test('Marketing Cloud receives exactly the journey entries the routed changes call for, over the Pub/Sub API', async () => {
  const scenario = publishSpineChanges(h.sf);
  const { expected, last } = scenario;

  const s = await start();
  await waitFor(() => h.mc.stats().entries >= expected, 15_000, `${expected} entries`);
  await s.dispatcher.settled();
  expectSpineEntries(h.mc, scenario);
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
  await expectResumeAfterRestart(h.sf, h.mc, () => start());
  expect(h.sf.pubsub!.stats().subscribes).toBe(2);
});

test('a checkpoint the CometD transport stored is honoured when the bridge switches to the Pub/Sub API', async () => {
  for (let i = 0; i < 20; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `m${i}@example.com` } });
  const cometd = await h.startService(); // CometD
  await waitFor(() => h.mc.stats().entries >= 20, 10_000, 'first 20 over CometD');
  expect((await cometd.store.loadCheckpoints()).get(CHANNEL)).toMatch(/^\d+$/);
  await h.stopService();
  let last = '';
  for (let i = 20; i < 30; i++)
    last = String(
      h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `m${i}@example.com` } }).replayId,
    );
  const s = await start();
  await waitFor(() => h.mc.stats().entries >= 30, 10_000, 'the next 10 over Pub/Sub');
  await expectCaughtUp(s, last);
  expect(h.mc.stats()).toMatchObject({ entries: 30, duplicates: 0 });
  expect((await s.store.loadCheckpoints()).get(CHANNEL)).toMatch(/=$/);
});

test('platform events are routed too over the Pub/Sub API, with their EventUuid', async () => {
  const s = await start(ORDER_ROUTING);
  const published = publishOrders(h.sf);
  await waitFor(() => h.mc.stats().entries >= 2, 10_000, 'two order entries');
  await s.dispatcher.settled();
  await expectOrderEntries(h.mc, s.store, published);
});

test('a burst of 1500 retained events is requested at most 100 at a time and committed several responses to a transaction', async () => {
  for (let i = 0; i < 1500; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `b${i}@example.com` } });
  const s = await start();
  await waitFor(() => h.mc.stats().entries >= 1500, 15_000, '1500 entries');
  await s.dispatcher.settled();
  expect(await s.store.counts()).toMatchObject({ delivered: 1500, pending: 0 });
  expect(h.sf.pubsub!.stats().maxOutstanding).toBeLessThanOrEqual(100);
  expect(h.sf.pubsub!.stats().requested).toBeGreaterThanOrEqual(1500);
  // 15 full responses; a burst's responses share commits (one each would be 15).
  expect(s.telemetry.counters.batchesCommitted).toBeLessThan(15);
});
