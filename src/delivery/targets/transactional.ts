/**
 * The Transactional Messaging API target. Each action's idempotency key is its `messageKey`,
 * so Marketing Cloud itself deduplicates a retry: a recipient answered 109110 ("messageKey
 * already used") was accepted by an earlier attempt whose answer we never saw, and counts as
 * delivered. Batch mode sends `POST /messaging/v1/email/messages` with up to 500 recipients
 * (2,000 without attributes) and maps `responses[]` back by messageKey; single mode sends
 * `POST /messaging/v1/email/messages/<messageKey>` per item.
 */
import { PermanentError, TransientError, Code } from '../../core/errors.ts';
import type { DeliveryIds, SendPayload } from '../../core/model.ts';
import type { McRestClient } from '../mc/http.ts';
import { errorFromResponse, isAlreadyAccepted } from '../retry.ts';
import { clientLookup, failed, groupBy, runLimited, type ClientFor, type DeliveryItem, type DeliveryOutcome, type Target } from '../target.ts';

/** Batch endpoint. */
export const TRANSACTIONAL_BATCH_PATH = '/messaging/v1/email/messages';
/** Marketing Cloud's recipient caps per batch request. */
export const MAX_RECIPIENTS = 2000;
export const MAX_RECIPIENTS_WITH_ATTRIBUTES = 500;

/** Transactional target options. */
export interface TransactionalTargetOptions {
  /** Recipients per batch request (capped by Marketing Cloud's limits). @default 500 */
  batchSize?: number;
  /** Requests in flight at once within one `deliver` call. @default 8 */
  concurrency?: number;
}

interface RecipientResponse {
  messageKey?: unknown;
  errorcode?: unknown;
  message?: unknown;
}

interface SendResponse {
  requestId?: unknown;
  errorcode?: unknown;
  message?: unknown;
  responses?: unknown;
}

/** The single-send path of one messageKey (encoded, case kept). */
export function singlePath(messageKey: string): string {
  return `${TRANSACTIONAL_BATCH_PATH}/${encodeURIComponent(messageKey)}`;
}

