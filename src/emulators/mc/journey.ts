/**
 * Journey Builder entry endpoints: `POST /interaction/v1/events` (one contact, 201),
 * `POST /interaction/v1/async/events` (up to 100 members, per-member results in request order)
 * and `GET /interaction/v1/async/events/status`. The async handler is the benchmark's hot path:
 * one `Date.now()` per request, no per-member work beyond a UUID and the duplicate check.
 */
import { randomUUID } from 'node:crypto';
import type { McState } from './state.ts';
import type { ReceivedEntry } from './types.ts';
import { isRecord, mcError, parseJson, type ParsedRequest, type Reply } from './http.ts';

/** Marketing Cloud's documented cap on members per async request. */
export const MAX_ASYNC_MEMBERS = 100;

/**
 * Emulator error codes. Marketing Cloud documents the situations (unknown key, inactive
 * contact, bad JSON, too many members) but not stable codes for all of them; these are ours.
 */
export const EMULATOR_CODES = { invalidRequest: 10001, tooManyMembers: 10002, unknownKey: 30002 } as const;

/** `POST /interaction/v1/events`: one contact, 201 `{eventInstanceId}` or 400. */
export function handleSingle(state: McState, req: ParsedRequest, now: number): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body)) return reject(state, 1, EMULATOR_CODES.invalidRequest, 'Request body must be a JSON object.');
  const contactKey = body.ContactKey;
  const key = body.EventDefinitionKey;
  if (typeof contactKey !== 'string' || contactKey === '') return reject(state, 1, EMULATOR_CODES.invalidRequest, 'ContactKey is required.');
  if (typeof key !== 'string' || key === '') return reject(state, 1, EMULATOR_CODES.invalidRequest, 'EventDefinitionKey is required.');
  if (body.Data !== undefined && !isRecord(body.Data)) return reject(state, 1, EMULATOR_CODES.invalidRequest, 'Data must be an object.');
  if (!state.eventDefinitionExists(key)) return reject(state, 1, EMULATOR_CODES.unknownKey, `Event definition key ${key} was not found.`);
  const refusal = state.refusalsFor([contactKey])?.get(contactKey);
  if (refusal) return reject(state, 1, refusal.errorcode, refusal.message);
  const eventInstanceId = randomUUID();
  state.accept({
    contactKey,
    eventDefinitionKey: key,
    data: (body.Data ?? {}) as Record<string, unknown>,
    via: 'single',
    eventInstanceId,
    receivedAt: now,
  });
  return { status: 201, body: { eventInstanceId } };
}

interface MemberResult {
  contactKey: unknown;
  eventInstanceId: string;
  /** A String in the async answer, as its reference page documents members.errorcode. */
  errorcode?: string;
  message?: string;
}

/**
 * `POST /interaction/v1/async/events`. Answers 202: the endpoint queues asynchronously and the
 * docs we could read do not state the status; clients should accept any 2xx.
 */
