// Rule: every raw message becomes one normalized event per record (18-character IDs, flattened compound fields, changed and nulled fields in both forms) or a dead letter naming the field and value, and normalize never throws.
import { normalize } from '../src/normalize/events.ts';
import { idempotencyKey } from '../src/normalize/idempotency.ts';
import type { RawEvent } from '../src/core/model.ts';
import { changeEvent, channel, platformEvent } from './helpers/cdc.ts';
import { Code } from '../src/core/errors.ts';

const CONTACTS = channel('/data/ContactChangeEvent');
const ENTRY = channel('/event/MC_Journey_Entry__e');

describe('change events', () => {
  it('keeps the header and converts the record ID to 18 characters', () => {
    const { events, deadLetters } = normalize(changeEvent({ header: { recordIds: ['0035g00000XyZab'] } }), CONTACTS);
    expect(deadLetters).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      channel: '/data/ContactChangeEvent',
      replayId: '123456',
      kind: 'change',
      entityName: 'Contact',
      changeType: 'UPDATE',
      recordId: '0035g00000XyZabAAF',
      contactKey: '0035g00000XyZabAAF',
      transactionKey: '0002a1b2-0000-4000-8000-000000000001',
      sequenceNumber: 1,
      commitTimestamp: 1714156685000,
      commitNumber: '11657372702432',
      commitUser: '0055g00000AbCdEAAV',
      changeOrigin: 'com/salesforce/api/soap/62.0;client=SomeApp',
      fields: { Email: 'jane@example.com', LastModifiedDate: '2026-04-09T20:26:27.000Z' },
      receivedAt: 1_760_000_000_000,
    });
    expect(events[0]!.fields).not.toHaveProperty('ChangeEventHeader');
  });

  it('fans a merged event out to one event per record ID, each with its own correlation ID', () => {
    const ids = ['0035g00000XyZabAAF', '0035g00000XyZac', '0035g00000XyZad'];
    const { events } = normalize(changeEvent({ header: { recordIds: ids } }), CONTACTS);
    expect(events.map((e) => e.recordId)).toEqual(['0035g00000XyZabAAF', '0035g00000XyZacAAF', '0035g00000XyZadAAF']);
    expect(new Set(events.map((e) => e.correlationId)).size).toBe(3);
    for (const e of events) {
      expect(e.correlationId).toMatch(/^[0-9a-f]{16}$/);
      expect(e.fields.Email).toBe('jane@example.com');
    }
    expect(events[1]!.fields).not.toBe(events[0]!.fields); // siblings do not share containers
  });

  it('keeps one event when a merged event names a record twice (15 and 18 characters)', () => {
    const { events } = normalize(changeEvent({ header: { recordIds: ['0035g00000XyZab', '0035G00000XYZABAAF'] } }), CONTACTS);
    expect(events.map((e) => e.recordId)).toEqual(['0035g00000XyZabAAF']);
  });

  it('gives the same correlation ID to the same event every time', () => {
    const a = normalize(changeEvent(), CONTACTS).events[0]!;
    const b = normalize(changeEvent(), CONTACTS).events[0]!;
    const c = normalize(changeEvent({ replayId: '123457' }), CONTACTS).events[0]!;
    expect(a.correlationId).toBe(b.correlationId);
    expect(a.correlationId).not.toBe(c.correlationId);
  });

  it('flattens Name while keeping the nested value, and lists changed fields in both forms', () => {
    const raw = changeEvent({
      header: { changedFields: ['Name.LastName', 'Name.FirstName', 'LastModifiedDate'] },
      fields: { Name: { FirstName: 'Jane', LastName: 'Doe' }, LastModifiedDate: '2026-04-09T20:26:27.000Z' },
    });
    const [event] = normalize(raw, CONTACTS).events;
    expect(event!.fields).toEqual({
      Name: { FirstName: 'Jane', LastName: 'Doe' },
      FirstName: 'Jane',
      LastName: 'Doe',
      LastModifiedDate: '2026-04-09T20:26:27.000Z',
    });
    expect(event!.changedFields).toEqual(['Name.LastName', 'LastName', 'Name', 'Name.FirstName', 'FirstName', 'LastModifiedDate']);
    expect(event!.nulledFields).toEqual([]);
  });

  it("flattens address compounds to the object's field names (BillingStreet, MailingCity, Lead Street)", () => {
    const account = normalize(
      changeEvent({
        channel: '/data/AccountChangeEvent',
        header: { entityName: 'Account', recordIds: ['001D000000IqhSL'], changedFields: ['BillingAddress.Street', 'BillingAddress.City'] },
        fields: { BillingAddress: { Street: '1 Market St', City: 'San Francisco' } },
      }),
      channel('/data/AccountChangeEvent'),
    ).events[0]!;
    expect(account.fields).toMatchObject({
      BillingAddress: { Street: '1 Market St', City: 'San Francisco' },
      BillingStreet: '1 Market St',
      BillingCity: 'San Francisco',
    });
    expect(account.changedFields).toEqual(['BillingAddress.Street', 'BillingStreet', 'BillingAddress', 'BillingAddress.City', 'BillingCity']);

    const contact = normalize(
      changeEvent({
        header: { changedFields: ['MailingAddress.City'] },
        fields: { MailingAddress: { City: 'Lyon', CountryCode: 'FR' } },
      }),
      CONTACTS,
    ).events[0]!;
    expect(contact.fields).toMatchObject({ MailingCity: 'Lyon', MailingCountryCode: 'FR' });
    expect(contact.changedFields).toContain('MailingCity');

    const lead = normalize(
      changeEvent({
        channel: '/data/LeadChangeEvent',
        header: { entityName: 'Lead', recordIds: ['00Q5g00000aBcDe'], changedFields: ['Address.Street'] },
        fields: { Address: { Street: '2 Rue X', PostalCode: '69001' } },
      }),
      channel('/data/LeadChangeEvent'),
    ).events[0]!;
    expect(lead.fields).toMatchObject({ Address: { Street: '2 Rue X' }, Street: '2 Rue X', PostalCode: '69001' });
    expect(lead.changedFields).toEqual(['Address.Street', 'Street', 'Address']);
  });

  it('flattens a custom geolocation compound to its __s field names', () => {
    const [event] = normalize(
      changeEvent({ header: { changedFields: [] }, fields: { Location__c: { Latitude: 45.76, Longitude: 4.83 } } }),
      CONTACTS,
    ).events;
    expect(event!.fields).toMatchObject({ Location__Latitude__s: 45.76, Location__Longitude__s: 4.83 });
  });

  it('lists a changed field absent from the payload as nulled, in both forms, and sets it to null', () => {
    const [event] = normalize(
      changeEvent({
        header: { changedFields: ['Email', 'Phone', 'Name.FirstName', 'LastModifiedDate'] },
        fields: { Email: 'jane@example.com', Name: { LastName: 'Doe' }, LastModifiedDate: '2026-04-09T20:26:27.000Z' },
      }),
      CONTACTS,
    ).events;
    expect(event!.nulledFields).toEqual(['Phone', 'Name.FirstName', 'FirstName']);
    expect(event!.fields.Phone).toBeNull();
    expect(event!.fields.FirstName).toBeNull();
    expect(event!.fields.Email).toBe('jane@example.com');
  });

  it('also takes nulled fields the header lists itself (Pub/Sub decodes them)', () => {
    const [event] = normalize(
      changeEvent({ header: { changedFields: ['Email', 'Phone'], nulledFields: ['Phone'] }, fields: { Email: 'jane@example.com', Phone: null } }),
      CONTACTS,
    ).events;
    expect(event!.nulledFields).toEqual(['Phone']);
    expect(event!.fields.Phone).toBeNull();
  });

  it('turns a wildcard record ID into one event without a record ID', () => {
    const { events, deadLetters } = normalize(
      changeEvent({ header: { recordIds: ['001*'], changeType: 'UPDATE', entityName: 'Account' } }),
      CONTACTS,
    );
    expect(deadLetters).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ recordId: '', contactKey: '', entityName: 'Account' });
  });

  it('turns GAP_OVERFLOW into one event without a record ID and without field data', () => {
    const { events, deadLetters } = normalize(
      changeEvent({
        header: { changeType: 'GAP_OVERFLOW', recordIds: undefined, changedFields: [] },
        fields: {},
      }),
      CONTACTS,
    );
    expect(deadLetters).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ changeType: 'GAP_OVERFLOW', recordId: '', fields: {} });
  });

  it('fans out gap events by record ID but carries no field data for them', () => {
    const { events } = normalize(
      changeEvent({ header: { changeType: 'GAP_UPDATE', recordIds: ['0035g00000XyZab', '0035g00000XyZac'], changedFields: [] }, fields: {} }),
      CONTACTS,
    );
    expect(events.map((e) => [e.changeType, e.recordId, e.fields])).toEqual([
      ['GAP_UPDATE', '0035g00000XyZabAAF', {}],
      ['GAP_UPDATE', '0035g00000XyZacAAF', {}],
    ]);
  });

  it('keeps a commit number above 2^53 as text, without arithmetic', () => {
    const [event] = normalize(changeEvent({ header: { commitNumber: '11657372702432123456' } }), CONTACTS).events;
    expect(event!.commitNumber).toBe('11657372702432123456');
  });
});

