/**
 * The two send APIs of Marketing Cloud, in the shapes the bridge and other clients depend on:
 *  - classic triggered send, `POST /messaging/v1/messageDefinitionSends/key:<key>/send`
 *    → 202 `{requestId, responses: [{recipientSendId, hasErrors, messages}]}`;
 *  - Transactional Messaging, `POST /messaging/v1/email/messages/<messageKey>` (one recipient)
 *    and `POST /messaging/v1/email/messages` (`recipients[]` ≤ 2,000, ≤ 500 with attributes)
 *    → 202 `{requestId, errorcode, responses: [{messageKey, errorcode?, message?}]}`.
 * A messageKey already accepted answers 109110 (per recipient in a batch, 400 on the single
 * endpoint); a paused or unknown definition answers 400; member faults and inactive contacts
 * refuse recipients one by one.
 */
import { randomUUID } from 'node:crypto';
import type { McState, MemberRefusal } from './state.ts';
import { isRecord, mcError, parseJson, type ParsedRequest, type Reply } from './http.ts';
import { McErrorcode } from '../../core/errors.ts';

/** Transactional batch caps (recipients per request; fewer when any carries attributes). */
export const MAX_RECIPIENTS = 2000;
export const MAX_RECIPIENTS_WITH_ATTRIBUTES = 500;

/** Marketing Cloud's response-level and recipient-level codes the emulator answers with. */
export const SEND_CODES = {
  /** Some recipients had errors (response level, batch). */
  responsesHaveErrors: 109001,
  tooManySubscribers: 109101,
  noSubscribers: 109102,
  invalidEmail: 109104,
  messageKeyReused: McErrorcode.messageKeyReused,
  invalidRequest: 10001,
  definitionNotFound: 30003,
  definitionNotActive: 30005,
} as const;

const EMAIL = /^[^\s@"(),:;<>[\\\]]+@[^\s@"(),:;<>[\\\]]+\.[^\s@"(),:;<>[\\\]]+$/;

/** `/messaging/v1/messageDefinitionSends/key:<key>/send` → the key, else undefined. */
export function triggeredSendKey(path: string): string | undefined {
  const m = /^\/messaging\/v1\/messageDefinitionSends\/key:([^/]+)\/send$/.exec(path);
  return m ? safeDecode(m[1]!) : undefined;
}

/** `/messaging/v1/email/messages/<messageKey>` → the messageKey, else undefined. */
export function transactionalMessageKey(path: string): string | undefined {
  const m = /^\/messaging\/v1\/email\/messages\/([^/]+)$/.exec(path);
  return m ? safeDecode(m[1]!) : undefined;
}

/** Classic triggered send of one recipient. */
export function handleTriggeredSend(state: McState, req: ParsedRequest, key: string, now: number): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body) || !isRecord(body.To)) return reject(state, SEND_CODES.invalidRequest, 'Request body must be a JSON object with To.');
  const problem = state.definitionProblem(key);
  if (problem) return reject(state, problem.errorcode, problem.message);
  const to = body.To;
  const address = typeof to.Address === 'string' ? to.Address : '';
  const contactKey = typeof to.SubscriberKey === 'string' && to.SubscriberKey !== '' ? to.SubscriberKey : address;
  const attrs =
    isRecord(to.ContactAttributes) && isRecord(to.ContactAttributes.SubscriberAttributes) ? to.ContactAttributes.SubscriberAttributes : undefined;
  const requestId = randomUUID();
  const recipientSendId = randomUUID();
  const refusal = recipientProblem(state, contactKey, address);
  if (refusal) {
    state.counters.rejected++;
    return {
      status: 202,
      body: { requestId, responses: [{ recipientSendId, hasErrors: true, messages: [`${refusal.errorcode}: ${refusal.message}`] }] },
    };
  }
  state.acceptSend({
    api: 'triggered',
    via: 'single',
    definitionKey: key,
    contactKey,
    to: address,
    requestId,
    recipientSendId,
    attributes: attrs,
    receivedAt: now,
  });
  return { status: 202, body: { requestId, responses: [{ recipientSendId, hasErrors: false, messages: ['Queued'] }] } };
}

/** Transactional send of one recipient under the messageKey in the path. */
export function handleTransactionalSingle(state: McState, req: ParsedRequest, messageKey: string, now: number): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body) || !isRecord(body.recipient))
    return reject(state, SEND_CODES.invalidRequest, 'Request body must be a JSON object with definitionKey and recipient.');
  const definitionKey = typeof body.definitionKey === 'string' ? body.definitionKey : '';
  if (definitionKey === '') return reject(state, SEND_CODES.invalidRequest, 'definitionKey is required.');
  if (messageKey.length > 100) return reject(state, SEND_CODES.invalidRequest, 'messageKey must be at most 100 characters.');
  const problem = state.definitionProblem(definitionKey);
  if (problem) return reject(state, problem.errorcode, problem.message);
  const requestId = randomUUID();
  const result = recipient(state, definitionKey, body.recipient, messageKey, requestId, 'single', now);
  if (result.errorcode !== undefined) {
    return { status: 400, body: { requestId, errorcode: result.errorcode, message: result.message, documentation: '', responses: [result] } };
  }
  return { status: 202, body: { requestId, errorcode: 0, responses: [result] } };
}

