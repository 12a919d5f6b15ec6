// The admin's generic events say where they go: MC_Journey_Entry__e enters any journey and MC_Send__e sends through either API, with no config change; bad input is dead-lettered naming the field and value while the stream goes on.
import { load } from '../src/config/load.ts';
import { clearSharedTokenManagers } from '../src/delivery/mc/auth.ts';
import { MAX_PAYLOAD_BYTES } from '../src/route/mapping-checks.ts';
import { contactId, useHarness, waitFor } from './helpers/harness.ts';
import { join } from 'node:path';

const h = useHarness({ mc: { sendDefinitionKeys: ['order-confirm', 'classic-welcome'] } }, { setup: clearSharedTokenManagers });

function config(): Record<string, unknown> {
  return {
    channels: [
      { name: '/event/MC_Journey_Entry__e', replayFrom: -2 },
      { name: '/event/MC_Send__e', replayFrom: -2 },
    ],
    routes: [
      {
        name: 'admin-journey',
        channel: '/event/MC_Journey_Entry__e',
        target: { type: 'journey', eventDefinitionKey: 'APIEvent-fallback' },
        mapper: 'journey-entry-event',
      },
      { name: 'admin-send', channel: '/event/MC_Send__e', target: { type: 'transactional' }, mapper: 'send-event' },
    ],
    store: { kind: 'sqlite', path: join(h.dir, 'bridge.db') },
    dispatcher: { pollIntervalMs: 20 },
    log: { level: 'warn', pretty: false },
  };
}

