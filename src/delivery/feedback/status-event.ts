/**
 * The delivery status event: what `MC_Delivery_Status__e` carries about one settled action,
 * built from the outbox row and its outcome when the dispatcher records it (so it is committed
 * in the same transaction). Pure. Nothing here may carry personal data: the reason is masked
 * (e-mail addresses, phone numbers) and cut to the field's 255 characters, and the address or
 * attributes of a send are never copied.
 */
import { maskPersonal } from '../../core/log.ts';
import type { DeliveryIds, NewDeadLetter, StoredAction } from '../../core/model.ts';

/** The platform event the bridge publishes, and the channel it must never subscribe to. */
export const STATUS_EVENT = 'MC_Delivery_Status__e';
export const STATUS_CHANNEL = `/event/${STATUS_EVENT}`;

/** The fields of one status event, as force-app defines them. */
export type StatusEvent = {
  Record_Id__c: string | null;
  Route__c: string;
  Target_Type__c: string;
  Target_Key__c: string | null;
  Status__c: 'Delivered' | 'Failed' | 'Target Problem';
  MC_Request_Id__c: string | null;
  MC_Message_Id__c: string | null;
  Error_Code__c: string | null;
  Error_Reason__c: string | null;
  Correlation_Id__c: string | null;
  Attempts__c: number;
  Settled_At__c: string;
  Status_Key__c: string;
};

/** Every field the bridge sets (`check` verifies force-app defines each). */
export const STATUS_FIELDS: readonly (keyof StatusEvent)[] = [
  'Record_Id__c',
  'Route__c',
  'Target_Type__c',
  'Target_Key__c',
  'Status__c',
  'MC_Request_Id__c',
  'MC_Message_Id__c',
  'Error_Code__c',
  'Error_Reason__c',
  'Correlation_Id__c',
  'Attempts__c',
  'Settled_At__c',
  'Status_Key__c',
];

const TEXT_MAX = 255;
const cut = (s: string | null | undefined, max = TEXT_MAX): string | null =>
  s === undefined || s === null || s === '' ? null : s.length > max ? `${s.slice(0, max - 1)}…` : s;

/** The definition an action went to (none for a deletion). */
function targetKeyOf(a: StoredAction): string | null {
  const p = a.payload as { eventDefinitionKey?: string; definitionKey?: string; key?: string };
  return cut(p.eventDefinitionKey ?? p.definitionKey ?? p.key ?? null);
}

/** Marketing Cloud's own identifier of this one action. */
function messageIdOf(ids: DeliveryIds | undefined): string | null {
  return cut(ids?.eventInstanceId ?? ids?.messageKey ?? ids?.recipientSendId ?? ids?.operationId ?? null);
}

/** The status event of an action that settled now: delivered with `ids`, or failed with `code` and `reason`. */
export function statusEventOf(
  a: StoredAction,
  outcome: { status: 'delivered'; ids: DeliveryIds } | { status: 'dead'; code: string; reason: string },
  at: number,
): StatusEvent {
  const attempts = a.attempts + 1;
  const delivered = outcome.status === 'delivered';
  return {
    Record_Id__c: a.recordId,
    Route__c: cut(a.route, 64)!,
    Target_Type__c: a.target,
    Target_Key__c: targetKeyOf(a),
    Status__c: delivered ? 'Delivered' : 'Failed',
    MC_Request_Id__c: delivered ? cut(outcome.ids.requestId) : null,
    MC_Message_Id__c: delivered ? messageIdOf(outcome.ids) : null,
    Error_Code__c: delivered ? null : cut(outcome.code, 80),
    Error_Reason__c: delivered ? null : cut(maskPersonal(outcome.reason)),
    Correlation_Id__c: cut(a.correlationId)!,
    Attempts__c: attempts,
    Settled_At__c: new Date(at).toISOString(),
    // One per settlement: a dead letter retried and delivered gets a second, different key.
    Status_Key__c: cut(`${a.idempotencyKey}#${attempts}:${delivered ? 'D' : 'F'}`)!,
  };
}

/** The status event of something dead-lettered before delivery (bad input, a failed mapping). */
export function statusEventOfDeadLetter(d: NewDeadLetter, at: number): StatusEvent {
  return {
    Record_Id__c: d.recordId,
    Route__c: cut(d.route, 64)!,
    Target_Type__c: 'none',
    Target_Key__c: null,
    Status__c: 'Failed',
    MC_Request_Id__c: null,
    MC_Message_Id__c: null,
    Error_Code__c: cut(d.code, 80),
    Error_Reason__c: cut(maskPersonal(d.reason)),
    Correlation_Id__c: cut(d.correlationId)!,
    Attempts__c: 0,
    Settled_At__c: new Date(at).toISOString(),
    Status_Key__c: cut(`${d.idempotencyKey}#0:F`)!,
  };
}

/**
 * The status event of a target the probe found unusable, for each route with feedback that sends
 * to it: no record, Status "Target Problem", the probe's code and reason. A Flow can tell an
 * admin before the first send to it is refused.
 */
export function statusEventOfTarget(route: string, v: { kind: string; key: string; state: string; detail: string }, at: number): StatusEvent {
  const code = v.state === 'inactive' ? 'MC_DEFINITION_INACTIVE' : v.state === 'misnamed' ? 'MC_DEFINITION_MISNAMED' : 'MC_DEFINITION_MISSING';
  return {
    Record_Id__c: null,
    Route__c: cut(route, 64)!,
    Target_Type__c: v.kind,
    Target_Key__c: cut(v.key),
    Status__c: 'Target Problem',
    MC_Request_Id__c: null,
    MC_Message_Id__c: null,
    Error_Code__c: code,
    Error_Reason__c: cut(maskPersonal(v.detail)),
    Correlation_Id__c: null,
    Attempts__c: 0,
    Settled_At__c: new Date(at).toISOString(),
    Status_Key__c: cut(`target:${route}:${v.key}:${v.state}:${at}`)!,
  };
}