describe('bad change events become dead letters', () => {
  it.each([
    [{ entityName: '' }, 'ChangeEventHeader.entityName: expected a non-empty string, got ""'],
    [{ changeType: 'UPSERT' }, /^ChangeEventHeader\.changeType: expected one of CREATE, .*, got "UPSERT"$/],
    [{ recordIds: '0035g00000XyZab' }, 'ChangeEventHeader.recordIds: expected a non-empty array of strings, got "0035g00000XyZab"'],
    [{ recordIds: [] }, 'ChangeEventHeader.recordIds: expected a non-empty array of strings, got []'],
    [{ recordIds: undefined }, 'ChangeEventHeader.recordIds: expected a non-empty array of strings, got undefined'],
    [{ sequenceNumber: 'one' }, 'ChangeEventHeader.sequenceNumber: expected an integer, got "one"'],
    [{ changedFields: 'Email' }, 'ChangeEventHeader.changedFields: expected an array of strings, got "Email"'],
  ])('header %j → MALFORMED_HEADER naming the field and value', (header, reason) => {
    const raw = changeEvent({ header });
    const { events, deadLetters } = normalize(raw, CONTACTS);
    expect(events).toEqual([]);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ code: Code.MALFORMED_HEADER, channel: '/data/ContactChangeEvent', replayId: '123456', source: raw });
    if (typeof reason === 'string') expect(deadLetters[0]!.reason).toBe(reason);
    else expect(deadLetters[0]!.reason).toMatch(reason);
  });

  it.each([
    [null, 'data: expected an object, got null'],
    ['text', 'data: expected an object, got "text"'],
    [{ schema: 's', event: { replayId: 1 } }, 'data.payload: expected an object, got undefined'],
    [{ payload: { Email: 'x@example.com' } }, 'data.payload.ChangeEventHeader: expected an object, got undefined'],
  ])('data %j → MALFORMED_EVENT', (data, reason) => {
    const raw: RawEvent = { channel: '/data/ContactChangeEvent', replayId: '9', data, receivedAt: 0 };
    expect(normalize(raw, CONTACTS)).toEqual({ events: [], deadLetters: [expect.objectContaining({ code: Code.MALFORMED_EVENT, reason })] });
  });

  it('dead-letters only the invalid ID of a merged event; the others go on', () => {
    const { events, deadLetters } = normalize(
      changeEvent({ header: { recordIds: ['0035g00000XyZab', 'not-an-id', '0035g00000XyZabAAB'] } }),
      CONTACTS,
    );
    expect(events.map((e) => e.recordId)).toEqual(['0035g00000XyZabAAF']);
    expect(deadLetters.map((d) => [d.code, d.recordId])).toEqual([
      [Code.INVALID_ID, 'not-an-id'],
      [Code.INVALID_ID, '0035g00000XyZabAAB'],
    ]);
    expect(deadLetters[0]!.reason).toBe('ChangeEventHeader.recordIds[1]: invalid Salesforce ID: "not-an-id" is 9 characters long, expected 15 or 18');
    expect(deadLetters[1]!.reason).toMatch(/^ChangeEventHeader\.recordIds\[2\]: invalid Salesforce ID: .* fails its checksum/);
    expect(deadLetters[0]!.idempotencyKey).not.toBe(deadLetters[1]!.idempotencyKey);
  });
});

