/**
 * The classic triggered send target: `POST /messaging/v1/messageDefinitionSends/key:<key>/send`,
 * one recipient per request. The answer is 202 `{requestId, responses: [{recipientSendId,
 * hasErrors, messages}]}`: a recipient with errors is dead with Marketing Cloud's messages; a
 * paused or inactive definition answers 400 (dead). Classic sends have no idempotency key, so
 * an ambiguous failure (reset, timeout) retried can send twice, like a journey entry.
 */
import { PermanentError, Code } from '../../core/errors.ts';
import type { DeliveryIds, SendPayload } from '../../core/model.ts';
import type { McRestClient } from '../mc/http.ts';
import { clientLookup, failed, runLimited, type ClientFor, type DeliveryItem, type DeliveryOutcome, type Target } from '../target.ts';

/** Triggered send target options. */
export interface TriggeredSendTargetOptions {
  /** Requests in flight at once within one `deliver` call. @default 8 */
  concurrency?: number;
}

interface SendAnswer {
  requestId?: unknown;
  responses?: { recipientSendId?: unknown; hasErrors?: unknown; messages?: unknown }[];
}

/** The send path of a definition's external key (encoded, case kept). */
export function triggeredSendPath(key: string): string {
  return `/messaging/v1/messageDefinitionSends/key:${encodeURIComponent(key)}/send`;
}

/** Builds the classic triggered send target. */
export function createTriggeredSendTarget(clients: McRestClient | ClientFor, opts: TriggeredSendTargetOptions = {}): Target<SendPayload> {
  const clientFor = clientLookup(clients);
  const concurrency = Math.max(1, opts.concurrency ?? 8);

  async function deliverOne(item: DeliveryItem<SendPayload>): Promise<DeliveryOutcome> {
    const p = item.payload;
    const to: Record<string, unknown> = { Address: p.address, SubscriberKey: p.contactKey };
    if (Object.keys(p.attributes).length > 0) to.ContactAttributes = { SubscriberAttributes: p.attributes };
    try {
      const res = await clientFor(p.mid).post<SendAnswer>(triggeredSendPath(p.definitionKey), { To: to });
      const ids: DeliveryIds = {};
      if (typeof res.body?.requestId === 'string') ids.requestId = res.body.requestId;
      const first = Array.isArray(res.body?.responses) ? res.body.responses[0] : undefined;
      if (typeof first?.recipientSendId === 'string') ids.recipientSendId = first.recipientSendId;
      if (first?.hasErrors === true) {
        const messages = Array.isArray(first.messages) ? first.messages.map(String).join('; ').slice(0, 300) : '';
        const mcErrorCode = /^(\d+):/.exec(messages)?.[1];
        return {
          id: item.id,
          status: 'dead',
          error: new PermanentError(
            Code.MC_RECIPIENT_REJECTED,
            `Marketing Cloud refused the triggered send ${p.definitionKey} to ${p.contactKey}${messages ? `: ${messages}` : ''}`,
            mcErrorCode ? { mcErrorCode: Number(mcErrorCode) } : {},
          ),
        };
      }
      return { id: item.id, status: 'delivered', ids };
    } catch (err) {
      return failed(item.id, err);
    }
  }

  return {
    async deliver(items) {
      return runLimited(items, concurrency, deliverOne);
    },
  };
}
