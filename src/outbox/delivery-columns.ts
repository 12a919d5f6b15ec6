/**
 * How Marketing Cloud's identifiers of a delivery sit in the outbox columns, for both stores:
 * a triggered send's recipientSendId and a contact deletion's operationId share the instance
 * column with a journey's eventInstanceId, since an action has only one of them.
 */
import type { DeliveryIds } from '../core/model.ts';

/** The outbox columns a delivered action's identifiers are stored in. */
export interface DeliveryColumns {
  request_id: string | null;
  instance_id: string | null;
  message_key: string | null;
}

/** The column values for a delivered action's identifiers. */
export function deliveryColumns(ids: DeliveryIds): DeliveryColumns {
  return {
    request_id: ids.requestId ?? null,
    instance_id: ids.eventInstanceId ?? ids.recipientSendId ?? ids.operationId ?? null,
    message_key: ids.messageKey ?? null,
  };
}

/** The identifiers stored in a row's columns, or null when it has none. */
export function deliveryIdsOf(r: DeliveryColumns & { target: string | null }): DeliveryIds | null {
  const ids: DeliveryIds = {};
  if (r.request_id) ids.requestId = r.request_id;
  if (r.instance_id) {
    if (r.target === 'triggeredSend') ids.recipientSendId = r.instance_id;
    else if (r.target === 'contactDelete') ids.operationId = r.instance_id;
    else ids.eventInstanceId = r.instance_id;
  }
  if (r.message_key) ids.messageKey = r.message_key;
  return Object.keys(ids).length > 0 ? ids : null;
}
