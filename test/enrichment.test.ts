/**
 * Gap events, overflow and wildcard resyncs, and field enrichment, end to end against the
 * emulator's REST API: records are fetched in batches (never one query per record), routed as
 * their change type, and what cannot be fetched is dead-lettered with a reason. Also: changes
 * made by an ignored client are skipped, and the events of one transaction keep their order.
 */
import type { Service } from '../src/service.ts';
import { bridgeConfig, CHANNEL, contactId, useHarness, waitFor, WELCOME_KEY } from './helpers/harness.ts';

const h = useHarness({ sf: { queryBatchSize: 10 } });
const start = (overrides: Record<string, unknown> = {}): Promise<Service> => h.startService(bridgeConfig(h.dir, overrides));

const idQueries = () => h.sf.restCalls().filter((c) => c.soql?.includes('WHERE Id IN'));
const idsIn = (soql: string) => (soql.match(/'[^']+'/g) ?? []).length;

test('GAP_UPDATE and GAP_CREATE: current records fetched by ID in batches of at most 200, routed as their change type', async () => {
  const ids = Array.from({ length: 250 }, (_, i) => contactId(i));
  // The org holds the records; the gap events carry header and IDs only.
  for (const [i, id] of ids.entries()) {
    h.sf.publishChange({
      entityName: 'Contact',
      changeType: i % 5 === 0 ? 'GAP_CREATE' : 'GAP_UPDATE',
      recordIds: [id],
      fields: { Email: `gap${i}@example.com`, Name: { FirstName: 'G', LastName: `Gap${i}` } },
    });
  }
  const s = await start();
  await waitFor(() => h.mc.stats().entries >= 250, 20_000, '250 gap entries');
  await s.dispatcher.settled();
  expect(h.mc.received({ contactKey: ids[7]! })[0]!.data).toEqual({ Email: 'gap7@example.com', FirstName: 'G', LastName: 'Gap7' });
  const queries = idQueries();
  expect(queries.length).toBeLessThanOrEqual(3);
  expect(queries.every((q) => idsIn(q.soql!) <= 200)).toBe(true);
  expect(queries.reduce((n, q) => n + idsIn(q.soql!), 0)).toBe(250);
  expect(h.sf.restCalls().filter((c) => c.path.endsWith('/describe'))).toHaveLength(1);
  expect(s.salesforce.telemetry.counters.gapRecordsFetched).toBe(250);
  expect(h.mc.stats()).toMatchObject({ entries: 250, duplicates: 0 });
});

test('a gap record that cannot be fetched (deleted since) is dead-lettered with the reason; the others go on', async () => {
  h.sf.publishChange({ entityName: 'Contact', changeType: 'GAP_UPDATE', recordIds: [contactId(1)], fields: { Email: 'a@example.com' } });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'GAP_UPDATE', recordIds: [contactId(2)], fields: { Email: 'b@example.com' } });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'DELETE', recordIds: [contactId(2)] });
  const s = await start();
  await waitFor(
    async () => (await s.store.actionsFor(contactId(2))).length > 0 && h.mc.stats().entries >= 1,
    10_000,
    'one entry and one dead letter',
  );
  const [dead] = await s.store.actionsFor(contactId(2));
  expect(dead).toMatchObject({ status: 'dead', errorCode: 'ENRICH_RECORD_NOT_FOUND' });
  expect(dead!.error).toContain(contactId(2));
  expect(h.mc.received().map((e) => e.contactKey)).toEqual([contactId(1)]);
});

