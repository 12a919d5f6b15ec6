/**
 * Pure pieces of the Pub/Sub transport: change-event bitmaps decode to the field names
 * Salesforce means (and never to plausible wrong ones), replay IDs stay bytes end to end, and
 * the config accepts the transport with an endpoint that is plaintext only on loopback.
 */
import { decodeBitmap, encodeBitmap, type BitmapField } from '../subscribers/pubsub/bitmap.ts';
import { describeSchema, parseSchema, toCometdData } from '../subscribers/pubsub/avro.ts';
import { parseStoredReplay, replayIdBytesOf, replayIdText } from '../subscribers/pubsub/replay-id.ts';
import { classifyStreamError } from '../subscribers/pubsub/errors.ts';
import { load } from '../src/config/load.ts';
import * as grpc from '@grpc/grpc-js';

// A schema of 32 top-level fields where 4 and 7 are compounds, as in Salesforce's example.
const FIELDS: BitmapField[] = Array.from({ length: 32 }, (_, i) => {
  if (i === 4) return { name: 'Name', parts: ['Salutation', 'FirstName', 'LastName', 'MiddleName', 'InformalName', 'Suffix'] };
  if (i === 7) return { name: 'BillingAddress', parts: ['Street', 'City', 'State', 'PostalCode', 'Country'] };
  return { name: `F${i}` };
});

test("Salesforce's documented example ['0x650004E0','4-0x10','7-0x06'] decodes bit by bit from the lowest", () => {
  // 0x650004E0 = bits 5, 6, 7, 10, 24, 26, 29, 30; 4-0x10 = part 4 of Name; 7-0x06 = parts 1 and 2 of BillingAddress.
  expect(decodeBitmap(['0x650004E0', '4-0x10', '7-0x06'], FIELDS)).toEqual([
    'F5',
    'F6',
    'BillingAddress',
    'F10',
    'F24',
    'F26',
    'F29',
    'F30',
    'Name.InformalName',
    'BillingAddress.City',
    'BillingAddress.State',
  ]);
  expect(decodeBitmap(['0x650004e0'], FIELDS)).toEqual(decodeBitmap(['0x650004E0'], FIELDS)); // hex case does not matter
  expect(decodeBitmap([], FIELDS)).toEqual([]);
});

test('encoding and decoding are inverse over top-level fields and compound parts, far past 32 fields', () => {
  const wide: BitmapField[] = [...FIELDS, ...Array.from({ length: 100 }, (_, i) => ({ name: `W${i}` }))];
  const names = ['F0', 'F31', 'W99', 'Name.LastName', 'Name.Salutation', 'BillingAddress.Country'];
  const encoded = encodeBitmap(names, wide);
  expect(encoded[0]).toMatch(/^0x[0-9A-F]+$/);
  expect(encoded.slice(1)).toEqual(['4-0x05', '7-0x10']);
  expect(decodeBitmap(encoded, wide).sort()).toEqual([...names].sort());
  // Only nested changes still lead with a (zero) top-level entry, where clients look for it.
  expect(encodeBitmap(['Name.FirstName'], FIELDS)).toEqual(['0x00', '4-0x02']);
  expect(encodeBitmap([], FIELDS)).toEqual([]);
});

