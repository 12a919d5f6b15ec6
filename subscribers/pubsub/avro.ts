/**
 * Avro on the Pub/Sub API: parsing a schema (with a 64-bit-exact long), and turning a decoded
 * event into the `data` object the CometD transport hands over (`{schema, event, payload}`),
 * so normalize, routes and mappers see one shape whatever the transport:
 *  - change events: null fields and null compound parts are left out (CometD leaves out null
 *    and unchanged fields; on Pub/Sub every field is present and unchanged ones are null);
 *    the header's bitmap fields become field names;
 *  - date-time fields (long, epoch ms) become ISO-8601 text, date fields `YYYY-MM-DD`, as
 *    CometD sends them;
 *  - a long beyond 2^53 (commitNumber) stays exact, as decimal text.
 */
import avro from 'avsc';
import { decodeBitmap, type BitmapField } from './bitmap.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** avsc long that never loses precision: a number when safe, else decimal text. */
export const exactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    // Two 32-bit halves are exact while the high one is under 2^21 either way, and a sum that is
    // a safe integer came from such halves: no BigInt for the dates and counters of every event.
    const n = buf.readInt32LE(4) * 0x1_0000_0000 + buf.readUInt32LE(0);
    if (Number.isSafeInteger(n)) return n;
    const big = buf.readBigInt64LE();
    return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big.toString();
  },
  toBuffer: (value: number | string | bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(value));
    return buf;
  },
  fromJSON: (value: number | string) => value,
  toJSON: (value: number | string) => (typeof value === 'string' ? Number(value) : value),
  isValid: (value: unknown) =>
    (typeof value === 'number' && Number.isSafeInteger(value)) ||
    typeof value === 'bigint' ||
    (typeof value === 'string' && /^-?\d{1,19}$/.test(value)),
  compare: (a: number | string, b: number | string) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x === y ? 0 : x < y ? -1 : 1;
  },
});

/** Parses Avro schema JSON as the subscriber and the emulator both read it. */
export function parseSchema(schemaJson: string | object): avro.Type {
  const schema = typeof schemaJson === 'string' ? JSON.parse(schemaJson) : schemaJson;
  return avro.Type.forSchema(schema, { registry: { long: exactLong } as never, wrapUnions: 'auto' });
}

type Conversion = 'datetime' | 'date';

/** A top-level field as `toCometdData` reads it. */
interface FieldPlan {
  name: string;
  conversion: Conversion | undefined;
  /** Date conversions of a compound's parts, by part name; undefined when none has one. */
  parts: Map<string, Conversion> | undefined;
}

/** A parsed event schema with what decoding needs precomputed. */
export interface EventSchema {
  id: string;
  type: avro.Type;
  /** True when the schema has a ChangeEventHeader (a change event). */
  isChange: boolean;
  /** Top-level fields and compound parts, for the bitmap fields. */
  bitmapFields: BitmapField[];
  /** Date conversions by top-level field, and by compound part (`Compound.Part`). */
  conversions: Map<string, Conversion>;
  /** The top-level fields in schema order (the decoded record's keys), with their conversions. */
  plan: FieldPlan[];
  /** Decoded bitmap fields by their entries: a topic's events change few distinct sets of fields. */
  bitmaps: Map<string, readonly string[]>;
}

/** Most distinct bitmaps remembered per schema. */
const MAX_BITMAPS = 1024;

/** Precomputes what `toCometdData` needs from a schema. */
export function describeSchema(id: string, schemaJson: string): EventSchema {
  const type = parseSchema(schemaJson);
  const raw = JSON.parse(schemaJson) as AvroRecord;
  const bitmapFields: BitmapField[] = [];
  const conversions = new Map<string, Conversion>();
  const plan: FieldPlan[] = [];
  for (const field of raw.fields ?? []) {
    const record = recordOf(field.type);
    bitmapFields.push(record ? { name: field.name, parts: (record.fields ?? []).map((p) => p.name) } : { name: field.name });
    const own = conversionOf(field);
    if (own) conversions.set(field.name, own);
    let parts: Map<string, Conversion> | undefined;
    for (const part of record?.fields ?? []) {
      const c = conversionOf(part);
      if (!c) continue;
      conversions.set(`${field.name}.${part.name}`, c);
      (parts ??= new Map()).set(part.name, c);
    }
    plan.push({ name: field.name, conversion: own, parts });
  }
  return { id, type, isChange: bitmapFields.some((f) => f.name === 'ChangeEventHeader'), bitmapFields, conversions, plan, bitmaps: new Map() };
}