test('GAP_OVERFLOW: the object is resynced by LastModifiedDate since the last commit seen, page by page', async () => {
  const s = await start();
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(900)], fields: { Email: 'before@example.com' } });
  await waitFor(() => h.mc.stats().entries >= 1, 10_000, 'the first entry');
  await s.dispatcher.settled();
  // Modified long before the last commit: not part of the resync.
  for (let i = 0; i < 3; i++)
    h.sf.upsertRecord('Contact', {
      Id: contactId(800 + i),
      Email: `old${i}@example.com`,
      LastModifiedDate: '2020-01-01T00:00:00.000Z',
      CreatedDate: '2020-01-01T00:00:00.000Z',
    });
  // A bulk job changed 25 contacts in one transaction: Salesforce sends one overflow event.
  const now = new Date(Date.now() + 1000).toISOString();
  const changed = Array.from({ length: 25 }, (_, i) => contactId(i));
  for (const [i, id] of changed.entries())
    h.sf.upsertRecord('Contact', {
      Id: id,
      Email: `bulk${i}@example.com`,
      LastName: `Bulk${i}`,
      LastModifiedDate: now,
      CreatedDate: '2024-01-01T00:00:00.000Z',
    });
  const before = h.sf.restCalls().length;
  h.sf.publishChange({ entityName: 'Contact', changeType: 'GAP_OVERFLOW', recordIds: [] });
  await waitFor(() => h.mc.stats().entries >= 26, 10_000, '25 resynced entries');
  await s.dispatcher.settled();
  const calls = h.sf.restCalls().slice(before);
  const resyncs = calls.filter((c) => c.soql?.includes('LastModifiedDate >='));
  expect(resyncs).toHaveLength(1);
  // 25 records at 10 per page: the first page and two nextRecordsUrl pages.
  expect(calls.filter((c) => /\/query\/01g/.test(c.path))).toHaveLength(2);
  // The bound is inclusive (another transaction may commit in the same millisecond), so the
  // record committed last may come again; the 3 older records never do.
  expect(h.mc.stats().entries).toBeLessThanOrEqual(27);
  expect(new Set(h.mc.received().map((e) => e.contactKey))).toEqual(new Set([contactId(900), ...changed]));
  expect(h.mc.received({ contactKey: changed[3]! })[0]!.data).toMatchObject({ Email: 'bulk3@example.com', LastName: 'Bulk3' });
  expect(s.salesforce.telemetry.counters.resyncRecords).toBeGreaterThanOrEqual(25);
  expect(s.salesforce.telemetry.counters.resyncRecords).toBeLessThanOrEqual(26);
});

test('a wildcard record ID (003*) resyncs the object instead of fanning out', async () => {
  const s = await start();
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(900)], fields: { Email: 'before@example.com' } });
  await waitFor(() => h.mc.stats().entries >= 1, 10_000, 'the first entry');
  const later = new Date(Date.now() + 1000).toISOString();
  for (let i = 0; i < 5; i++)
    h.sf.upsertRecord('Contact', { Id: contactId(i), Email: `w${i}@example.com`, LastModifiedDate: later, CreatedDate: '2024-01-01T00:00:00.000Z' });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: ['003*'],
    fields: { Email: 'ignored@example.com' },
    changedFields: ['Email'],
  });
  await waitFor(() => h.mc.stats().entries >= 6, 10_000, 'resynced entries');
  await s.dispatcher.settled();
  expect(h.sf.restCalls().filter((c) => c.soql?.includes('LastModifiedDate >='))).toHaveLength(1);
  expect((await s.store.counts()).dead).toBe(0);
});

test("enrichment: fields an UPDATE lacks are fetched once per batch of records, cached for the next events, and merged under the event's own", async () => {
  const ids = Array.from({ length: 120 }, (_, i) => contactId(i));
  for (const [i, id] of ids.entries()) {
    h.sf.publishChange({
      entityName: 'Contact',
      changeType: 'CREATE',
      recordIds: [id],
      fields: { Email: `e${i}@example.com`, Title: `T${i}`, Name: { LastName: `N${i}` } },
    });
  }
  const route = {
    name: 'phone-changed',
    channel: CHANNEL,
    changeTypes: ['UPDATE'],
    changedFields: ['Phone'],
    target: { type: 'journey', eventDefinitionKey: WELCOME_KEY, mode: 'batch' },
    mapping: { data: { Email: 'Email', Phone: 'Phone', LastName: 'Name.LastName' }, required: ['Email'] },
    enrich: ['Title'],
  };
  const s = await start({ channels: [{ name: CHANNEL, replayFrom: -1 }], routes: [route] });
  await waitFor(() => s.subscriber.subscribed, 10_000, 'subscribed');
  for (const [i, id] of ids.entries())
    h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [id], fields: { Phone: `+1 555 01${i}` } });
  await waitFor(() => h.mc.stats().entries >= 120, 15_000, '120 enriched entries');
  const first = idQueries();
  expect(first.length).toBeLessThanOrEqual(2);
  expect(first.reduce((n, q) => n + idsIn(q.soql!), 0)).toBe(120);
  expect(first[0]!.soql).toMatch(/SELECT Id, Email, LastName, Title FROM Contact/);
  // A second change to the same records within the cache TTL: no query at all.
  for (const [i, id] of ids.entries())
    h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [id], fields: { Phone: `+1 555 02${i}` } });
  await waitFor(() => h.mc.stats().entries >= 240, 15_000, '240 entries');
  await s.dispatcher.settled();
  expect(idQueries()).toHaveLength(first.length);
  const entry = h.mc.received({ contactKey: ids[5]! });
  expect(entry[0]!.data).toEqual({ Email: 'e5@example.com', Phone: '+1 555 015', LastName: 'N5' });
  expect(s.salesforce.telemetry.counters.enrichedEvents).toBe(240);
});

