// A data extension route turns each change into one row: values formatted for the column types (a value that cannot be is a dead letter naming the column and value), the change's commit time as the row's version, and a DELETE ignored or soft-deleted as the route says.
import { compileRoutes } from '../src/route/routes.ts';
import { builtinMappers } from '../src/route/mapper-loader.ts';
import { normalize } from '../src/normalize/events.ts';
import { parseConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/core/errors.ts';
import { formatColumn } from '../src/route/field-format.ts';
import type { BridgeConfig } from '../src/config/schema.ts';
import type { DataExtensionRowPayload, RawEvent } from '../src/core/model.ts';
import { MappingError } from '../src/core/errors.ts';
import { changeEvent, channel } from './helpers/cdc.ts';

const CONTACT = '0035g00000XyZabAAF';

function config(target: Record<string, unknown> = {}, route: Record<string, unknown> = {}): BridgeConfig {
  return parseConfig({
    channels: [{ name: '/data/ContactChangeEvent' }],
    routes: [
      {
        name: 'contacts-de',
        channel: '/data/ContactChangeEvent',
        changeTypes: ['CREATE', 'UPDATE', 'DELETE'],
        target: {
          type: 'dataExtension',
          key: 'Contacts',
          fieldTypes: { Email: 'EmailAddress', Score: 'Number', Birthdate: 'Date', OptIn: 'Boolean', Mobile: 'Phone', Balance: 'Decimal' },
          ...target,
        },
        mapping: {
          data: {
            Email: 'Email',
            LastName: 'Name.LastName',
            Score: 'Score__c',
            Birthdate: 'Birthdate',
            OptIn: 'Opt_In__c',
            Mobile: 'MobilePhone',
            Balance: 'Balance__c',
          },
        },
        ...route,
      },
    ],
  }) as unknown as BridgeConfig;
}

function route(cfg: BridgeConfig, raw: RawEvent) {
  const { events } = normalize(raw, channel(raw.channel));
  return compileRoutes(cfg, builtinMappers()).route(events[0]!);
}

const FIELDS = {
  Email: ' jane@example.com',
  Name: { LastName: 'Doe' },
  Score__c: '42',
  Birthdate: '1990-02-28',
  Opt_In__c: 'true',
  MobilePhone: '+1 (415) 555-0100',
  Balance__c: 12.5,
  LastModifiedDate: '2026-04-09T20:26:27.000Z',
};

test('a change becomes one row with every column formatted for its type, the Contact Key and the commit time as version', () => {
  const { actions, deadLetters } = route(config(), changeEvent({ header: { changeType: 'CREATE' }, fields: FIELDS }));
  expect(deadLetters).toEqual([]);
  expect(actions).toHaveLength(1);
  expect(actions[0]).toMatchObject({ target: 'dataExtension', mode: 'batch', batchKey: 'Contacts' });
  const p = actions[0]!.payload as DataExtensionRowPayload;
  expect(p).toEqual({
    key: 'Contacts',
    contactKey: CONTACT,
    primaryKey: ['ContactKey'],
    version: 1714156685000,
    row: {
      ContactKey: CONTACT,
      Email: 'jane@example.com',
      LastName: 'Doe',
      Score: 42,
      Birthdate: '1990-02-28',
      OptIn: true,
      Mobile: '+14155550100',
      Balance: 12.5,
    },
  });
});

test.each([
  ['Score', 'Score__c', 'forty-two', 'Number'],
  ['Birthdate', 'Birthdate', '1990-02-30', 'Date'],
  ['OptIn', 'Opt_In__c', 'maybe', 'Boolean'],
  ['Email', 'Email', 'jane.example.com', 'e-mail'],
  ['Mobile', 'MobilePhone', '555', 'Phone'],
  ['Balance', 'Balance__c', '12,5', 'Decimal'],
])('a %s value that cannot be formatted is a dead letter naming the column and the value', (column, field, value, what) => {
  const { actions, deadLetters } = route(config(), changeEvent({ header: { changeType: 'CREATE' }, fields: { ...FIELDS, [field]: value } }));
  expect(actions).toEqual([]);
  expect(deadLetters).toHaveLength(1);
  expect(deadLetters[0]!.code).toBe('MAPPING_BAD_VALUE');
  expect(deadLetters[0]!.reason).toContain(column);
  expect(deadLetters[0]!.reason).toContain(value);
  expect(deadLetters[0]!.reason).toContain(what);
});

test('date-times and epoch milliseconds become ISO 8601 in UTC; text keeps numbers as text; null clears a column', () => {
  const ctx = { field: 'F', where: 'Contact x' };
  expect(formatColumn('Date', '2026-04-09T22:26:27.000+02:00', ctx)).toBe('2026-04-09T20:26:27.000Z');
  expect(formatColumn('Date', 0, ctx)).toBe('1970-01-01T00:00:00.000Z');
  expect(formatColumn('Text', 7, ctx)).toBe('7');
  expect(formatColumn('Number', null, ctx)).toBeNull();
  expect(formatColumn('Number', 3_000_000_000, ctx)).toBeInstanceOf(MappingError);
  expect(formatColumn('Text', { a: 1 }, ctx)).toBeInstanceOf(MappingError);
});

test('a DELETE is ignored by default', () => {
  const { actions, deadLetters } = route(config(), changeEvent({ header: { changeType: 'DELETE' }, fields: {} }));
  expect(actions).toEqual([]);
  expect(deadLetters).toEqual([]);
});

test('with softDelete, a DELETE upserts the row with the flag column true, and other changes set it false', () => {
  const cfg = config({ deletes: 'softDelete', deletedColumn: 'Is_Deleted' });
  const del = route(cfg, changeEvent({ header: { changeType: 'DELETE' }, fields: {} }));
  expect(del.deadLetters).toEqual([]);
  expect((del.actions[0]!.payload as DataExtensionRowPayload).row).toEqual({ ContactKey: CONTACT, Is_Deleted: true });
  const upd = route(cfg, changeEvent({ fields: FIELDS }));
  expect((upd.actions[0]!.payload as DataExtensionRowPayload).row).toMatchObject({ ContactKey: CONTACT, Is_Deleted: false });
});

test('config: a soft delete the route never selects, an unmapped key column and a mapped Contact Key column are refused, naming the key', () => {
  expect(() => config({ deletes: 'softDelete' }, { changeTypes: ['UPDATE'] })).toThrow(/routes\[0\]\.changeTypes.*DELETE/);
  expect(() => config({ primaryKey: ['Region'] })).toThrow(/routes\[0\]\.target\.primaryKey\[0\].*"Region"/);
  expect(() => config({}, { mapping: { data: { ContactKey: 'Id' } } })).toThrow(ConfigError);
  expect(() => config({ fieldTypes: { Email: 'Emial' } })).toThrow(/fieldTypes/);
});

test('the shipped example config loads, and its route turns a Contact CREATE into a typed row', async () => {
  const { load } = await import('../src/config/load.ts');
  const example = load('config/examples/sendable-data-extension.json', {
    SF_INSTANCE_URL: 'https://x.my.salesforce.com',
    SF_ACCESS_TOKEN: 't',
    MC_AUTH_BASE_URL: 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com',
    MC_CLIENT_ID: 'c',
    MC_CLIENT_SECRET: 's',
  });
  const { actions, deadLetters } = route(
    example,
    changeEvent({
      header: { changeType: 'CREATE' },
      fields: {
        Email: 'ada@example.com',
        Name: { FirstName: 'Ada', LastName: 'Lovelace' },
        Phone: '020 7946 0000',
        Birthdate: '1815-12-10',
        HasOptedOutOfEmail: false,
      },
    }),
  );
  expect(deadLetters).toEqual([]);
  expect((actions[0]!.payload as DataExtensionRowPayload).row).toEqual({
    ContactKey: CONTACT,
    Email: 'ada@example.com',
    FirstName: 'Ada',
    LastName: 'Lovelace',
    Phone: '02079460000',
    Birthdate: '1815-12-10',
    HasOptedOutOfEmail: false,
    IsDeleted: false,
  });
});
