/**
 * Raw subscriber messages → `NormalizedEvent`s: one per record, IDs in 18 characters,
 * compound fields flattened, changed and nulled fields in both naming forms. Nothing here
 * throws on bad input: a malformed message or ID becomes a dead letter naming the field and
 * value, and the rest of the message goes on.
 *
 * Runs for every event: no regex, no deep copies. The payload's nested compound objects are
 * shared with the raw message, and platform events use the payload itself as `fields`; events
 * are read-only from here on (a stage that changes one copies it first).
 */
import { showValue, Code } from '../core/errors.ts';
import { ADMIN_CORRELATION_FIELD, CHANGE_TYPES, type ChangeType, type NewDeadLetter, type NormalizedEvent, type RawEvent } from '../core/model.ts';
import { tryTo18, idProblem } from './ids.ts';
import { correlationIdOf, idempotencyKey, NORMALIZE_ROUTE, publishedAtOf, type KeySource } from './idempotency.ts';
import { isChangeChannel } from '../config/checks.ts';
import type { ChannelConfig } from '../config/schema.ts';
import { flatName, splitDotted } from './compound.ts';

/** What `normalize` returns for one raw message. */
export interface NormalizeResult {
  events: NormalizedEvent[];
  deadLetters: NewDeadLetter[];
}

const CHANGE_TYPE_SET: ReadonlySet<string> = new Set(CHANGE_TYPES);

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

function deadLetter(raw: RawEvent, source: KeySource, code: string, reason: string): NewDeadLetter {
  return {
    idempotencyKey: idempotencyKey(source, NORMALIZE_ROUTE),
    channel: raw.channel,
    replayId: raw.replayId,
    route: NORMALIZE_ROUTE,
    recordId: source.recordId,
    contactKey: '',
    correlationId: correlationIdOf(raw.channel, raw.replayId, source.recordId, source.eventUuid),
    code,
    reason,
    source: raw,
  };
}

/** Normalizes one raw message from `channel`; never throws. */
export function normalize(raw: RawEvent, channel: ChannelConfig): NormalizeResult {
  const result: NormalizeResult = { events: [], deadLetters: [] };
  normalizeInto(raw, channel, result.events, result.deadLetters);
  return result;
}

/** `normalize`, appending to the caller's arrays (the batch path allocates no result objects). */
export function normalizeInto(raw: RawEvent, channel: ChannelConfig, events: NormalizedEvent[], deadLetters: NewDeadLetter[]): void {
  if (isChangeChannel(channel.name)) normalizeChange(raw, events, deadLetters);
  else normalizePlatform(raw, channel, events, deadLetters);
}

/** Why a header field is unusable, or undefined. Optional fields may be absent. */
function headerProblem(header: Obj): string | undefined {
  const bad = (field: string, expected: string) => `ChangeEventHeader.${field}: expected ${expected}, got ${showValue(header[field])}`;
  const { entityName, changeType, recordIds } = header;
  if (typeof entityName !== 'string' || entityName === '') return bad('entityName', 'a non-empty string');
  if (typeof changeType !== 'string' || !CHANGE_TYPE_SET.has(changeType)) return bad('changeType', `one of ${CHANGE_TYPES.join(', ')}`);
  if (changeType === 'GAP_OVERFLOW') {
    if (recordIds !== undefined && !isStringArray(recordIds)) return bad('recordIds', 'an array of strings');
  } else if (!isStringArray(recordIds) || recordIds.length === 0) {
    return bad('recordIds', 'a non-empty array of strings');
  }
  if (header.transactionKey !== undefined && typeof header.transactionKey !== 'string') return bad('transactionKey', 'a string');
  if (header.sequenceNumber !== undefined && !Number.isInteger(header.sequenceNumber)) return bad('sequenceNumber', 'an integer');
  if (header.commitTimestamp !== undefined && typeof header.commitTimestamp !== 'number') return bad('commitTimestamp', 'a number');
  const commitNumber = header.commitNumber;
  if (commitNumber !== undefined && typeof commitNumber !== 'number' && typeof commitNumber !== 'string' && typeof commitNumber !== 'bigint') {
    return bad('commitNumber', 'a number');
  }
  if (header.commitUser !== undefined && typeof header.commitUser !== 'string') return bad('commitUser', 'a string');
  if (header.changeOrigin !== undefined && typeof header.changeOrigin !== 'string') return bad('changeOrigin', 'a string');
  if (header.changedFields !== undefined && !isStringArray(header.changedFields)) return bad('changedFields', 'an array of strings');
  if (header.nulledFields !== undefined && !isStringArray(header.nulledFields)) return bad('nulledFields', 'an array of strings');
  return undefined;
}

