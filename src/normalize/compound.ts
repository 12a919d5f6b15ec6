/**
 * Compound field names. Change events nest compound fields (`"Name": {"LastName": ...}`,
 * `"BillingAddress": {"Street": ...}`) and name their parts `Name.LastName`; the object's own
 * field names can differ from the part names (`BillingAddress.Street` is `BillingStreet`).
 * These rules turn a compound and part into the object's field name:
 *  - `<Prefix>Address` + part → `<Prefix><Part>` (`BillingAddress.Street` → `BillingStreet`,
 *    `MailingAddress.City` → `MailingCity`, Lead/User `Address.Street` → `Street`); a part that
 *    already carries the prefix is kept;
 *  - custom compound `<Base>__c` (geolocation, custom address) + part → `<Base>__<Part>__s`
 *    (`Location__c.Latitude` → `Location__Latitude__s`);
 *  - anything else (Name and its FirstName, LastName, Salutation, ...): the part name.
 * Results are cached, since a handful of names repeat in every event.
 */

const ADDRESS = 'Address';
const CACHE_LIMIT = 10_000;

const flatCache = new Map<string, Map<string, string>>();

function computeFlatName(compound: string, part: string): string {
  if (compound.endsWith(ADDRESS)) {
    const prefix = compound.slice(0, -ADDRESS.length);
    return prefix === '' || part.startsWith(prefix) ? part : prefix + part;
  }
  if (compound.endsWith('__c')) {
    return part.endsWith('__s') ? part : `${compound.slice(0, -3)}__${part}__s`;
  }
  return part;
}

/** The object's field name for part `part` of compound field `compound`. */
export function flatName(compound: string, part: string): string {
  let parts = flatCache.get(compound);
  if (parts === undefined) {
    if (flatCache.size >= CACHE_LIMIT) return computeFlatName(compound, part);
    parts = new Map();
    flatCache.set(compound, parts);
  }
  let flat = parts.get(part);
  if (flat === undefined) {
    flat = computeFlatName(compound, part);
    if (parts.size < CACHE_LIMIT) parts.set(part, flat);
  }
  return flat;
}

/** A dotted field name taken apart. */
export interface DottedName {
  compound: string;
  part: string;
  flat: string;
}

const dottedCache = new Map<string, DottedName | null>();

/** `Name.LastName` → `{compound: 'Name', part: 'LastName', flat: 'LastName'}`; undefined without a dot. */
export function splitDotted(name: string): DottedName | undefined {
  const cached = dottedCache.get(name);
  if (cached !== undefined) return cached ?? undefined;
  const dot = name.indexOf('.');
  let result: DottedName | null = null;
  if (dot > 0 && dot < name.length - 1) {
    const compound = name.slice(0, dot);
    const part = name.slice(dot + 1);
    result = { compound, part, flat: flatName(compound, part) };
  }
  if (dottedCache.size < CACHE_LIMIT) dottedCache.set(name, result);
  return result ?? undefined;
}