test('a cached record takes what later events change: the next event is not enriched with a replaced value', async () => {
  const id = contactId(7);
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [id],
    fields: { Email: 'old@example.com', Name: { LastName: 'Lee' } },
  });
  const route = {
    name: 'any-update',
    channel: CHANNEL,
    changeTypes: ['UPDATE'],
    target: { type: 'journey', eventDefinitionKey: WELCOME_KEY, mode: 'batch' },
    mapping: { data: { Email: 'Email', Phone: 'Phone' }, required: ['Email'] },
  };
  const s = await start({ channels: [{ name: CHANNEL, replayFrom: -1 }], routes: [route] });
  await waitFor(() => s.subscriber.subscribed, 10_000, 'subscribed');
  const update = async (fields: Record<string, unknown>, n: number) => {
    h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [id], fields, changedFields: Object.keys(fields) });
    await waitFor(() => h.mc.stats().entries >= n, 10_000, `entry ${n}`);
  };
  await update({ Phone: '1' }, 1); // Email fetched, and cached
  await update({ Email: 'new@example.com' }, 2); // carried by the event
  await update({ Phone: '2' }, 3); // Email from the cache: the new one
  expect(h.mc.received({ contactKey: id }).map((e) => e.data)).toEqual([
    { Email: 'old@example.com', Phone: '1' },
    { Email: 'new@example.com', Phone: '1' },
    { Email: 'new@example.com', Phone: '2' },
  ]);
  expect(idQueries()).toHaveLength(1);
  // Two events in one batch: the first needs a fetch (served from the cache), the second
  // carries both fields. The cached copy must end with the second's values, not the first's.
  h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [id], fields: { Phone: '4' }, changedFields: ['Phone'] });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [id],
    fields: { Email: 'c@example.com', Phone: '5' },
    changedFields: ['Email', 'Phone'],
  });
  await waitFor(() => h.mc.stats().entries >= 5, 10_000, 'entries 4 and 5');
  await update({ Email: 'd@example.com' }, 6); // Phone from the cache: the second's
  expect(
    h.mc
      .received({ contactKey: id })
      .slice(3)
      .map((e) => e.data),
  ).toEqual([
    { Email: 'new@example.com', Phone: '4' },
    { Email: 'c@example.com', Phone: '5' },
    { Email: 'd@example.com', Phone: '5' },
  ]);
  expect(idQueries()).toHaveLength(1);
  // A deletion drops the cached copy: after an undelete, the next event is fetched afresh.
  h.sf.publishChange({ entityName: 'Contact', changeType: 'DELETE', recordIds: [id] });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'UNDELETE', recordIds: [id], fields: { Email: 'back@example.com' } });
  await update({ Phone: '3' }, 7);
  expect(h.mc.received({ contactKey: id }).at(-1)!.data).toEqual({ Email: 'back@example.com', Phone: '3' });
  expect(idQueries()).toHaveLength(2);
});