interface AvroField {
  name: string;
  type: unknown;
  doc?: string;
}
interface AvroRecord {
  type: 'record';
  name: string;
  fields?: AvroField[];
  logicalType?: string;
}

function recordOf(type: unknown): AvroRecord | undefined {
  if (Array.isArray(type)) {
    for (const t of type) {
      const r = recordOf(t);
      if (r) return r;
    }
    return undefined;
  }
  return typeof type === 'object' && type !== null && (type as AvroRecord).type === 'record' && (type as AvroRecord).name !== 'ChangeEventHeader'
    ? (type as AvroRecord)
    : undefined;
}

/**
 * Salesforce marks a long's meaning in the field's doc (`…:DateTime`, `…:DateOnly`); Avro's
 * own logical types say the same and are honoured too.
 */
function conversionOf(field: AvroField): Conversion | undefined {
  const doc = field.doc ?? '';
  const types = Array.isArray(field.type) ? field.type : [field.type];
  const logical = types.map((t) => (typeof t === 'object' && t !== null ? (t as { logicalType?: string }).logicalType : undefined)).find(Boolean);
  if (doc.endsWith(':DateTime') || logical === 'timestamp-millis') return 'datetime';
  if (doc.endsWith(':DateOnly') || doc.endsWith(':Date') || logical === 'date') return 'date';
  return undefined;
}

type Obj = Record<string, unknown>;

/** The CometD-shaped `data` of one decoded event. */
export function toCometdData(schema: EventSchema, record: Obj, eventId: string, replayId: string): Obj {
  const payload: Obj = {};
  if (schema.isChange) {
    for (const field of schema.plan) {
      const value = record[field.name];
      if (field.name === 'ChangeEventHeader') payload.ChangeEventHeader = header(value as Obj, schema);
      else {
        const kept = changeValue(value, field);
        if (kept !== undefined) payload[field.name] = kept;
      }
    }
    return { schema: schema.id, event: { replayId }, payload };
  }
  for (const field of schema.plan) payload[field.name] = convert(record[field.name], field.conversion);
  const event: Obj = { replayId };
  if (eventId !== '') event.EventUuid = eventId;
  return { schema: schema.id, event, payload };
}

function header(h: Obj, schema: EventSchema): Obj {
  const out: Obj = { ...h };
  for (const name of ['changedFields', 'nulledFields', 'diffFields'] as const) {
    const entries = h[name];
    if (Array.isArray(entries)) {
      try {
        out[name] = bitmapNames(entries as string[], schema);
      } catch (err) {
        throw new Error(`ChangeEventHeader.${name}: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

/** `decodeBitmap`, remembered per schema; each event gets its own copy of the names. */
function bitmapNames(entries: readonly string[], schema: EventSchema): string[] {
  if (entries.length === 0) return [];
  const key = entries.length === 1 ? entries[0]! : entries.join(' ');
  const known = schema.bitmaps.get(key);
  if (known) return known.slice();
  const names = decodeBitmap(entries, schema.bitmapFields);
  if (schema.bitmaps.size < MAX_BITMAPS) schema.bitmaps.set(key, names.slice());
  return names;
}

function changeValue(value: unknown, field: FieldPlan): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) return convert(value, field.conversion);
  const parts: Obj = {};
  let any = false;
  for (const part of Object.keys(value)) {
    const v = (value as Obj)[part];
    if (v === null || v === undefined) continue;
    parts[part] = field.parts === undefined ? v : convert(v, field.parts.get(part));
    any = true;
  }
  return any ? parts : undefined;
}

/** The last date-time converted: an event's CreatedDate and LastModifiedDate are often the same. */
let lastMs = Number.NaN;
let lastIso = '';

function convert(value: unknown, conversion: Conversion | undefined): unknown {
  if (conversion === undefined || typeof value !== 'number') return value;
  if (value !== lastMs) {
    lastIso = new Date(value).toISOString();
    lastMs = value;
  }
  return conversion === 'date' ? lastIso.slice(0, 10) : lastIso;
}