test('generic events are routed by their own fields to journeys, transactional and classic sends; bad ones are dead letters naming field and value', async () => {
  const [a, b, c, d] = [contactId(1), contactId(2), contactId(3), contactId(4)];
  h.sf.publishPlatformEvent('MC_Journey_Entry__e', {
    Record_Id__c: a,
    Event_Definition_Key__c: 'APIEvent-onboarding',
    Data__c: '{"Plan":"Gold"}',
    Correlation_Id__c: 'flow-42',
  });
  h.sf.publishPlatformEvent('MC_Journey_Entry__e', { Record_Id__c: b }); // no key: the route's
  h.sf.publishPlatformEvent('MC_Send__e', {
    Record_Id__c: c,
    Definition_Key__c: 'order-confirm',
    Email__c: 'c@example.com',
    Attributes__c: '{"Order":"ORD-1"}',
    Api__c: 'transactional',
  });
  h.sf.publishPlatformEvent('MC_Send__e', { Record_Id__c: d, Definition_Key__c: 'classic-welcome', Email__c: 'd@example.com', Api__c: 'classic' });
  // Bad input, each dead-lettered with its own reason.
  const bad = {
    email: contactId(10),
    json: contactId(11),
    api: contactId(12),
    key: contactId(13),
    big: contactId(14),
    data: contactId(15),
  };
  h.sf.publishPlatformEvent('MC_Send__e', { Record_Id__c: bad.email, Definition_Key__c: 'order-confirm', Email__c: 'not-an-email' });
  h.sf.publishPlatformEvent('MC_Send__e', {
    Record_Id__c: bad.json,
    Definition_Key__c: 'order-confirm',
    Email__c: 'x@example.com',
    Attributes__c: '{"Order":',
  });
  h.sf.publishPlatformEvent('MC_Send__e', { Record_Id__c: bad.api, Definition_Key__c: 'order-confirm', Email__c: 'x@example.com', Api__c: 'sms' });
  h.sf.publishPlatformEvent('MC_Send__e', { Record_Id__c: bad.key, Email__c: 'x@example.com' });
  h.sf.publishPlatformEvent('MC_Send__e', {
    Record_Id__c: bad.big,
    Definition_Key__c: 'order-confirm',
    Email__c: 'x@example.com',
    Attributes__c: JSON.stringify({ Blob: 'x'.repeat(MAX_PAYLOAD_BYTES) }),
  });
  h.sf.publishPlatformEvent('MC_Journey_Entry__e', { Record_Id__c: bad.data, Data__c: '[1,2]' });
  // A definition Marketing Cloud does not have: the target probe looks the new key up once and
  // refuses the send with its reason instead of sending it.
  const paused = contactId(20);
  h.sf.publishPlatformEvent('MC_Send__e', { Record_Id__c: paused, Definition_Key__c: 'unknown-def', Email__c: 'p@example.com' });
  const last = contactId(30);
  h.sf.publishPlatformEvent('MC_Send__e', { Record_Id__c: last, Definition_Key__c: 'order-confirm', Email__c: 'last@example.com' });

  const s = await h.startService(config());
  await waitFor(() => h.mc.stats().entries >= 2 && h.mc.stats().sends >= 3, 15_000, 'entries and sends');
  await waitFor(async () => (await s.store.counts()).dead >= 7, 10_000, 'dead letters');
  await s.dispatcher.settled();

  // Entries for different keys go in separate requests, concurrently: compare sorted.
  const entries = h.mc.received().sort((x, y) => x.contactKey.localeCompare(y.contactKey));
  expect(entries.map((e) => [e.contactKey, e.eventDefinitionKey, e.data])).toEqual([
    [a, 'APIEvent-onboarding', { Plan: 'Gold', CorrelationId: 'flow-42' }],
    [b, 'APIEvent-fallback', {}],
  ]);
  // Targets deliver concurrently: order across targets is not promised, so compare sorted.
  const sends = h.mc.sends().sort((x, y) => x.contactKey.localeCompare(y.contactKey));
  expect(sends.map((x) => [x.api, x.contactKey, x.definitionKey, x.to])).toEqual([
    ['transactional', c, 'order-confirm', 'c@example.com'],
    ['triggered', d, 'classic-welcome', 'd@example.com'],
    ['transactional', last, 'order-confirm', 'last@example.com'],
  ]);
  expect(sends[0]!.attributes).toEqual({ Order: 'ORD-1' });
  // The messageKey is the action's idempotency key.
  const [row] = await s.store.actionsFor(c);
  expect(row).toMatchObject({ status: 'delivered', target: 'transactional' });
  expect(sends[0]!.messageKey).toBe(row!.idempotencyKey);
  expect(row!.deliveryIds?.messageKey).toBe(row!.idempotencyKey);
  expect((await s.store.actionsFor(d))[0]!.deliveryIds?.recipientSendId).toBe(sends[1]!.recipientSendId);

  const reason = async (id: string) => (await s.store.actionsFor(id))[0]!;
  expect(await reason(bad.email)).toMatchObject({
    status: 'dead',
    errorCode: 'MAPPING_BAD_VALUE',
    error: expect.stringMatching(/Email__c.*not an e-mail address.*not-an-email/),
  });
  expect(await reason(bad.json)).toMatchObject({
    status: 'dead',
    errorCode: 'MAPPING_BAD_VALUE',
    error: expect.stringMatching(/Attributes__c.*not valid JSON.*\{"Order":/),
  });
  expect(await reason(bad.api)).toMatchObject({ status: 'dead', error: expect.stringMatching(/Api__c.*"sms"/) });
  expect(await reason(bad.key)).toMatchObject({
    status: 'dead',
    errorCode: 'MAPPING_MISSING_FIELD',
    error: expect.stringContaining('Definition_Key__c'),
  });
  expect(await reason(bad.big)).toMatchObject({ status: 'dead', errorCode: 'MAPPING_TOO_LARGE', error: expect.stringContaining('Attributes__c') });
  expect(await reason(bad.data)).toMatchObject({ status: 'dead', error: expect.stringMatching(/Data__c.*must be a JSON object.*\[1,2\]/) });
  expect(await reason(paused)).toMatchObject({
    status: 'dead',
    errorCode: 'MC_DEFINITION_MISSING',
    error: expect.stringContaining('"unknown-def" does not exist'),
  });
});

test('a send route with a declarative mapping takes the address from addressField and attributes from mapping.data', async () => {
  const cfg = config();
  cfg.channels = [{ name: '/event/Order_Confirmed__e', replayFrom: -2, recordIdField: 'Contact_Id__c' }];
  cfg.routes = [
    {
      name: 'order',
      channel: '/event/Order_Confirmed__e',
      target: { type: 'transactional', definitionKey: 'order-confirm', addressField: 'Email__c', mode: 'single', mid: '514000123' },
      mapping: { data: { OrderNumber: 'Order_Number__c' }, required: ['OrderNumber'] },
    },
  ];
  const [ok, noMail] = [contactId(1), contactId(2)];
  h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: ok, Email__c: 'ok@example.com', Order_Number__c: 'ORD-9' });
  h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: noMail, Order_Number__c: 'ORD-10' });
  const s = await h.startService(cfg);
  await waitFor(() => h.mc.stats().sends >= 1, 10_000, 'one send');
  await waitFor(async () => (await s.store.counts()).dead >= 1, 10_000, 'one dead letter');
  expect(h.mc.sends()).toEqual([expect.objectContaining({ via: 'single', to: 'ok@example.com', attributes: { OrderNumber: 'ORD-9' } })]);
  expect((await s.store.actionsFor(ok))[0]!.payload).toMatchObject({ mid: '514000123' });
  expect((await s.store.actionsFor(noMail))[0]).toMatchObject({
    status: 'dead',
    errorCode: 'MAPPING_MISSING_FIELD',
    error: expect.stringContaining('Email__c'),
  });
});

test('a send route with mapping but no definitionKey is a config error naming the key', () => {
  const cfg = config();
  cfg.routes = [{ name: 'x', channel: '/event/MC_Send__e', target: { type: 'triggeredSend' }, mapping: { data: {} } }];
  expect(() => load(cfg, h.env)).toThrow(/routes\[0\]\.target\.definitionKey: is required/);
});