/** Builds the transactional target. */
export function createTransactionalTarget(clients: McRestClient | ClientFor, opts: TransactionalTargetOptions = {}): Target<SendPayload> {
  const clientFor = clientLookup(clients);
  const batchSize = Math.max(1, opts.batchSize ?? MAX_RECIPIENTS_WITH_ATTRIBUTES);
  const concurrency = Math.max(1, opts.concurrency ?? 8);

  async function deliverSingle(item: DeliveryItem<SendPayload>): Promise<DeliveryOutcome> {
    const p = item.payload;
    const recipient: Record<string, unknown> = { contactKey: p.contactKey, to: p.address };
    if (Object.keys(p.attributes).length > 0) recipient.attributes = p.attributes;
    try {
      const res = await clientFor(p.mid).post<SendResponse>(singlePath(item.idempotencyKey), { definitionKey: p.definitionKey, recipient });
      const answered = Array.isArray(res.body?.responses) ? (res.body.responses[0] as RecipientResponse | undefined) : undefined;
      return outcomeOf(item, answered ?? { messageKey: item.idempotencyKey }, res.body);
    } catch (err) {
      // A reused key on the single endpoint is a 400 naming 109110: an earlier try got through.
      if (err instanceof PermanentError && isAlreadyAccepted(err.mcErrorCode)) {
        return { id: item.id, status: 'delivered', ids: { messageKey: item.idempotencyKey } };
      }
      return failed(item.id, err);
    }
  }

  async function deliverBatch(chunk: DeliveryItem<SendPayload>[]): Promise<DeliveryOutcome[]> {
    const first = chunk[0]!.payload;
    const recipients = chunk.map((i) => {
      const r: Record<string, unknown> = { contactKey: i.payload.contactKey, to: i.payload.address, messageKey: i.idempotencyKey };
      if (Object.keys(i.payload.attributes).length > 0) r.attributes = i.payload.attributes;
      return r;
    });
    const path = TRANSACTIONAL_BATCH_PATH;
    try {
      // A 400 can still carry per-recipient results; it is read here rather than thrown.
      const res = await clientFor(first.mid).request<SendResponse>(
        'POST',
        path,
        { definitionKey: first.definitionKey, recipients },
        { accept: [400] },
      );
      if (res.status === 400 && !Array.isArray(res.body?.responses)) {
        const error = errorFromResponse('POST', path, res);
        return chunk.map((i) => ({ id: i.id, status: 'dead' as const, error }));
      }
      const byKey = new Map<string, RecipientResponse>();
      for (const r of Array.isArray(res.body?.responses) ? (res.body.responses as RecipientResponse[]) : []) {
        if (r && typeof r.messageKey === 'string') byKey.set(r.messageKey, r);
      }
      return chunk.map((i) => {
        const r = byKey.get(i.idempotencyKey);
        if (r) return outcomeOf(i, r, res.body);
        // Not in the answer: the request may have been refused as a whole. A retry is safe,
        // the messageKey makes Marketing Cloud refuse a second copy.
        return {
          id: i.id,
          status: 'retry' as const,
          error: new TransientError(
            Code.MC_RECIPIENT_UNACCOUNTED,
            `Marketing Cloud's answer (${res.status}) to ${path} does not list messageKey ${i.idempotencyKey}`,
          ),
        };
      });
    } catch (err) {
      return chunk.map((i) => failed(i.id, err));
    }
  }

  return {
    async deliver(items) {
      const byId = new Map<number, DeliveryOutcome>();
      for (const list of groupBy(items, (i) => `${i.mode}\u0000${i.payload.definitionKey}\u0000${i.payload.mid ?? ''}`)) {
        if (list[0]!.mode === 'single') {
          for (const o of await runLimited(list, concurrency, deliverSingle)) byId.set(o.id, o);
          continue;
        }
        const chunks: DeliveryItem<SendPayload>[][] = [];
        let current: DeliveryItem<SendPayload>[] = [];
        let withAttributes = false;
        for (const item of list) {
          const attrs = Object.keys(item.payload.attributes).length > 0;
          const cap = Math.min(batchSize, attrs || withAttributes ? MAX_RECIPIENTS_WITH_ATTRIBUTES : MAX_RECIPIENTS);
          if (current.length >= cap) {
            chunks.push(current);
            current = [];
            withAttributes = false;
          }
          current.push(item);
          withAttributes ||= attrs;
        }
        if (current.length > 0) chunks.push(current);
        for (const outcomes of await runLimited(chunks, concurrency, deliverBatch)) for (const o of outcomes) byId.set(o.id, o);
      }
      return items.map((i) => byId.get(i.id)!);
    },
  };
}

function outcomeOf(item: DeliveryItem<SendPayload>, r: RecipientResponse, body: SendResponse | undefined): DeliveryOutcome {
  const ids: DeliveryIds = { messageKey: item.idempotencyKey };
  if (typeof body?.requestId === 'string') ids.requestId = body.requestId;
  const code = r.errorcode;
  if (code === undefined || code === null || code === 0 || code === '' || isAlreadyAccepted(code)) {
    return { id: item.id, status: 'delivered', ids };
  }
  const message = typeof r.message === 'string' ? r.message.slice(0, 300) : '';
  const mcErrorCode = typeof code === 'number' ? code : String(code);
  return {
    id: item.id,
    status: 'dead',
    error: new PermanentError(
      Code.MC_RECIPIENT_REJECTED,
      `Marketing Cloud refused messageKey ${item.idempotencyKey} for ${item.payload.contactKey} on ${item.payload.definitionKey} (errorcode ${mcErrorCode})${message ? `: ${message}` : ''}`,
      { mcErrorCode },
    ),
  };
}