/** Transactional send of many recipients, each with its own messageKey (generated when absent). */
export function handleTransactionalBatch(state: McState, req: ParsedRequest, now: number): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body)) return reject(state, SEND_CODES.invalidRequest, 'Request body must be a JSON object.');
  const definitionKey = typeof body.definitionKey === 'string' ? body.definitionKey : '';
  if (definitionKey === '') return reject(state, SEND_CODES.invalidRequest, 'definitionKey is required.');
  const list = body.recipients;
  if (!Array.isArray(list) || list.length === 0) return reject(state, SEND_CODES.noSubscribers, 'recipients must be a non-empty array.');
  const withAttributes = list.some((r) => isRecord(r) && r.attributes !== undefined);
  const cap = withAttributes ? MAX_RECIPIENTS_WITH_ATTRIBUTES : MAX_RECIPIENTS;
  if (list.length > cap)
    return reject(
      state,
      SEND_CODES.tooManySubscribers,
      `A request can carry at most ${cap} recipients${withAttributes ? ' with attributes' : ''}; this one has ${list.length}.`,
    );
  const problem = state.definitionProblem(definitionKey);
  if (problem) return reject(state, problem.errorcode, problem.message);
  const requestId = randomUUID();
  const responses: RecipientResult[] = new Array(list.length);
  let errors = 0;
  for (let i = 0; i < list.length; i++) {
    const r: unknown = list[i];
    const key = isRecord(r) && typeof r.messageKey === 'string' && r.messageKey !== '' ? r.messageKey : randomUUID();
    responses[i] = recipient(state, definitionKey, r, key, requestId, 'batch', now);
    if (responses[i]!.errorcode !== undefined) errors++;
  }
  return { status: 202, body: { requestId, errorcode: errors > 0 ? SEND_CODES.responsesHaveErrors : 0, responses } };
}

interface RecipientResult {
  messageKey: string;
  errorcode?: number;
  message?: string;
}

function recipient(
  state: McState,
  definitionKey: string,
  value: unknown,
  messageKey: string,
  requestId: string,
  via: 'single' | 'batch',
  now: number,
): RecipientResult {
  if (!isRecord(value)) return refused(state, messageKey, { errorcode: SEND_CODES.invalidRequest, message: 'A recipient must be an object.' });
  const to = typeof value.to === 'string' ? value.to : '';
  const contactKey = typeof value.contactKey === 'string' && value.contactKey !== '' ? value.contactKey : to;
  if (messageKey.length > 100)
    return refused(state, messageKey, { errorcode: SEND_CODES.invalidRequest, message: 'messageKey must be at most 100 characters.' });
  if (value.attributes !== undefined && !isRecord(value.attributes))
    return refused(state, messageKey, { errorcode: SEND_CODES.invalidRequest, message: 'attributes must be an object.' });
  state.counters.messageKeyAttempts++;
  state.noteMessageKey(messageKey, contactKey, to);
  if (state.messageKeyUsed(messageKey)) {
    state.counters.messageKeyReused++;
    return { messageKey, errorcode: SEND_CODES.messageKeyReused, message: `MessageKey ${messageKey} is already in use.` };
  }
  const refusal = recipientProblem(state, contactKey, to);
  if (refusal) return refused(state, messageKey, refusal);
  state.acceptSend({
    api: 'transactional',
    via,
    definitionKey,
    contactKey,
    to,
    messageKey,
    requestId,
    attributes: value.attributes as Record<string, unknown> | undefined,
    receivedAt: now,
  });
  return { messageKey };
}

function recipientProblem(state: McState, contactKey: string, address: string): MemberRefusal | undefined {
  if (!EMAIL.test(address)) return { errorcode: SEND_CODES.invalidEmail, message: `Invalid email address ${JSON.stringify(address.slice(0, 80))}.` };
  return state.refusalsFor([contactKey])?.get(contactKey);
}

function refused(state: McState, messageKey: string, r: MemberRefusal): RecipientResult {
  state.counters.rejected++;
  return { messageKey, errorcode: r.errorcode, message: r.message };
}

function reject(state: McState, errorcode: number, message: string): Reply {
  state.counters.rejected++;
  return mcError(400, errorcode, message);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
