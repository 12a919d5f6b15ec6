// The Pub/Sub emulator encodes with its own code, to Salesforce's documented formats, and the subscriber's independent decoders read it back exactly: a codec bug cannot hide on both sides.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bitmapOf, compileSchema, replayIdBytes, replayNumberOf, type SchemaField } from '../src/emulators/pubsub/codec.ts';
import { describeSchema, parseSchema, toCometdData } from '../subscribers/pubsub/avro.ts';
import { decodeBitmap } from '../subscribers/pubsub/bitmap.ts';
import { parseStoredReplay, replayIdText } from '../subscribers/pubsub/replay-id.ts';

/** A schema of 32 top-level fields; 4 and 7 are compounds of 8 parts (enough for the guide's example). */
const FIELDS: SchemaField[] = Array.from({ length: 32 }, (_, i) =>
  i === 4 || i === 7 ? { name: `C${i}`, parts: Array.from({ length: 8 }, (_, p) => `P${p}`) } : { name: `F${i}` },
);

function setBits(hex: string): number[] {
  const out: number[] = [];
  for (let v = BigInt(hex), i = 0; v > 0n; v >>= 1n, i++) if (v & 1n) out.push(i);
  return out;
}

test("the emulator writes the bitmap of the Pub/Sub guide's example exactly, and the subscriber reads the same names back", () => {
  // https://developer.salesforce.com/docs/platform/pub-sub-api/guide/event-deserialization-considerations.html
  // ("Event Deserialization Considerations"): 'changedFields': ['0x650004E0','4-0x10','7-0x06']
  const names = [
    ...setBits('0x650004E0').map((i) => FIELDS[i]!.name),
    ...setBits('0x10').map((p) => `C4.P${p}`),
    ...setBits('0x06').map((p) => `C7.P${p}`),
  ];
  const written = bitmapOf(names, FIELDS);
  expect(written).toEqual(['0x650004E0', '4-0x10', '7-0x06']);
  expect(decodeBitmap(written, FIELDS)).toEqual(names);
  expect(bitmapOf([], FIELDS)).toEqual([]);
  expect(() => bitmapOf(['Nope'], FIELDS)).toThrow('"Nope" is not a field of the schema');
  expect(() => bitmapOf(['C4.P9'], FIELDS)).toThrow('not a part of compound C4');
});

test("replay IDs are 8 big-endian unsigned bytes: the subscriber's text form and the CometD number agree with the emulator's", () => {
  for (const n of [1n, 255n, 256n, 6701n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
    const bytes = replayIdBytes(n);
    expect(bytes).toHaveLength(8);
    expect(replayNumberOf(bytes)).toBe(n);
    // The subscriber stores the bytes as base64 and turns a CometD checkpoint into bytes on its own.
    const stored = parseStoredReplay(replayIdText(bytes));
    expect(stored).toEqual({ kind: 'bytes', bytes });
    expect(parseStoredReplay(n.toString())).toEqual({ kind: 'cometd', bytes, decimal: n.toString() });
  }
  expect(replayIdBytes(6701).toString('hex')).toBe('0000000000001a2d');
  expect(replayNumberOf(Buffer.alloc(7))).toBeUndefined();
  expect(() => replayIdBytes(-1)).toThrow(RangeError);
});

test("Avro written by the emulator (nullable unions, a commitNumber past 2^53, DateTime longs) decodes to the same values with the subscriber's schema code", () => {
  const schema = JSON.stringify({
    type: 'record',
    name: 'Thing',
    namespace: 'com.sforce.eventbus',
    fields: [
      { name: 'commitNumber', type: 'long' },
      { name: 'Email', type: ['null', 'string'], doc: 'Data:Text', default: null },
      { name: 'Phone', type: ['null', 'string'], doc: 'Data:Text', default: null },
      { name: 'CreatedDate', type: ['null', 'long'], doc: 'Data:DateTime', default: null },
    ],
  });
  const record = { commitNumber: '9007199254740993123', Email: 'a@example.com', Phone: null, CreatedDate: Date.UTC(2026, 11, 7, 1, 2, 3) };
  const bytes = compileSchema(schema).toBuffer(record);
  expect(parseSchema(schema).fromBuffer(bytes)).toEqual(record);
  const data = toCometdData(describeSchema('s1', schema), parseSchema(schema).fromBuffer(bytes), 'uuid-1', 'AAAAAAAAGi0=');
  expect(data).toMatchObject({ event: { EventUuid: 'uuid-1' }, payload: { Email: 'a@example.com', CreatedDate: '2026-12-07T01:02:03.000Z' } });
});

test("the emulator imports none of the subscriber's modules (it shares only the vendor's .proto file)", () => {
  const dir = join(import.meta.dirname, '../src/emulators/pubsub');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const imports = [...readFileSync(join(dir, file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
    expect({ file, imports: imports.filter((i) => i.includes('subscribers')) }).toEqual({ file, imports: [] });
  }
});
