/**
 * Avro schemas and encoding for the Pub/Sub emulator. The retained log holds each event as
 * the CometD `data` JSON; here it becomes what the Pub/Sub API delivers: an Avro record of the
 * event type's schema, with every field present (null when unchanged or unset), date-times as
 * epoch milliseconds, and the header's changed and nulled fields as bitmaps over the schema.
 *
 * Schemas evolve as Salesforce's do: a type starts from its known fields (Contact's standard
 * ones, a platform event's CreatedDate/CreatedById), and a field seen for the first time adds
 * a new version with a new schema ID. Every version stays answerable by GetSchema.
 */
import { createHash } from 'node:crypto';
import type avro from 'avsc';
import { CHANGE_TYPES } from '../../core/model.ts';
import { bitmapOf, compileSchema, type SchemaField } from './codec.ts';

type Kind = 'string' | 'double' | 'boolean' | 'datetime' | 'date' | 'long';
interface FieldDef {
  name: string;
  kind: Kind;
  parts?: { name: string; kind: Kind }[];
}
interface Version {
  id: string;
  json: string;
  type: avro.Type;
  fields: SchemaField[];
}

/** An event encoded for delivery. */
export interface EncodedEvent {
  /** EventUuid of a platform event; empty for change events. */
  id: string;
  schemaId: string;
  payload: Buffer;
}

const NAMESPACE = 'com.sforce.eventbus';
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const STRINGS = { type: 'array', items: 'string' };
/** The CDC header as Salesforce's Avro schema declares it, field by field in its order. */
const HEADER_FIELDS: [string, unknown][] = [
  ['entityName', 'string'],
  ['recordIds', STRINGS],
  ['changeType', { type: 'enum', name: 'ChangeType', namespace: NAMESPACE, symbols: [...CHANGE_TYPES] }],
  ['changeOrigin', 'string'],
  ['transactionKey', 'string'],
  ['sequenceNumber', 'int'],
  ['commitTimestamp', 'long'],
  ['commitNumber', 'long'],
  ['commitUser', 'string'],
  ['nulledFields', STRINGS],
  ['diffFields', STRINGS],
  ['changedFields', STRINGS],
];
const HEADER_SCHEMA = {
  type: 'record',
  name: 'ChangeEventHeader',
  namespace: NAMESPACE,
  fields: HEADER_FIELDS.map(([name, type]) => ({ name, type })),
};

/** Field definitions from `name` or `name:kind` (a string field when no kind is given). */
function fieldsOf(...specs: string[]): FieldDef[] {
  return specs.map((spec) => {
    const [name, kind = 'string'] = spec.split(':');
    return { name: name!, kind: kind as Kind };
  });
}

/** Contact's standard fields in a realistic order; anything else is added as first seen. */
const CONTACT_FIELDS: FieldDef[] = [
  ...fieldsOf('AccountId'),
  { name: 'Name', kind: 'string', parts: fieldsOf('Salutation', 'FirstName', 'LastName') },
  { name: 'MailingAddress', kind: 'string', parts: fieldsOf('Street', 'City', 'State', 'PostalCode', 'Country') },
  ...fieldsOf(
    'Phone',
    'MobilePhone',
    'Email',
    'Title',
    'LeadSource',
    'Birthdate:date',
    'HasOptedOutOfEmail:boolean',
    'OwnerId',
    'CreatedDate:datetime',
    'CreatedById',
    'LastModifiedDate:datetime',
    'LastModifiedById',
  ),
];

const PLATFORM_FIELDS: FieldDef[] = fieldsOf('CreatedDate:datetime', 'CreatedById');

/** Why an event cannot be written in Avro (bad data published on purpose). */
export class UnencodableError extends Error {}

/** Every schema version of every event type the emulator has served. */
export class SchemaRegistry {
  readonly #versions = new Map<string, Version>();
  readonly #types = new Map<string, { fields: FieldDef[]; current: Version | undefined; isChange: boolean }>();

  /** A schema version by ID. */
  get(schemaId: string): { id: string; json: string } | undefined {
    return this.#versions.get(schemaId);
  }

  /** The current schema of a topic's event type (GetTopic). */
  forTopic(topic: string): Version {
    if (topic.startsWith('/event/')) return this.#current(topic.slice('/event/'.length), false);
    const entity = entityOfChannel(topic) ?? 'Contact';
    return this.#current(changeTypeName(entity), true);
  }

  /** Encodes one log entry's `data` JSON; throws UnencodableError when it cannot be. */
  encode(channel: string, dataText: string): EncodedEvent {
    const data = JSON.parse(dataText, keepBigCommitNumber) as Record<string, unknown>;
    const payload = asObject(data?.payload, 'data.payload');
    if (channel.startsWith('/data/')) return this.#encodeChange(payload);
    const uuid = asObject(data.event ?? {}, 'data.event').EventUuid;
    return this.#encodePlatform(channel.slice(channel.lastIndexOf('/') + 1), payload, typeof uuid === 'string' ? uuid : '');
  }