export function handleAsync(state: McState, req: ParsedRequest, now: number): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body)) return reject(state, 0, EMULATOR_CODES.invalidRequest, 'Request body must be a JSON object.');
  const key = body.eventDefinitionKey;
  const members = body.members;
  if (!Array.isArray(members) || members.length === 0) return reject(state, 0, EMULATOR_CODES.invalidRequest, 'members must be a non-empty array.');
  if (members.length > MAX_ASYNC_MEMBERS) {
    return reject(
      state,
      members.length,
      EMULATOR_CODES.tooManyMembers,
      `A request can carry at most ${MAX_ASYNC_MEMBERS} members; this one has ${members.length}.`,
    );
  }
  if (typeof key !== 'string' || key === '') return reject(state, members.length, EMULATOR_CODES.invalidRequest, 'eventDefinitionKey is required.');
  if (!state.eventDefinitionExists(key)) {
    return reject(state, members.length, EMULATOR_CODES.unknownKey, `Event definition key ${key} was not found.`);
  }
  const requestId = randomUUID();
  const refusals = state.refusalsFor(members.map((m: unknown) => (isRecord(m) && typeof m.contactKey === 'string' ? m.contactKey : '')));
  const results: MemberResult[] = new Array(members.length);
  let notQueued = 0;
  for (let i = 0; i < members.length; i++) {
    const member: unknown = members[i];
    const eventInstanceId = randomUUID();
    const contactKey = isRecord(member) ? member.contactKey : undefined;
    let refusal = refusals?.get(contactKey as string);
    if (typeof contactKey !== 'string' || contactKey === '')
      refusal = { errorcode: EMULATOR_CODES.invalidRequest, message: 'contactKey is required.' };
    else if (isRecord(member) && member.data !== undefined && !isRecord(member.data))
      refusal = { errorcode: EMULATOR_CODES.invalidRequest, message: 'data must be an object.' };
    if (refusal) {
      notQueued++;
      state.counters.rejected++;
      state.errored.push({
        requestId,
        eventDefinitionKey: key,
        contactKey: String(contactKey ?? ''),
        eventInstanceId,
        errorcode: refusal.errorcode,
        message: refusal.message,
        at: now,
      });
      results[i] = { contactKey, eventInstanceId, errorcode: String(refusal.errorcode), message: refusal.message };
      continue;
    }
    const data = ((member as Record<string, unknown>).data ?? {}) as Record<string, unknown>;
    state.accept({ contactKey: contactKey as string, eventDefinitionKey: key, data, via: 'async', requestId, eventInstanceId, receivedAt: now });
    results[i] = { contactKey, eventInstanceId };
  }
  state.counters.batches++;
  return { status: 202, body: { requestId, count: members.length, notQueuedCount: notQueued, members: results } };
}

/**
 * `GET /interaction/v1/async/events/status`. The emulator processes at once, so accepted
 * members are `processed`, refused ones `errored`, and `queued` is always empty.
 */
export function handleStatus(state: McState, req: ParsedRequest): Reply {
  const q = req.query;
  const filters = ['type', 'contactKey', 'requestId', 'eventInstanceId', 'eventDefinitionKey'] as const;
  if (!filters.some((f) => q.has(f))) {
    return mcError(400, EMULATOR_CODES.invalidRequest, 'Specify at least one of type, contactKey, requestId, eventInstanceId or eventDefinitionKey.');
  }
  const type = q.get('type');
  if (type !== null && !['errored', 'queued', 'processed'].includes(type)) {
    return mcError(400, EMULATOR_CODES.invalidRequest, `type must be errored, queued or processed, not ${type}.`);
  }
  const match = (e: { contactKey: string; requestId?: string; eventInstanceId: string; eventDefinitionKey: string }): boolean =>
    (!q.has('contactKey') || e.contactKey === q.get('contactKey')) &&
    (!q.has('requestId') || e.requestId === q.get('requestId')) &&
    (!q.has('eventInstanceId') || e.eventInstanceId === q.get('eventInstanceId')) &&
    (!q.has('eventDefinitionKey') || e.eventDefinitionKey === q.get('eventDefinitionKey'));
  const items: Record<string, unknown>[] = [];
  if (type === null || type === 'processed') {
    for (const e of state.entries) if (e.via === 'async' && match(e)) items.push(statusItem(e, 'processed'));
  }
  if (type === null || type === 'errored') {
    for (const e of state.errored) {
      if (match(e)) items.push({ ...statusItem({ ...e, receivedAt: e.at }, 'errored'), errorCode: e.errorcode, message: e.message });
    }
  }
  const page = Math.max(1, Number(q.get('$page') ?? 1) || 1);
  const pageSize = Math.max(1, Number(q.get('$pageSize') ?? 50) || 50);
  return { status: 200, body: { page, pageSize, count: items.length, items: items.slice((page - 1) * pageSize, page * pageSize) } };
}

function statusItem(
  e: Pick<ReceivedEntry, 'contactKey' | 'eventDefinitionKey' | 'eventInstanceId' | 'requestId' | 'receivedAt'>,
  status: string,
): Record<string, unknown> {
  return {
    requestId: e.requestId,
    eventInstanceId: e.eventInstanceId,
    contactKey: e.contactKey,
    eventDefinitionKey: e.eventDefinitionKey,
    status,
    modifiedDate: new Date(e.receivedAt).toISOString(),
  };
}

function reject(state: McState, members: number, errorcode: number, message: string): Reply {
  state.counters.rejected += members;
  return mcError(400, errorcode, message);
}
