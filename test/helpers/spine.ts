/**
 * The spine's end-to-end scenarios, the same over either transport: the changes (and the
 * platform events) published and what Marketing Cloud must receive from them.
 */
import { expect } from '@jest/globals';
import type { McEmulator } from '../../src/emulators/mc/types.ts';
import type { StreamingEmulator } from '../../src/emulators/streaming/types.ts';
import type { Service } from '../../src/service.ts';
import type { Store } from '../../src/outbox/contract.ts';
import { correlationIdOf, idempotencyKey } from '../../src/normalize/idempotency.ts';
import { CHANNEL, contactId, waitFor, WELCOME_KEY } from './harness.ts';

/** What `publishSpineChanges` published. */
export interface SpineScenario {
  /** 250 created contacts, with name and e-mail. */
  created: string[];
  /** The three records of one multi-ID event. */
  merged: string[];
  /** Entries Marketing Cloud must hold in the end. */
  expected: number;
  /** The last event published (its replay ID is the final checkpoint). */
  last: ReturnType<StreamingEmulator['publishChange']>;
}

/**
 * Publishes creates, a multi-ID update, a 15-character ID, an unrouted change and an invalid
 * ID; `beforeLast` may publish more bad input before the last valid create.
 */
export function publishSpineChanges(sf: StreamingEmulator, beforeLast?: () => void): SpineScenario {
  const created = Array.from({ length: 250 }, (_, i) => contactId(i));
  for (const [i, id] of created.entries()) {
    sf.publishChange({
      entityName: 'Contact',
      changeType: 'CREATE',
      recordIds: [id],
      fields: { Name: { FirstName: `F${i}`, LastName: `L${i}` }, Email: `c${i}@example.com` },
    });
  }
  // One event for three records: fanned out to three entries.
  const merged = [contactId(1000), contactId(1001), contactId(1002)];
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: merged, fields: { Email: 'shared@example.com' } });
  // A 15-character ID becomes its 18-character form: chunks 0035g, 00000, XyZab give suffix A, A, F (X and Z set bits 0 and 2).
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: ['0035g00000XyZab'], fields: { Email: 'short@example.com' } });
  // Not routed: the e-mail did not change.
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [contactId(2000)], fields: { Phone: '555' } });
  // Bad input: dead-lettered, the stream goes on.
  sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-broken'], fields: { Email: 'x@example.com' } });
  beforeLast?.();
  const last = sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(3000)], fields: { Email: 'last@example.com' } });
  return { created, merged, expected: 250 + 3 + 1 + 1, last };
}

/** Marketing Cloud holds exactly the scenario's entries: once each, 18-character keys, the mapped data. */
export function expectSpineEntries(mc: McEmulator, { created, merged, expected }: SpineScenario): void {
  const entries = mc.received();
  expect(entries).toHaveLength(expected);
  expect(mc.stats().duplicates).toBe(0);
  const keys = new Set(entries.map((e) => e.contactKey));
  for (const id of [...created, ...merged, '0035g00000XyZabAAF', contactId(3000)]) expect(keys).toContain(id);
  expect(keys).not.toContain(contactId(2000));
  expect(entries.every((e) => e.contactKey.length === 18 && e.eventDefinitionKey === WELCOME_KEY && e.via === 'async')).toBe(true);
  expect(mc.received({ contactKey: created[7]! })[0]!.data).toEqual({ Email: 'c7@example.com', FirstName: 'F7', LastName: 'L7' });
}

/** The platform event channel of the order scenario. */
export const ORDER_CHANNEL = '/event/Order_Confirmed__e';

/** Config overrides routing order confirmations (record ID from `Contact_Id__c`) into a journey; an order number is required. */
export const ORDER_ROUTING: Record<string, unknown> = {
  channels: [{ name: ORDER_CHANNEL, replayFrom: -2, recordIdField: 'Contact_Id__c' }],
  routes: [
    {
      name: 'order-confirmed',
      channel: ORDER_CHANNEL,
      target: { type: 'journey', eventDefinitionKey: 'APIEvent-order', mode: 'batch' },
      mapping: { data: { OrderNumber: 'Order_Number__c' }, required: ['OrderNumber'] },
    },
  ],
};