function normalizeChange(raw: RawEvent, events: NormalizedEvent[], deadLetters: NewDeadLetter[]): void {
  const data = raw.data;
  const payload = isObj(data) ? data.payload : undefined;
  const header = isObj(payload) ? payload.ChangeEventHeader : undefined;
  if (!isObj(data)) {
    deadLetters.push(deadLetter(raw, fallbackOf(raw), Code.MALFORMED_EVENT, `data: expected an object, got ${showValue(data)}`));
    return;
  }
  if (!isObj(payload)) {
    deadLetters.push(deadLetter(raw, fallbackOf(raw), Code.MALFORMED_EVENT, `data.payload: expected an object, got ${showValue(payload)}`));
    return;
  }
  if (!isObj(header)) {
    deadLetters.push(
      deadLetter(raw, fallbackOf(raw), Code.MALFORMED_EVENT, `data.payload.ChangeEventHeader: expected an object, got ${showValue(header)}`),
    );
    return;
  }
  const problem = headerProblem(header);
  if (problem !== undefined) {
    const fallback = fallbackOf(raw);
    if (typeof header.transactionKey === 'string') fallback.transactionKey = header.transactionKey;
    if (Number.isInteger(header.sequenceNumber)) fallback.sequenceNumber = header.sequenceNumber as number;
    if (typeof header.commitTimestamp === 'number') fallback.commitTimestamp = header.commitTimestamp;
    deadLetters.push(deadLetter(raw, fallback, Code.MALFORMED_HEADER, problem));
    return;
  }

  const changeType = header.changeType as ChangeType;
  const isGap = changeType.startsWith('GAP_');
  const fields: Obj = {};
  if (!isGap) flattenInto(payload, fields);
  const nulledFields: string[] = [];
  const declared = header.changedFields as string[] | undefined;
  let changedFields: string[];
  if (declared !== undefined && declared.length > 0) {
    changedFields = changedFieldsOf(declared);
    if (!isGap) collectNulledFields(declared, payload, fields, nulledFields);
  } else changedFields = [];
  // Pub/Sub subscribers can hand over Salesforce's own nulledFields (decoded to names): trust them too.
  const listedNulls = header.nulledFields as string[] | undefined;
  if (listedNulls !== undefined && listedNulls.length > 0 && !isGap) collectNulledFields(listedNulls, payload, fields, nulledFields);
  const commitNumber = header.commitNumber;
  const template: NormalizedEvent = {
    correlationId: '',
    channel: raw.channel,
    replayId: raw.replayId,
    kind: 'change',
    entityName: header.entityName as string,
    changeType,
    recordId: '',
    contactKey: '',
    transactionKey: header.transactionKey as string | undefined,
    sequenceNumber: header.sequenceNumber as number | undefined,
    commitTimestamp: header.commitTimestamp as number | undefined,
    commitNumber: commitNumber === undefined ? undefined : String(commitNumber),
    commitUser: header.commitUser as string | undefined,
    changeOrigin: header.changeOrigin as string | undefined,
    eventUuid: undefined,
    changedFields,
    nulledFields,
    fields,
    receivedAt: raw.receivedAt,
  };

  const recordIds = (header.recordIds as string[] | undefined) ?? [];
  let needsResync = changeType === 'GAP_OVERFLOW';
  let made = 0;
  if (!needsResync) {
    for (let i = 0; i < recordIds.length; i++) {
      const id = recordIds[i]!;
      if (id.endsWith('*')) {
        needsResync = true; // a wildcard (`001*`): there are no IDs to fan out to
        continue;
      }
      const recordId = tryTo18(id);
      if (recordId === undefined) {
        const source: KeySource = {
          ...fallbackOf(raw),
          transactionKey: template.transactionKey,
          sequenceNumber: template.sequenceNumber,
          commitTimestamp: template.commitTimestamp,
          recordId: id,
        };
        deadLetters.push(deadLetter(raw, source, Code.INVALID_ID, `ChangeEventHeader.recordIds[${i}]: invalid Salesforce ID: ${idProblem(id)}`));
        continue;
      }
      if (isDuplicate(events, events.length - made, recordId)) continue;
      events.push(made === 0 ? withRecord(template, recordId) : withRecord(copyShared(template), recordId));
      made++;
    }
  }
  if (needsResync) events.push(made === 0 ? withRecord(template, '') : withRecord(copyShared(template), ''));
}

/** One merged event may name a record twice (15 and 18 characters): keep one, or its keys collide. */
function isDuplicate(events: NormalizedEvent[], from: number, recordId: string): boolean {
  for (let i = from; i < events.length; i++) if (events[i]!.recordId === recordId) return true;
  return false;
}

/** Fan-out siblings get their own top-level containers, so no stage can change one through another. */
function copyShared(template: NormalizedEvent): NormalizedEvent {
  return { ...template, fields: { ...template.fields }, changedFields: template.changedFields.slice(), nulledFields: template.nulledFields.slice() };
}

function withRecord(event: NormalizedEvent, recordId: string): NormalizedEvent {
  event.recordId = recordId;
  event.contactKey = recordId;
  event.correlationId = correlationIdOf(event.channel, event.replayId, recordId);
  return event;
}

/** Copies payload fields; compound values stay nested and their parts appear under their field names. */
function flattenInto(payload: Obj, fields: Obj): void {
  for (const key in payload) {
    if (key === 'ChangeEventHeader') continue;
    const value = payload[key];
    fields[key] = value;
    if (!isObj(value)) continue;
    for (const part in value) {
      const flat = flatName(key, part);
      // A top-level field of the same name wins: it is the object's own field.
      if (!Object.hasOwn(payload, flat)) fields[flat] = value[part];
    }
  }
}