describe('platform events', () => {
  it('takes the record ID from Record_Id__c, the EventUuid from the event, and the payload as fields', () => {
    const raw = platformEvent({ eventUuid: '2ec0e371-1395-457f-9275-be1b527a72f7' });
    const { events, deadLetters } = normalize(raw, ENTRY);
    expect(deadLetters).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'platform',
      entityName: 'MC_Journey_Entry__e',
      changeType: 'EVENT',
      replayId: '2',
      eventUuid: '2ec0e371-1395-457f-9275-be1b527a72f7',
      recordId: '0035g00000XyZabAAF',
      contactKey: '0035g00000XyZabAAF',
      changedFields: [],
      nulledFields: [],
    });
    expect(events[0]!.fields).toBe((raw.data as { payload: unknown }).payload);
  });

  it("keys the event by its CreatedDate, the same from CometD's text as from Pub/Sub's long", () => {
    const text = normalize(platformEvent({ eventUuid: 'u-1' }), ENTRY).events[0]!;
    expect(text.publishedAt).toBe(Date.parse('2026-04-09T18:31:40.517Z'));
    const payload = {
      ...(platformEvent().data as { payload: Record<string, unknown> }).payload,
      CreatedDate: Date.parse('2026-04-09T18:31:40.517Z'),
    };
    const long = normalize(platformEvent({ eventUuid: 'u-1', payload }), ENTRY).events[0]!;
    const route = 'r';
    expect(idempotencyKey(long, route)).toBe(idempotencyKey(text, route));
    expect(idempotencyKey(text, route).slice(0, 11)).toBe(Date.parse('2026-04-09T18:31:40.517Z').toString(16).padStart(11, '0'));
  });

  it("uses the channel's recordIdField", () => {
    const raw = platformEvent({ channel: '/event/Order_Confirmed__e', payload: { Contact_Id__c: '0035g00000XyZab', Order_Number__c: 'ORD-9988' } });
    const { events } = normalize(raw, channel('/event/Order_Confirmed__e', { recordIdField: 'Contact_Id__c' }));
    expect(events[0]).toMatchObject({ entityName: 'Order_Confirmed__e', recordId: '0035g00000XyZabAAF', eventUuid: undefined });
  });

  it('dead-letters a platform event without a record ID or with an invalid one', () => {
    const missing = normalize(platformEvent({ payload: { Data__c: '{}' } }), ENTRY);
    expect(missing.deadLetters[0]).toMatchObject({
      code: Code.MISSING_RECORD_ID,
      reason: 'payload.Record_Id__c: missing on MC_Journey_Entry__e, so there is no Contact Key',
    });
    const invalid = normalize(platformEvent({ payload: { Record_Id__c: 12345 } }), ENTRY);
    expect(invalid.deadLetters[0]).toMatchObject({
      code: Code.INVALID_ID,
      reason: 'payload.Record_Id__c: invalid Salesforce ID: expected a string, got 12345',
    });
    expect(invalid.events).toEqual([]);
  });
});