test('a field the route needs that the object lacks: dead-lettered naming the field, the other routes go on', async () => {
  const route = (name: string, enrich: string[]) => ({
    name,
    channel: CHANNEL,
    changeTypes: ['UPDATE'],
    target: { type: 'journey', eventDefinitionKey: `${WELCOME_KEY}-${name}`, mode: 'batch' },
    mapping: { data: { Email: 'Email' }, required: ['Email'] },
    enrich,
  });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(1)], fields: { Email: 'x@example.com' } });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [contactId(1)], fields: { Phone: '1' } });
  const s = await start({ routes: [route('good', []), route('bad', ['Loyalty_Tier__c'])] });
  await waitFor(async () => (await s.store.counts()).dead >= 1 && h.mc.stats().entries >= 1, 10_000, 'an entry and a dead letter');
  const rows = await s.store.actionsFor(contactId(1));
  const dead = rows.find((r) => r.status === 'dead')!;
  expect(dead).toMatchObject({ route: 'bad', errorCode: 'ENRICH_UNKNOWN_FIELD' });
  expect(dead.error).toContain('"Loyalty_Tier__c"');
  expect(h.mc.received()[0]).toMatchObject({ contactKey: contactId(1), eventDefinitionKey: `${WELCOME_KEY}-good`, data: { Email: 'x@example.com' } });
});

test('loop prevention: changes whose changeOrigin names an ignored client are skipped', async () => {
  const s = await start({ salesforce: { ignoreChangeOrigins: ['sfmc-bridge-writeback'] } });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [contactId(1)],
    fields: { Email: 'mine@example.com' },
    changeOrigin: 'com/salesforce/api/rest/62.0;client=sfmc-bridge-writeback',
  });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [contactId(2)],
    fields: { Email: 'theirs@example.com' },
    changeOrigin: 'com/salesforce/api/soap/62.0;client=SomeApp',
  });
  await waitFor(() => h.mc.stats().entries >= 1 && s.salesforce.telemetry.counters.skippedOwnChanges >= 1, 10_000, 'one entry, one skipped');
  await s.dispatcher.settled();
  expect(h.mc.received().map((e) => e.contactKey)).toEqual([contactId(2)]);
  expect(await s.store.actionsFor(contactId(1))).toEqual([]);
});

test('the events of one transaction keep their sequence order in the outbox, even when one of them needs a fetch', async () => {
  const tx = '0002a1b2-lead-convert';
  const lead = '00Q5g00000LeadAAAAA'.slice(0, 15);
  const routes = [
    {
      name: 'lead',
      channel: '/data/ChangeEvents',
      entities: ['Lead'],
      changeTypes: ['UPDATE'],
      target: { type: 'journey', eventDefinitionKey: 'K-lead', mode: 'batch' },
      mapping: { data: { Email: 'Email', Status: 'Status' } },
    },
    {
      name: 'contact',
      channel: '/data/ChangeEvents',
      entities: ['Contact'],
      changeTypes: ['CREATE', 'UPDATE'],
      target: { type: 'journey', eventDefinitionKey: 'K-contact', mode: 'batch' },
      mapping: { data: { Email: 'Email' } },
    },
  ];
  h.sf.publishChange({
    entityName: 'Lead',
    changeType: 'CREATE',
    recordIds: [lead],
    fields: { Email: 'lead@example.com', LastName: 'L', Company: 'C' },
  });
  h.sf.publishChange({
    entityName: 'Lead',
    changeType: 'UPDATE',
    recordIds: [lead],
    fields: { Status: 'Converted' },
    transactionKey: tx,
    sequenceNumber: 1,
  });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [contactId(1)],
    fields: { Email: 'c@example.com' },
    transactionKey: tx,
    sequenceNumber: 2,
  });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [contactId(1)],
    fields: { Title: 'CEO' },
    transactionKey: tx,
    sequenceNumber: 3,
  });
  const s = await start({ channels: [{ name: '/data/ChangeEvents', replayFrom: -2 }], routes });
  await waitFor(() => h.mc.stats().entries >= 3, 10_000, 'three entries');
  const leadRow = (await s.store.actionsFor((await import('../src/normalize/ids.ts')).to18(lead)))[0]!;
  const contactRows = await s.store.actionsFor(contactId(1));
  expect(contactRows).toHaveLength(2);
  // The lead's UPDATE needed Email fetched; it is still first, then the contact's CREATE and UPDATE.
  expect(leadRow.payload).toMatchObject({ data: { Email: 'lead@example.com', Status: 'Converted' } });
  expect(leadRow.id).toBeLessThan(contactRows[0]!.id);
  expect(contactRows[0]!.id).toBeLessThan(contactRows[1]!.id);
  expect(contactRows[1]!.payload).toMatchObject({ data: { Email: 'c@example.com' } });
});