  #encodeChange(payload: Record<string, unknown>): EncodedEvent {
    const header = asObject(payload.ChangeEventHeader, 'payload.ChangeEventHeader');
    if (typeof header.entityName !== 'string') throw new UnencodableError('ChangeEventHeader.entityName is not a string');
    const changed = Array.isArray(header.changedFields) ? header.changedFields.filter((n): n is string => typeof n === 'string') : [];
    const values = Object.entries(payload).filter(([k]) => k !== 'ChangeEventHeader');
    const version = this.#fit(changeTypeName(header.entityName), true, values, changed);
    const def = this.#types.get(changeTypeName(header.entityName))!.fields;
    const record: Record<string, unknown> = {};
    for (const f of def) record[f.name] = toAvro(f, payload[f.name]);
    // On CometD a changed field absent from the payload was set to null; Pub/Sub says so itself.
    const nulled = changed.filter((name) => {
      const dot = name.indexOf('.');
      if (dot < 0) return payload[name] == null;
      const compound = payload[name.slice(0, dot)];
      return typeof compound !== 'object' || compound === null || (compound as Record<string, unknown>)[name.slice(dot + 1)] == null;
    });
    record.ChangeEventHeader = {
      entityName: header.entityName,
      recordIds: header.recordIds ?? [],
      changeType: header.changeType,
      changeOrigin: header.changeOrigin ?? '',
      transactionKey: header.transactionKey ?? '',
      sequenceNumber: header.sequenceNumber ?? 1,
      commitTimestamp: header.commitTimestamp ?? 0,
      commitNumber: header.commitNumber ?? 0,
      commitUser: header.commitUser ?? '',
      nulledFields: bitmapOf(nulled, version.fields),
      diffFields: [],
      changedFields: bitmapOf(changed, version.fields),
    };
    return { id: '', schemaId: version.id, payload: write(version.type, record) };
  }

  #encodePlatform(name: string, payload: Record<string, unknown>, uuid: string): EncodedEvent {
    const version = this.#fit(name, false, Object.entries(payload), []);
    const record: Record<string, unknown> = {};
    for (const f of this.#types.get(name)!.fields) record[f.name] = toAvro(f, payload[f.name]);
    return { id: uuid, schemaId: version.id, payload: write(version.type, record) };
  }

  /** The type's schema, extended first with any field (or compound part) not in it yet. */
  #fit(typeName: string, isChange: boolean, values: [string, unknown][], changed: string[]): Version {
    const t = this.#type(typeName, isChange);
    let grew = false;
    for (const [name, value] of values) {
      if (value === null || value === undefined) continue;
      let field = t.fields.find((f) => f.name === name);
      const compound = isChange && typeof value === 'object' && !Array.isArray(value);
      if (!field) {
        field = compound ? { name, kind: 'string', parts: [] } : { name, kind: kindOf(value, name) };
        t.fields.push(field);
        grew = true;
      }
      if (compound) {
        if (!field.parts) throw new UnencodableError(`${name}: a compound value for a plain field`);
        for (const [part, v] of Object.entries(value as Record<string, unknown>)) {
          if (v === null || v === undefined || field.parts.some((p) => p.name === part)) continue;
          field.parts.push({ name: part, kind: kindOf(v, `${name}.${part}`) });
          grew = true;
        }
      }
    }
    for (const name of changed) {
      const dot = name.indexOf('.');
      const top = dot < 0 ? name : name.slice(0, dot);
      let field = t.fields.find((f) => f.name === top);
      if (!field) {
        field = dot < 0 ? { name, kind: 'string' } : { name: top, kind: 'string', parts: [] };
        t.fields.push(field);
        grew = true;
      }
      if (dot >= 0 && field.parts && !field.parts.some((p) => p.name === name.slice(dot + 1))) {
        field.parts.push({ name: name.slice(dot + 1), kind: 'string' });
        grew = true;
      }
    }
    if (grew || !t.current) t.current = this.#version(typeName, t.fields, isChange);
    return t.current;
  }

  #current(typeName: string, isChange: boolean): Version {
    const t = this.#type(typeName, isChange);
    t.current ??= this.#version(typeName, t.fields, isChange);
    return t.current;
  }

  #type(typeName: string, isChange: boolean) {
    let t = this.#types.get(typeName);
    if (!t) {
      const base = isChange ? (typeName === 'ContactChangeEvent' ? CONTACT_FIELDS : []) : PLATFORM_FIELDS;
      t = { fields: base.map((f) => ({ ...f, parts: f.parts?.map((p) => ({ ...p })) })), current: undefined, isChange };
      this.#types.set(typeName, t);
    }
    return t;
  }

  #version(typeName: string, fields: FieldDef[], isChange: boolean): Version {
    const avroFields: unknown[] = isChange ? [{ name: 'ChangeEventHeader', type: HEADER_SCHEMA, doc: 'Data:ChangeEventHeader' }] : [];
    for (const f of fields) {
      const type = f.parts
        ? {
            type: 'record',
            name: `${f.name}_Compound`,
            namespace: NAMESPACE,
            fields: f.parts.map((p) => ({ name: p.name, ...avroType(p.kind), default: null })),
          }
        : undefined;
      avroFields.push(
        type ? { name: f.name, type: ['null', type], doc: 'Data:Compound', default: null } : { name: f.name, ...avroType(f.kind), default: null },
      );
    }
    const json = JSON.stringify({ type: 'record', name: typeName, namespace: NAMESPACE, fields: avroFields });
    const id = createHash('md5').update(json).digest('base64url');
    let version = this.#versions.get(id);
    if (!version) {
      const bitmapFields: SchemaField[] = (isChange ? [{ name: 'ChangeEventHeader' }] : []).concat(
        fields.map((f) => (f.parts ? { name: f.name, parts: f.parts.map((p) => p.name) } : { name: f.name })),
      );
      version = { id, json, type: compileSchema(json), fields: bitmapFields };
      this.#versions.set(id, version);
    }
    return version;
  }
}

