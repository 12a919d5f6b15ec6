/**
 * Builds the `data` member of CDC and platform event messages exactly as Salesforce delivers
 * them over CometD (docs/protocols.md §1): `{schema, event: {replayId}, payload: {ChangeEventHeader,
 * …fields}}` and `{schema, event: {EventUuid, replayId}, payload}`. Each is serialized once,
 * here, and stored as text in the event log.
 */
import { createHash, randomUUID } from 'node:crypto';
import { checksumOf } from '../../normalize/ids.ts';
import type { ChangeSpec } from './types.ts';

/** V8 (Node 21+) can emit a raw number literal, which is how an integer above 2^53 gets out. */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The channel every selected object's changes go to. */
export const ALL_CHANGES_CHANNEL = '/data/ChangeEvents';

/** Change event channel of an object: `/data/ContactChangeEvent`, `/data/Invoice__ChangeEvent`. */
export function changeEventChannel(entityName: string): string {
  return entityName.endsWith('__c') ? `/data/${entityName.slice(0, -3)}__ChangeEvent` : `/data/${entityName}ChangeEvent`;
}

const schemaIds = new Map<string, string>();

/** A stable 22-character schema ID per event type, shaped like Salesforce's. */
export function schemaIdOf(typeName: string): string {
  let id = schemaIds.get(typeName);
  if (id === undefined) {
    id = createHash('md5').update(typeName).digest('base64url');
    schemaIds.set(typeName, id);
  }
  return id;
}

/** An 18-character ID from a 3-character key prefix and a serial number. */
export function salesforceId(keyPrefix: string, serial: number): string {
  const id15 = keyPrefix + '5g' + toBase62(serial).padStart(10, '0');
  return id15 + checksumOf(id15);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function toBase62(n: number): string {
  let out = '';
  let v = Math.floor(n);
  do {
    out = BASE62[v % 62]! + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out;
}

/** The user every emulated change is committed by, unless the spec names one. */
export const DEFAULT_COMMIT_USER = salesforceId('005', 4_211_097);

/** The last transaction seen, so its later events share its commit number and time. */
export interface LastTransaction {
  key: string;
  commitNumber: bigint;
  commitTimestamp: number;
}

/** What one emulator supplies to a change that the spec leaves out. */
export interface ChangeContext {
  apiVersion: string;
  /** Next commit number when the transaction is new. */
  nextCommitNumber(): bigint;
  lastTransaction: LastTransaction | undefined;
}

/** Serializes the `data` of a change event. */
export function changeEventData(spec: ChangeSpec, replayId: number, ctx: ChangeContext): string {
  const last = ctx.lastTransaction;
  const isNewTx = last === undefined || spec.transactionKey === undefined || spec.transactionKey !== last.key;
  const transactionKey = spec.transactionKey ?? randomUUID();
  const commitTimestamp = spec.commitTimestamp ?? (isNewTx ? Date.now() : last.commitTimestamp);
  const commitNumber = spec.commitNumber !== undefined ? BigInt(spec.commitNumber) : isNewTx ? ctx.nextCommitNumber() : last.commitNumber;
  ctx.lastTransaction = { key: transactionKey, commitNumber, commitTimestamp };

  const carriesFields = spec.changeType === 'CREATE' || spec.changeType === 'UPDATE' || spec.changeType === 'UNDELETE';
  const fields: Record<string, unknown> = carriesFields ? { ...spec.fields } : {};
  let changedFields = spec.changedFields;
  if (changedFields === undefined) {
    changedFields = spec.changeType === 'UPDATE' ? deriveChangedFields(fields) : [];
    // Every real UPDATE carries LastModifiedDate among its changes.
    if (spec.changeType === 'UPDATE' && !('LastModifiedDate' in fields)) {
      fields.LastModifiedDate = new Date(commitTimestamp).toISOString();
      changedFields.push('LastModifiedDate');
    }
  }

  const header = {
    entityName: spec.entityName,
    recordIds: spec.recordIds,
    changeType: spec.changeType,
    changeOrigin: spec.changeOrigin ?? `com/salesforce/api/soap/${ctx.apiVersion};client=SfdcEmulator`,
    transactionKey,
    sequenceNumber: spec.sequenceNumber ?? 1,
    commitTimestamp,
    commitNumber: commitNumber <= MAX_SAFE ? Number(commitNumber) : rawJSON(commitNumber.toString()),
    commitUser: spec.commitUser ?? DEFAULT_COMMIT_USER,
    changedFields,
  };
  const payload: Record<string, unknown> = { ChangeEventHeader: header };
  for (const [name, value] of Object.entries(fields)) {
    const kept = withoutNulls(value);
    if (kept !== undefined) payload[name] = kept;
  }
  return JSON.stringify({ schema: schemaIdOf(`${spec.entityName}ChangeEvent`), event: { replayId }, payload });
}

/** Serializes the `data` of a platform event; returns it with the event's UUID. */
export function platformEventData(eventName: string, fields: Record<string, unknown>, replayId: number): { data: string; eventUuid: string } {
  const eventUuid = randomUUID();
  const payload = { CreatedDate: new Date().toISOString(), CreatedById: DEFAULT_COMMIT_USER, ...fields };
  const data = JSON.stringify({ schema: schemaIdOf(eventName), event: { EventUuid: eventUuid, replayId }, payload });
  return { data, eventUuid };
}

/** `changedFields` of an UPDATE: plain names, and `Compound.Part` for each part of a compound. */
export function deriveChangedFields(fields: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (isPlainObject(value)) for (const part of Object.keys(value)) out.push(`${name}.${part}`);
    else out.push(name);
  }
  return out;
}

/** CometD leaves null fields out, and null parts of a compound; an all-null compound goes too. */
function withoutNulls(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (!isPlainObject(value)) return value;
  const kept: Record<string, unknown> = {};
  let any = false;
  for (const [part, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    kept[part] = v;
    any = true;
  }
  return any ? kept : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