/** Publishes two orders (one for a 15-character ID) and one without an order number; returns what the two valid ones were published as. */
export function publishOrders(sf: StreamingEmulator): ReturnType<StreamingEmulator['publishPlatformEvent']>[] {
  const published = ['0035g00000XyZab', contactId(1)].map((id, i) =>
    sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: id, Order_Number__c: `ORD-${i}` }),
  );
  sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: contactId(2) }); // no order number: dead-lettered
  return published;
}

/**
 * Marketing Cloud holds the two orders, keyed by 18-character IDs; the third is a dead letter
 * naming the missing field. Each order's action is keyed and correlated by the EventUuid the
 * event was published with (the bridge read it from the event, on either transport), and
 * Marketing Cloud's answer for it is recorded.
 */
export async function expectOrderEntries(
  mc: McEmulator,
  store: Store,
  published: ReturnType<StreamingEmulator['publishPlatformEvent']>[],
): Promise<void> {
  expect(mc.received().map((e) => [e.contactKey, e.data])).toEqual([
    ['0035g00000XyZabAAF', { OrderNumber: 'ORD-0' }],
    [contactId(1), { OrderNumber: 'ORD-1' }],
  ]);
  for (const [i, recordId] of ['0035g00000XyZabAAF', contactId(1)].entries()) {
    const { eventUuid } = published[i]!;
    const [row] = await store.actionsFor(recordId);
    expect(row).toMatchObject({ status: 'delivered', route: 'order-confirmed' });
    // The key's time prefix is the event's CreatedDate: compare the digest, which names the EventUuid.
    const fromUuid = idempotencyKey({ channel: ORDER_CHANNEL, replayId: 'any', kind: 'platform', recordId, eventUuid }, 'order-confirmed');
    expect(row!.idempotencyKey.slice(11)).toBe(fromUuid.slice(11));
    expect(row!.correlationId).toBe(correlationIdOf(ORDER_CHANNEL, row!.replayId, recordId, eventUuid));
    expect(row!.deliveryIds?.eventInstanceId).toBe(mc.received({ contactKey: recordId })[0]!.eventInstanceId);
  }
  await waitFor(async () => (await store.actionsFor(contactId(2))).length > 0, 5_000, 'the dead letter');
  const dead = await store.actionsFor(contactId(2));
  expect(dead[0]).toMatchObject({ status: 'dead' });
  expect(dead[0]!.error).toContain('OrderNumber');
}

/**
 * The restart scenario: 50 contacts created and delivered, the bridge stopped, 30 more created
 * while it is down, the bridge started again; Marketing Cloud ends with all 80, none twice.
 * "None twice" is checked once the bridge has nothing more to send: its checkpoint is the last
 * event published and its outbox is empty.
 */
export async function expectResumeAfterRestart(sf: StreamingEmulator, mc: McEmulator, start: () => Promise<Service>): Promise<void> {
  for (let i = 0; i < 50; i++)
    sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `a${i}@example.com` } });
  const first = await start();
  await waitFor(() => mc.stats().entries >= 50, 10_000, 'first 50');
  await first.stop();
  let last = '';
  for (let i = 50; i < 80; i++)
    last = String(
      sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `b${i}@example.com` } }).replayId,
    );
  const second = await start();
  await waitFor(() => mc.stats().entries >= 80, 10_000, 'all 80');
  await expectCaughtUp(second, last);
  expect(mc.stats()).toMatchObject({ entries: 80, uniqueContacts: 80, duplicates: 0 });
}

/**
 * Waits until `s` has committed the event `lastReplayId` (in either transport's form) on
 * `channel` and delivered everything it stored: from then on nothing more can reach Marketing
 * Cloud, so counts taken after it are final (a condition, not a sleep).
 */
export async function expectCaughtUp(s: Service, lastReplayId: string, channel = CHANNEL): Promise<void> {
  const committed = (stored: string | undefined): boolean =>
    stored !== undefined &&
    (stored === lastReplayId || (/=$/.test(stored) && Buffer.from(stored, 'base64').readBigUInt64BE().toString() === lastReplayId));
  await waitFor(
    async () => committed((await s.store.loadCheckpoints()).get(channel)) && (await s.store.backlog()) === 0,
    10_000,
    `the checkpoint at ${lastReplayId} and an empty outbox`,
  );
  await s.dispatcher.settled();
}