/** What a change's dead letters are keyed by when its header is unusable (the identity falls back to the replay ID). */
function fallbackOf(raw: RawEvent): KeySource {
  return { channel: raw.channel, replayId: raw.replayId, kind: 'change', recordId: '' };
}

function pushUnique(list: string[], name: string): void {
  if (!list.includes(name)) list.push(name);
}

/** `list[0..n)` plus `name` unless it is there: the new `n`. */
function addUnique(list: string[], n: number, name: string): number {
  for (let i = 0; i < n; i++) if (list[i] === name) return n;
  list[n] = name;
  return n + 1;
}

// Reused: changed fields are collected here and copied out at their exact length, instead of
// pushed into a new list that grows a backing store of 17 slots on its first push.
const changedScratch: string[] = [];

/** Salesforce's names (`Name.LastName`) plus the flattened (`LastName`) and compound (`Name`) forms. */
function changedFieldsOf(declared: readonly string[]): string[] {
  let n = 0;
  for (let i = 0; i < declared.length; i++) {
    const name = declared[i]!;
    n = addUnique(changedScratch, n, name);
    const dotted = splitDotted(name);
    if (dotted !== undefined) {
      n = addUnique(changedScratch, n, dotted.flat);
      n = addUnique(changedScratch, n, dotted.compound);
    }
  }
  return changedScratch.slice(0, n);
}

/**
 * A field listed as changed but absent from the payload (or null in it) was set to null: on
 * CometD null fields are left out. The flattened value is set to null so mappings see the clear.
 */
function collectNulledFields(declared: readonly string[], payload: Obj, fields: Obj, out: string[]): void {
  for (let i = 0; i < declared.length; i++) {
    const name = declared[i]!;
    const dotted = splitDotted(name);
    if (dotted === undefined) {
      if (payload[name] == null) {
        pushUnique(out, name);
        fields[name] = null;
      }
      continue;
    }
    const compound = payload[dotted.compound];
    if (!isObj(compound) || compound[dotted.part] == null) {
      pushUnique(out, name);
      pushUnique(out, dotted.flat);
      if (fields[dotted.flat] === undefined) fields[dotted.flat] = null;
    }
  }
}

function normalizePlatform(raw: RawEvent, channel: ChannelConfig, events: NormalizedEvent[], deadLetters: NewDeadLetter[]): void {
  const data = raw.data;
  const meta = isObj(data) && isObj(data.event) ? data.event : undefined;
  const eventUuid = meta !== undefined && typeof meta.EventUuid === 'string' && meta.EventUuid !== '' ? meta.EventUuid : undefined;
  const payload = isObj(data) ? data.payload : undefined;
  const publishedAt = isObj(payload) ? publishedAtOf(payload.CreatedDate) : undefined;
  const source: KeySource = { channel: raw.channel, replayId: raw.replayId, kind: 'platform', recordId: '', eventUuid, publishedAt };
  if (!isObj(payload)) {
    const where = isObj(data) ? 'data.payload' : 'data';
    deadLetters.push(deadLetter(raw, source, Code.MALFORMED_EVENT, `${where}: expected an object, got ${showValue(isObj(data) ? payload : data)}`));
    return;
  }
  const entityName = raw.channel.slice(raw.channel.lastIndexOf('/') + 1);
  const field = channel.recordIdField;
  const rawId = payload[field];
  if (rawId === undefined || rawId === null || rawId === '') {
    deadLetters.push(deadLetter(raw, source, Code.MISSING_RECORD_ID, `payload.${field}: missing on ${entityName}, so there is no Contact Key`));
    return;
  }
  const recordId = typeof rawId === 'string' ? tryTo18(rawId) : undefined;
  if (recordId === undefined) {
    source.recordId = typeof rawId === 'string' ? rawId : showValue(rawId);
    deadLetters.push(deadLetter(raw, source, Code.INVALID_ID, `payload.${field}: invalid Salesforce ID: ${idProblem(rawId)}`));
    return;
  }
  const adminCorrelationId = adminCorrelationOf(payload[ADMIN_CORRELATION_FIELD]);
  events.push({
    correlationId: correlationIdOf(raw.channel, raw.replayId, recordId, eventUuid),
    ...(adminCorrelationId !== undefined ? { adminCorrelationId } : {}),
    channel: raw.channel,
    replayId: raw.replayId,
    kind: 'platform',
    entityName,
    changeType: 'EVENT',
    recordId,
    contactKey: recordId,
    transactionKey: undefined,
    sequenceNumber: undefined,
    commitTimestamp: undefined,
    commitNumber: undefined,
    commitUser: undefined,
    changeOrigin: undefined,
    eventUuid,
    publishedAt,
    changedFields: [],
    nulledFields: [],
    fields: payload,
    receivedAt: raw.receivedAt,
  });
}

/** The admin's correlation ID as logged and stored: trimmed text, at most the field's 255 characters. */
function adminCorrelationOf(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text.slice(0, 255);
}