test('a bitmap that does not fit the schema is an error naming the entry, not a wrong field list', () => {
  expect(() => decodeBitmap(['0x100000000'], FIELDS)).toThrow(/bit 32 is past the schema's 32 fields/);
  expect(() => decodeBitmap(['0x01', '5-0x01'], FIELDS)).toThrow(/field 5 \(F5\) is not a compound/);
  expect(() => decodeBitmap(['0x01', '4-0x40'], FIELDS)).toThrow(/bit 6 is past Name's 6 parts/);
  expect(() => decodeBitmap(['Name'], FIELDS)).toThrow(/neither/);
  expect(() => encodeBitmap(['Nope'], FIELDS)).toThrow(/not in the schema/);
});

test('replay IDs round-trip as bytes through their base64 text, whatever their width or value', () => {
  for (const bytes of [
    replayIdBytesOf(0n),
    replayIdBytesOf(0xffff_ffff_ffff_ffffn),
    replayIdBytesOf(2n ** 53n + 1n),
    Buffer.from([1, 2, 3]),
    Buffer.alloc(16, 0xab),
  ]) {
    const text = replayIdText(bytes);
    const parsed = parseStoredReplay(text);
    expect(parsed.kind).toBe('bytes');
    expect(parsed.kind === 'bytes' && parsed.bytes.equals(bytes)).toBe(true);
  }
  // 2^53 + 1 is exactly preserved (a JS number would round it to 2^53).
  const big = parseStoredReplay(replayIdText(replayIdBytesOf(2n ** 53n + 1n)));
  expect(big.kind === 'bytes' && big.bytes.readBigUInt64BE()).toBe(2n ** 53n + 1n);
  // A CometD checkpoint (decimal) is read in the 8-byte layout; junk is reported, not guessed.
  const cometd = parseStoredReplay('9007199254740993');
  expect(cometd.kind === 'cometd' && cometd.bytes.readBigUInt64BE()).toBe(9007199254740993n);
  expect(parseStoredReplay('not base64!').kind).toBe('invalid');
  expect(parseStoredReplay('').kind).toBe('invalid');
  expect(parseStoredReplay('99999999999999999999').kind).toBe('invalid');
});

test('decoding keeps commitNumber exact above 2^53 and turns date-time longs into CometD ISO text', () => {
  const json = JSON.stringify({
    type: 'record',
    name: 'ContactChangeEvent',
    fields: [
      {
        name: 'ChangeEventHeader',
        type: {
          type: 'record',
          name: 'ChangeEventHeader',
          fields: [
            { name: 'entityName', type: 'string' },
            { name: 'commitNumber', type: 'long' },
            { name: 'changedFields', type: { type: 'array', items: 'string' } },
            { name: 'nulledFields', type: { type: 'array', items: 'string' } },
            { name: 'diffFields', type: { type: 'array', items: 'string' } },
          ],
        },
      },
      { name: 'Email', type: ['null', 'string'], default: null },
      { name: 'LastModifiedDate', type: ['null', 'long'], doc: 'Data:DateTime', default: null },
      { name: 'Birthdate', type: ['null', 'long'], doc: 'Data:DateOnly', default: null },
    ],
  });
  const schema = describeSchema('s1', json);
  const buf = schema.type.toBuffer({
    ChangeEventHeader: { entityName: 'Contact', commitNumber: '9007199254740993', changedFields: ['0x0E'], nulledFields: ['0x02'], diffFields: [] },
    Email: null,
    LastModifiedDate: Date.UTC(2026, 3, 9, 20, 26, 27),
    Birthdate: Date.UTC(1990, 0, 2),
  });
  const data = toCometdData(schema, schema.type.fromBuffer(buf) as Record<string, unknown>, '', 'AAAAAAAAAAE=') as any;
  expect(data.payload.ChangeEventHeader).toMatchObject({
    commitNumber: '9007199254740993',
    changedFields: ['Email', 'LastModifiedDate', 'Birthdate'],
    nulledFields: ['Email'],
  });
  expect(data.payload).toEqual({ ChangeEventHeader: expect.any(Object), LastModifiedDate: '2026-04-09T20:26:27.000Z', Birthdate: '1990-01-02' });
  expect(data.event).toEqual({ replayId: 'AAAAAAAAAAE=' });
});

test('a long decodes to a number exactly when it is a safe integer, to its decimal text otherwise', () => {
  const long = parseSchema('"long"');
  for (const n of [0, 1, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 32) - 1, 1_796_616_427_387, -1_796_616_427_387, 2 ** 53 - 1, -(2 ** 53 - 1)]) {
    expect(long.fromBuffer(long.toBuffer(n))).toBe(n);
  }
  for (const text of ['9007199254740992', '-9007199254740992', '9007199254740993', '-9223372036854775808', '9223372036854775807']) {
    expect(long.fromBuffer(long.toBuffer(text))).toBe(text);
  }
});

test('events with the same bitmap get the same field names, each its own list', () => {
  const json = JSON.stringify({
    type: 'record',
    name: 'ContactChangeEvent',
    fields: [
      {
        name: 'ChangeEventHeader',
        type: {
          type: 'record',
          name: 'ChangeEventHeader',
          fields: ['changedFields', 'nulledFields', 'diffFields'].map((name) => ({ name, type: { type: 'array', items: 'string' } })),
        },
      },
      { name: 'Email', type: ['null', 'string'], default: null },
      { name: 'Phone', type: ['null', 'string'], default: null },
    ],
  });
  const schema = describeSchema('s1', json);
  const decode = (changedFields: string[]) => {
    const bytes = schema.type.toBuffer({
      ChangeEventHeader: { changedFields, nulledFields: [], diffFields: [] },
      Email: 'a@example.com',
      Phone: null,
    });
    return (toCometdData(schema, schema.type.fromBuffer(bytes) as Record<string, unknown>, '', 'AAAAAAAAAAE=') as any).payload.ChangeEventHeader;
  };
  for (let i = 0; i < 3; i++) {
    const header = decode(['0x06']);
    expect(header.changedFields).toEqual(['Email', 'Phone']);
    header.changedFields.push('Mutated'); // by a later stage: the next event must not see it
  }
  // A bitmap that does not fit the schema is refused every time, not only the first.
  expect(() => decode(['0x08'])).toThrow(/changedFields: .*bit 3 is past/);
  expect(() => decode(['0x08'])).toThrow(/changedFields: .*bit 3 is past/);
});

test('error trailers map to the actions docs/protocols.md asks for', () => {
  const err = (code: grpc.status, errorCode?: string) => {
    const metadata = new grpc.Metadata();
    if (errorCode) metadata.set('error-code', errorCode);
    return { code, details: 'x', metadata };
  };
  expect(classifyStreamError(err(grpc.status.UNAUTHENTICATED, 'sfdc.platform.eventbus.grpc.service.auth.error')).action).toBe('reauthenticate');
  expect(classifyStreamError(err(grpc.status.INVALID_ARGUMENT, 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted')).action).toBe(
    'replay-fallback',
  );
  expect(classifyStreamError(err(grpc.status.UNAVAILABLE, 'sfdc.platform.eventbus.grpc.service.unavailable')).action).toBe('retry');
  expect(classifyStreamError(err(grpc.status.UNAVAILABLE)).action).toBe('retry');
  expect(classifyStreamError(err(grpc.status.RESOURCE_EXHAUSTED, 'sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded')).action).toBe(
    'retry',
  );
});

test('config: transport defaults to cometd; pubsubUrl must be host:port', () => {
  const env = {
    SF_INSTANCE_URL: 'https://acme.my.salesforce.com',
    SF_ACCESS_TOKEN: 't',
    MC_AUTH_BASE_URL: 'https://mc123.auth.marketingcloudapis.com',
    MC_CLIENT_ID: 'c',
    MC_CLIENT_SECRET: 's',
  };
  expect(load({}, env).salesforce).toMatchObject({ transport: 'cometd', pubsubUrl: 'api.pubsub.salesforce.com:7443' });
  expect(load({ salesforce: { transport: 'pubsub', pubsubUrl: '127.0.0.1:7443' } }, env).salesforce.transport).toBe('pubsub');
  expect(() => load({ salesforce: { transport: 'grpc' } }, env)).toThrow(/salesforce\.transport/);
  expect(() => load({ salesforce: { pubsubUrl: 'https://api.pubsub.salesforce.com' } }, env)).toThrow(/salesforce\.pubsubUrl.*host:port/);
});
