/**
 * The bitmap fields of a Pub/Sub change event header (`changedFields`, `nulledFields`,
 * `diffFields`), after Salesforce's "Event Deserialization Considerations": an array of hex
 * strings. The first entry, `0x…`, is a bitmap over the top-level fields of the event's Avro
 * schema (bit i set = field i, counting from the least significant bit). Each further entry,
 * `N-0x…`, is a bitmap over the fields of the compound field at top-level position N (Name,
 * MailingAddress), whose parts are named `Compound.Part`, the form CometD uses.
 */

/** A top-level schema field, with its part names when it is a compound (a nested record). */
export interface BitmapField {
  name: string;
  parts?: readonly string[];
}

const TOP = /^0x([0-9a-f]+)$/i;
const NESTED = /^(\d+)-0x([0-9a-f]+)$/i;

/**
 * Field names of a bitmap field, in schema order. Throws an Error naming the entry when it
 * does not fit the schema (a bit past the last field, a position that is not a compound):
 * decoding with the wrong schema must never yield plausible but wrong names.
 */
export function decodeBitmap(entries: readonly string[], fields: readonly BitmapField[]): string[] {
  const names: string[] = [];
  for (const entry of entries) {
    const top = TOP.exec(entry);
    if (top) {
      for (const i of setBits(top[1]!)) {
        const field = fields[i];
        if (!field) throw new Error(`bitmap ${JSON.stringify(entry)}: bit ${i} is past the schema's ${fields.length} fields`);
        names.push(field.name);
      }
      continue;
    }
    const nested = NESTED.exec(entry);
    if (!nested) throw new Error(`bitmap entry ${JSON.stringify(entry)} is neither "0x…" nor "N-0x…"`);
    const at = Number(nested[1]);
    const parent = fields[at];
    if (!parent?.parts) throw new Error(`bitmap ${JSON.stringify(entry)}: field ${at} (${parent?.name ?? 'none'}) is not a compound field`);
    for (const i of setBits(nested[2]!)) {
      const part = parent.parts[i];
      if (part === undefined) throw new Error(`bitmap ${JSON.stringify(entry)}: bit ${i} is past ${parent.name}'s ${parent.parts.length} parts`);
      names.push(`${parent.name}.${part}`);
    }
  }
  return names;
}

/**
 * The bitmap of `names` (top-level names and `Compound.Part`), as Salesforce writes it:
 * uppercase hex, the top-level entry always first when there is anything to say (clients look
 * for it there), then one entry per compound in schema order. Unknown names throw.
 */
export function encodeBitmap(names: readonly string[], fields: readonly BitmapField[]): string[] {
  if (names.length === 0) return [];
  const index = new Map(fields.map((f, i) => [f.name, i]));
  let top = 0n;
  const nested = new Map<number, bigint>();
  for (const name of names) {
    const dot = name.indexOf('.');
    if (dot < 0) {
      const i = index.get(name);
      if (i === undefined) throw new Error(`field ${JSON.stringify(name)} is not in the schema`);
      top |= 1n << BigInt(i);
      continue;
    }
    const i = index.get(name.slice(0, dot));
    const part = i === undefined ? -1 : (fields[i]!.parts ?? []).indexOf(name.slice(dot + 1));
    if (i === undefined || part < 0) throw new Error(`field ${JSON.stringify(name)} is not a part of a compound in the schema`);
    nested.set(i, (nested.get(i) ?? 0n) | (1n << BigInt(part)));
  }
  const out = [`0x${hex(top)}`];
  for (const i of [...nested.keys()].sort((a, b) => a - b)) out.push(`${i}-0x${hex(nested.get(i)!)}`);
  return out;
}

function hex(value: bigint): string {
  const text = value.toString(16).toUpperCase();
  return text.length % 2 === 0 ? text : `0${text}`;
}

/** Positions of the set bits of a hex number, lowest first. */
function setBits(hexDigits: string): number[] {
  const out: number[] = [];
  let value = BigInt(`0x${hexDigits}`);
  for (let i = 0; value > 0n; i++, value >>= 1n) if (value & 1n) out.push(i);
  return out;
}