/** The Avro type and Salesforce doc annotation of a field kind, nullable. */
function avroType(kind: Kind): { type: unknown[]; doc: string } {
  switch (kind) {
    case 'datetime':
      return { type: ['null', 'long'], doc: 'Data:DateTime' };
    case 'date':
      return { type: ['null', 'long'], doc: 'Data:DateOnly' };
    case 'long':
      return { type: ['null', 'long'], doc: 'Data:Long' };
    case 'double':
      return { type: ['null', 'double'], doc: 'Data:Double' };
    case 'boolean':
      return { type: ['null', 'boolean'], doc: 'Data:Boolean' };
    default:
      return { type: ['null', 'string'], doc: 'Data:Text' };
  }
}

function kindOf(value: unknown, name: string): Kind {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'string') return ISO_DATETIME.test(value) ? 'datetime' : 'string';
  throw new UnencodableError(`${name}: ${JSON.stringify(value)} has no Avro field type`);
}

function toAvro(field: FieldDef, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (field.parts) {
    const out: Record<string, unknown> = {};
    for (const p of field.parts) out[p.name] = scalar(p.kind, (value as Record<string, unknown>)[p.name], `${field.name}.${p.name}`);
    return out;
  }
  return scalar(field.kind, value, field.name);
}

function scalar(kind: Kind, value: unknown, name: string): unknown {
  if (value === null || value === undefined) return null;
  const bad = () => new UnencodableError(`${name}: ${JSON.stringify(value)} does not fit its ${kind} field`);
  switch (kind) {
    case 'datetime':
    case 'date': {
      const ms = typeof value === 'string' ? Date.parse(value) : NaN;
      if (!Number.isFinite(ms)) throw bad();
      return ms;
    }
    case 'double':
      if (typeof value !== 'number') throw bad();
      return value;
    case 'long':
      if (typeof value !== 'number') throw bad();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad();
      return value;
    default:
      if (typeof value !== 'string') throw bad();
      return value;
  }
}

function write(type: avro.Type, record: Record<string, unknown>): Buffer {
  try {
    return type.toBuffer(record);
  } catch (err) {
    throw new UnencodableError((err as Error).message);
  }
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UnencodableError(`${what} is not an object`);
  return value as Record<string, unknown>;
}

/** `ContactChangeEvent`, `Invoice__ChangeEvent`. */
function changeTypeName(entity: string): string {
  return entity.endsWith('__c') ? `${entity.slice(0, -3)}__ChangeEvent` : `${entity}ChangeEvent`;
}

function entityOfChannel(channel: string): string | undefined {
  const m = /^\/data\/(\w+?)(__)?ChangeEvent$/.exec(channel);
  if (!m) return undefined;
  return m[2] ? `${m[1]}__c` : m[1];
}

/** commitNumber above 2^53 is stored as a raw JSON number; read its digits, not a rounded double. */
function keepBigCommitNumber(this: unknown, key: string, value: unknown, context?: { source?: string }): unknown {
  if (key === 'commitNumber' && typeof value === 'number' && !Number.isSafeInteger(value) && context?.source) return context.source;
  return value;
}
