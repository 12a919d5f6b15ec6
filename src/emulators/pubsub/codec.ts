/**
 * The Pub/Sub emulator's own encoders: Avro through avsc, the change event header's bitmap
 * fields and the replay ID bytes, written from Salesforce's documentation, not taken from the
 * subscriber. A codec bug shared by both sides would pass every end-to-end test; two
 * implementations that must agree on the wire cannot hide one.
 *
 *  - Bitmaps ("Event Deserialization Considerations", Pub/Sub API guide): an array of hex
 *    strings; the first, `0x…`, has bit i set for the i-th top-level field of the event's Avro
 *    schema (least significant bit first); each further one, `N-0x…`, is a bitmap over the
 *    fields of the compound field at position N. The guide's example: `['0x650004E0', '4-0x10',
 *    '7-0x06']` (upper-case digits, whole bytes).
 *  - Replay IDs: opaque bytes to clients; Salesforce sends the event's replay number as 8
 *    bytes, big-endian, unsigned (what public clients read back as the CometD replay ID).
 */
import avro from 'avsc';

/** A top-level field of an event schema, with its part names when it is a compound. */
export interface SchemaField {
  name: string;
  parts?: readonly string[];
}

/**
 * Avro `long` that also writes integers past 2^53 (a CDC commitNumber), given as a bigint or
 * as decimal digits; avsc's default long refuses them. The emulator only writes, so reading
 * back returns a bigint.
 */
const WIDE_LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (value: number | bigint | string) => {
    const out = Buffer.alloc(8);
    out.writeBigInt64LE(BigInt(value));
    return out;
  },
  fromJSON: (value: unknown) => BigInt(value as string),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) =>
    typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d{1,19}$/.test(value)),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** The avsc type of an event schema, unions as plain values (`null` or the value). */
export function compileSchema(schemaJson: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(schemaJson) as avro.Schema, { registry: { long: WIDE_LONG } as never, wrapUnions: 'auto' });
}

/**
 * The bitmap of `names` (top-level fields, and `Compound.Part` for parts of a compound) over
 * `fields`: the top-level entry first, then one entry per compound in schema order. No names,
 * no entries. A name the schema does not have throws: the emulator must not invent bits.
 */
export function bitmapOf(names: readonly string[], fields: readonly SchemaField[]): string[] {
  if (names.length === 0) return [];
  const position = new Map(fields.map((f, i) => [f.name, i]));
  let top = 0n;
  const compounds = new Map<number, bigint>();
  for (const name of names) {
    const [head, part] = name.split('.', 2) as [string, string | undefined];
    const at = position.get(head);
    if (at === undefined) throw new Error(`bitmap: ${JSON.stringify(name)} is not a field of the schema`);
    if (part === undefined) {
      top |= 1n << BigInt(at);
      continue;
    }
    const index = fields[at]!.parts?.indexOf(part) ?? -1;
    if (index < 0) throw new Error(`bitmap: ${JSON.stringify(name)} is not a part of compound ${head}`);
    compounds.set(at, (compounds.get(at) ?? 0n) | (1n << BigInt(index)));
  }
  const entries = [`0x${wholeBytes(top)}`];
  for (const at of [...compounds.keys()].sort((a, b) => a - b)) entries.push(`${at}-0x${wholeBytes(compounds.get(at)!)}`);
  return entries;
}

/** Upper-case hex of whole bytes, as Salesforce writes it (`0x06`, not `0x6`). */
function wholeBytes(bits: bigint): string {
  const digits = bits.toString(16).toUpperCase();
  return digits.padStart(digits.length + (digits.length % 2), '0');
}

/** The replay ID bytes of replay number `n`: 8 bytes, big-endian, unsigned. */
export function replayIdBytes(n: number | bigint): Buffer {
  const bytes = Buffer.alloc(8);
  let v = BigInt(n);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`replay number ${v} does not fit in 8 unsigned bytes`);
  for (let i = 7; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
  return bytes;
}

/** The replay number of replay ID bytes the emulator issued, or undefined when they are not 8 bytes. */
export function replayNumberOf(bytes: Uint8Array): bigint | undefined {
  if (bytes.length !== 8) return undefined;
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
