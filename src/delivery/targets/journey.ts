/**
 * The Journey Builder target: enters contacts into journeys and says, per item, whether
 * Marketing Cloud took it. Batch mode sends `POST /interaction/v1/async/events` with up to 100
 * camelCase members and maps each member's result back by position; single mode sends one
 * `POST /interaction/v1/events` per item. Failures become outcomes through `classify`.
 */
import { PermanentError, Code } from '../../core/errors.ts';
import type { DeliveryIds, JourneyEntryPayload } from '../../core/model.ts';
import type { McRestClient } from '../mc/http.ts';
import {
  clientLookup,
  failed,
  groupBy,
  runLimited,
  type ClientFor,
  type DeliveryItem as TargetItem,
  type DeliveryOutcome,
  type Target as TargetOf,
} from '../target.ts';

/** A journey entry to deliver. */
export type DeliveryItem = TargetItem<JourneyEntryPayload>;
/** The journey target. */
export type Target = TargetOf<JourneyEntryPayload>;
export type { DeliveryOutcome };

/** Journey target options. */
export interface JourneyTargetOptions {
  /** Members per async request; Marketing Cloud refuses more than 100. @default 100 */
  batchSize?: number;
  /** Async requests in flight at once within one `deliver` call. @default 4 */
  batchConcurrency?: number;
  /** Single-contact requests in flight at once within one `deliver` call. @default 8 */
  singleConcurrency?: number;
}

/** Marketing Cloud's cap on members per async request. */
export const MAX_ASYNC_MEMBERS = 100;
/** Batch entry endpoint (the seed document's `/interaction/v1/events/async` is wrong). */
export const ASYNC_EVENTS_PATH = '/interaction/v1/async/events';
/** Single-contact entry endpoint. */
export const SINGLE_EVENT_PATH = '/interaction/v1/events';

interface AsyncMember {
  contactKey?: unknown;
  eventInstanceId?: unknown;
  errorcode?: unknown;
  message?: unknown;
}

interface AsyncResponse {
  requestId?: unknown;
  count?: unknown;
  notQueuedCount?: unknown;
  members?: unknown;
}

/** Builds the journey target on a REST client (or one client per business unit MID). */
export function createJourneyTarget(clients: McRestClient | ClientFor, opts: JourneyTargetOptions = {}): Target {
  const clientFor = clientLookup(clients);
  const batchSize = Math.min(MAX_ASYNC_MEMBERS, Math.max(1, opts.batchSize ?? MAX_ASYNC_MEMBERS));
  const batchConcurrency = Math.max(1, opts.batchConcurrency ?? 4);
  const singleConcurrency = Math.max(1, opts.singleConcurrency ?? 8);

  async function deliverBatch(key: string, chunk: DeliveryItem[]): Promise<DeliveryOutcome[]> {
    const members = chunk.map((i) => ({ contactKey: i.payload.contactKey, data: i.payload.data }));
    try {
      const res = await clientFor(chunk[0]!.payload.mid).post<AsyncResponse>(ASYNC_EVENTS_PATH, { eventDefinitionKey: key, members });
      return mapMembers(chunk, res.body);
    } catch (err) {
      return chunk.map((i) => failed(i.id, err));
    }
  }

  async function deliverSingle(item: DeliveryItem): Promise<DeliveryOutcome> {
    const { contactKey, eventDefinitionKey, data, mid } = item.payload;
    try {
      const res = await clientFor(mid).post<{ eventInstanceId?: unknown }>(SINGLE_EVENT_PATH, {
        ContactKey: contactKey,
        EventDefinitionKey: eventDefinitionKey,
        Data: data,
      });
      const ids: DeliveryIds = {};
      if (typeof res.body?.eventInstanceId === 'string') ids.eventInstanceId = res.body.eventInstanceId;
      return { id: item.id, status: 'delivered', ids };
    } catch (err) {
      return failed(item.id, err);
    }
  }

  return {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      // Callers are meant to send one key, MID and mode; grouping anyway keeps a mixed call correct.
      const groups = groupBy(items, (i) => `${i.mode}\u0000${i.payload.eventDefinitionKey}\u0000${i.payload.mid ?? ''}`);
      const byId = new Map<number, DeliveryOutcome>();
      for (const list of groups) {
        const first = list[0]!;
        if (first.mode === 'single') {
          const outcomes = await runLimited(list, singleConcurrency, deliverSingle);
          for (const o of outcomes) byId.set(o.id, o);
        } else {
          const chunks: DeliveryItem[][] = [];
          for (let i = 0; i < list.length; i += batchSize) chunks.push(list.slice(i, i + batchSize));
          const results = await runLimited(chunks, batchConcurrency, (chunk) => deliverBatch(first.payload.eventDefinitionKey, chunk));
          for (const outcomes of results) for (const o of outcomes) byId.set(o.id, o);
        }
      }
      return items.map((i) => byId.get(i.id)!);
    },
  };
}

/**
 * Maps an async response's members back to the items. The docs promise request order; when the
 * answer does not line up (length or contact keys differ) we fall back to matching by contact
 * key, first unused first, so a surprising answer never credits one contact with another's result.
 */
export function mapMembers(chunk: readonly DeliveryItem[], body: AsyncResponse | undefined): DeliveryOutcome[] {
  const requestId = typeof body?.requestId === 'string' ? body.requestId : undefined;
  const members: AsyncMember[] = Array.isArray(body?.members) ? (body.members as AsyncMember[]) : [];
  const aligned = members.length === chunk.length && chunk.every((item, i) => members[i]?.contactKey === item.payload.contactKey);
  const pending = new Map<unknown, AsyncMember[]>();
  if (!aligned) {
    for (const m of members) {
      const list = pending.get(m?.contactKey);
      if (list) list.push(m);
      else pending.set(m?.contactKey, [m]);
    }
  }
  const allQueued = body?.notQueuedCount === 0;
  return chunk.map((item, i): DeliveryOutcome => {
    const member = aligned ? members[i] : pending.get(item.payload.contactKey)?.shift();
    const ids: DeliveryIds = {};
    if (requestId !== undefined) ids.requestId = requestId;
    if (!member) {
      // Accepted request, but this contact is not in the answer: only safe to call it
      // delivered when Marketing Cloud says nothing was left unqueued.
      if (allQueued) return { id: item.id, status: 'delivered', ids };
      return {
        id: item.id,
        status: 'dead',
        error: new PermanentError(
          Code.MC_MEMBER_UNACCOUNTED,
          `Marketing Cloud's answer to request ${requestId ?? '(no requestId)'} does not list contact ${item.payload.contactKey} and reports ${String(body?.notQueuedCount)} members not queued; check the async status endpoint before retrying`,
        ),
      };
    }
    const errorcode = member.errorcode;
    if (errorcode !== undefined && errorcode !== null && errorcode !== '') {
      const message = typeof member.message === 'string' ? member.message.slice(0, 300) : '';
      const mcErrorCode = typeof errorcode === 'number' ? errorcode : String(errorcode);
      return {
        id: item.id,
        status: 'dead',
        error: new PermanentError(
          Code.MC_MEMBER_REJECTED,
          `Marketing Cloud refused contact ${item.payload.contactKey} for ${item.payload.eventDefinitionKey} (errorcode ${mcErrorCode})${message ? `: ${message}` : ''}`,
          { mcErrorCode },
        ),
      };
    }
    if (typeof member.eventInstanceId === 'string') ids.eventInstanceId = member.eventInstanceId;
    return { id: item.id, status: 'delivered', ids };
  });
}
