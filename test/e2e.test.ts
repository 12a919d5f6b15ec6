/**
 * The spine end to end, in one process: CDC events from the streaming emulator, through the
 * real subscriber, planner, outbox and dispatcher, into the Marketing Cloud emulator.
 */
import type { Service } from '../src/service.ts';
import { bridgeConfig, CHANNEL, contactId, useHarness, waitFor, WELCOME_KEY } from './helpers/harness.ts';
import {
  expectOrderEntries,
  expectResumeAfterRestart,
  expectSpineEntries,
  ORDER_ROUTING,
  publishOrders,
  publishSpineChanges,
} from './helpers/spine.ts';

const h = useHarness();
const start = (overrides: Record<string, unknown> = {}): Promise<Service> => h.startService(bridgeConfig(h.dir, overrides));

test('Marketing Cloud receives exactly the journey entries the routed changes call for, keyed by 18-character IDs', async () => {
  // A message that is not a change event at all: dead-lettered too.
  const scenario = publishSpineChanges(h.sf, () => h.sf.publishRaw(CHANNEL, { schema: 's', event: { replayId: 'nope' }, payload: {} }));
  const { created, expected } = scenario;

  const s = await start();
  await waitFor(() => h.mc.stats().entries >= expected, 15_000, `${expected} entries`);
  await s.dispatcher.settled();
  expectSpineEntries(h.mc, scenario);

  const counts = await s.store.counts();
  expect(counts).toMatchObject({ delivered: expected, pending: 0, inflight: 0, dead: 2 });
  const [row] = await s.store.actionsFor(created[7]!);
  expect(row!.deliveryIds?.requestId).toBeTruthy();
  expect(row!.deliveryIds?.eventInstanceId).toBe(h.mc.received({ contactKey: created[7]! })[0]!.eventInstanceId);
  // Exactly the two bad inputs are dead letters, each with a reason naming what was wrong.
  const dead = await s.store.deadLetters();
  expect(dead).toHaveLength(2);
  const broken = dead.find((d) => d.recordId === '003-broken');
  expect(broken?.error).toContain('003-broken');
  const unreadable = dead.find((d) => d !== broken)!;
  expect(unreadable).toMatchObject({ status: 'dead', channel: CHANNEL, route: '(normalize)' });
  expect(unreadable.error).toBeTruthy();
});

test('a route in single mode delivers each entry through /interaction/v1/events and records its eventInstanceId', async () => {
  const ids = Array.from({ length: 12 }, (_, i) => contactId(i));
  for (const id of ids) h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [id], fields: { Email: `${id}@example.com` } });
  const config = bridgeConfig(h.dir);
  const route = (config.routes as Record<string, unknown>[])[0]!;
  route.target = { type: 'journey', eventDefinitionKey: WELCOME_KEY, mode: 'single' };
  const s = await start({ routes: [route] });
  await waitFor(() => h.mc.stats().entries >= ids.length, 10_000, 'single entries');
  await s.dispatcher.settled();
  expect(h.mc.received().every((e) => e.via === 'single')).toBe(true);
  expect((await s.store.actionsFor(ids[0]!))[0]!.deliveryIds?.eventInstanceId).toBe(h.mc.received({ contactKey: ids[0]! })[0]!.eventInstanceId);
});

test('after a restart the bridge resumes from its checkpoint: events published while it was down arrive, earlier ones are not sent again', async () => {
  await expectResumeAfterRestart(h.sf, h.mc, () => start());
});

test('a Marketing Cloud token that expires mid-stream is replaced once and delivery goes on', async () => {
  const s = await start();
  for (let i = 0; i < 20; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `t${i}@example.com` } });
  await waitFor(() => h.mc.stats().entries >= 20, 10_000, 'first 20');
  h.mc.expireTokens();
  for (let i = 20; i < 40; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `t${i}@example.com` } });
  await waitFor(() => h.mc.stats().entries >= 40, 10_000, 'next 20');
  expect(h.mc.stats().tokensIssued).toBe(2);
  expect((await s.store.counts()).dead).toBe(0);
});

test('platform events are routed too: the record ID comes from the configured field and becomes an 18-character Contact Key', async () => {
  const s = await start(ORDER_ROUTING);
  const published = publishOrders(h.sf);
  await waitFor(() => h.mc.stats().entries >= 2, 10_000, 'two order entries');
  await s.dispatcher.settled();
  await expectOrderEntries(h.mc, s.store, published);
});

test('a burst followed by silence is committed and delivered at once, not when the held /meta/connect returns', async () => {
  // Over 500 events in one response takes the burst path, which defers the commit; the server
  // then holds the next connect for up to 110 s because nothing more is published.
  for (let i = 0; i < 1500; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `b${i}@example.com` } });
  const s = await start();
  await waitFor(() => h.mc.stats().entries >= 1500, 5_000, '1500 entries within 5 s');
  await s.dispatcher.settled();
  expect(await s.store.counts()).toMatchObject({ delivered: 1500, pending: 0 });
});
