/**
 * The emulated org's records: what the REST API's queries return. Every published change is
 * applied here (CREATE inserts, UPDATE merges, DELETE hides, UNDELETE restores, GAP_* applies
 * the given fields even though the event carries none), so a query made after an event sees
 * the record's current values, as it does in a real org. Fields are stored flat, by the
 * object's own names (`FirstName`, `MailingStreet`), the way SOQL returns them.
 */
import { flatName } from '../../normalize/compound.ts';
import { tryTo18 } from '../../normalize/ids.ts';
import type { ChangeSpec } from './types.ts';
import { salesforceId } from './payloads.ts';

/** One stored record: flat field values, `Id` included. */
export type OrgRecord = Record<string, unknown> & { Id: string };

/** Fields every object has. */
const SYSTEM_FIELDS = ['Id', 'IsDeleted', 'CreatedDate', 'CreatedById', 'LastModifiedDate', 'LastModifiedById', 'SystemModstamp'];

/** Standard fields of the objects tests use; fields written by a change are added to these. */
const STANDARD_FIELDS: Record<string, string[]> = {
  Contact: [
    'FirstName',
    'LastName',
    'Name',
    'Salutation',
    'Email',
    'Phone',
    'MobilePhone',
    'Title',
    'LeadSource',
    'AccountId',
    'OwnerId',
    'HasOptedOutOfEmail',
    'Birthdate',
    'MailingStreet',
    'MailingCity',
    'MailingState',
    'MailingPostalCode',
    'MailingCountry',
  ],
  Lead: [
    'FirstName',
    'LastName',
    'Name',
    'Salutation',
    'Email',
    'Phone',
    'Company',
    'Status',
    'LeadSource',
    'OwnerId',
    'HasOptedOutOfEmail',
    'IsConverted',
    'ConvertedContactId',
    'Street',
    'City',
    'State',
    'PostalCode',
    'Country',
  ],
  Account: ['Name', 'Phone', 'Website', 'Industry', 'OwnerId', 'BillingStreet', 'BillingCity', 'BillingState', 'BillingPostalCode', 'BillingCountry'],
};

/** Compounds whose full value is also a field of its own (a Contact's Name is "First Last"). */
function fullName(record: OrgRecord): string | undefined {
  const parts = [record.Salutation, record.FirstName, record.LastName].filter((p) => typeof p === 'string' && p !== '');
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/** The records of every object, with the set of fields each object is known to have. */
export class RecordTable {
  readonly #objects = new Map<string, Map<string, OrgRecord>>();
  readonly #deleted = new Map<string, Map<string, OrgRecord>>();
  readonly #fields = new Map<string, Set<string>>();

  /** True when `entity` is a known object (a standard one, or one a change was published for). */
  has(entity: string): boolean {
    return Object.hasOwn(STANDARD_FIELDS, entity) || this.#fields.has(entity);
  }

  /** Field names of `entity` (what describe lists and queries accept). */
  fieldsOf(entity: string): string[] {
    return [...this.#fieldSet(entity)];
  }

  /** Applies a published change to the records it names. */
  apply(change: ChangeSpec, commitTimestamp: number): void {
    const when = new Date(commitTimestamp).toISOString();
    const flat = flatten(change.fields ?? {});
    for (const raw of change.recordIds) {
      const id = tryTo18(raw);
      if (id === undefined) continue; // wildcards and bad IDs name no record
      const type = change.changeType.replace(/^GAP_/, '');
      if (type === 'OVERFLOW') continue;
      if (type === 'DELETE') this.#move(change.entityName, id, this.#live(change.entityName), this.#gone(change.entityName));
      else if (type === 'UNDELETE') this.#move(change.entityName, id, this.#gone(change.entityName), this.#live(change.entityName));
      if (type === 'DELETE') continue;
      const values: Record<string, unknown> = { ...flat };
      values.LastModifiedDate ??= when;
      values.SystemModstamp = when;
      if (type === 'CREATE') {
        values.CreatedDate ??= when;
        if (change.commitUser !== undefined) values.CreatedById ??= change.commitUser;
      }
      if (change.commitUser !== undefined) values.LastModifiedById ??= change.commitUser;
      this.upsert(change.entityName, { ...values, Id: id });
    }
  }

  /** Inserts or merges one record (fields flat; compound values are flattened). */
  upsert(entity: string, record: Record<string, unknown> & { Id: string }): void {
    const id = tryTo18(record.Id) ?? record.Id;
    const live = this.#live(entity);
    const current = live.get(id) ?? this.#gone(entity).get(id);
    const next: OrgRecord = { ...(current ?? { Id: id, IsDeleted: false }), ...flatten(record), Id: id };
    if (entity === 'Contact' || entity === 'Lead') next.Name = fullName(next) ?? next.Name;
    if (!this.#gone(entity).has(id)) live.set(id, next);
    else this.#gone(entity).set(id, next);
    const known = this.#fieldSet(entity);
    for (const name of Object.keys(next)) known.add(name);
  }

  /** The live (not deleted) record, if any. */
  get(entity: string, id: string): OrgRecord | undefined {
    return this.#live(entity).get(tryTo18(id) ?? id);
  }

  /** Every live record of `entity`. */
  all(entity: string): IterableIterator<OrgRecord> {
    return this.#live(entity).values();
  }

  #fieldSet(entity: string): Set<string> {
    let set = this.#fields.get(entity);
    if (!set) {
      set = new Set([...SYSTEM_FIELDS, ...(STANDARD_FIELDS[entity] ?? [])]);
      this.#fields.set(entity, set);
    }
    return set;
  }

  #live(entity: string): Map<string, OrgRecord> {
    let map = this.#objects.get(entity);
    if (!map) this.#objects.set(entity, (map = new Map()));
    return map;
  }

  #gone(entity: string): Map<string, OrgRecord> {
    let map = this.#deleted.get(entity);
    if (!map) this.#deleted.set(entity, (map = new Map()));
    return map;
  }

  #move(entity: string, id: string, from: Map<string, OrgRecord>, to: Map<string, OrgRecord>): void {
    const record = from.get(id);
    if (!record) return;
    from.delete(id);
    to.set(id, { ...record, IsDeleted: to === this.#gone(entity) });
  }
}

/**
 * Adds `count` Contacts as they exist before the bridge starts (a backfill's input): Ids from
 * consecutive serials, a name, an e-mail and the modification time; no events are published.
 */
export function seedContacts(
  records: RecordTable,
  count: number,
  opts: { from?: number; modifiedAt?: number } = {},
): { firstId: string; lastId: string } {
  const from = opts.from ?? 1;
  const when = new Date(opts.modifiedAt ?? Date.now()).toISOString();
  let firstId = '';
  let lastId = '';
  for (let n = from; n < from + count; n++) {
    const id = salesforceId('003', n);
    if (firstId === '') firstId = id;
    lastId = id;
    records.upsert('Contact', {
      Id: id,
      FirstName: 'Seed',
      LastName: `Contact${n}`,
      Email: `seed.${n}@example.com`,
      SystemModstamp: when,
      LastModifiedDate: when,
    });
  }
  return { firstId, lastId };
}

/** Compound values (`Name: {FirstName}`) become their parts' field names (`FirstName`). */
function flatten(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [part, v] of Object.entries(value)) out[flatName(name, part)] = v;
    } else {
      out[name] = value;
    }
  }
  return out;
}
