/**
 * The pipeline's data types: what a subscriber hands over, what normalize produces, what a
 * mapper returns and what the outbox stores. Every stage speaks these and nothing else.
 */

/** CDC change types as Salesforce sends them. */
export const CHANGE_TYPES = [
  'CREATE',
  'UPDATE',
  'DELETE',
  'UNDELETE',
  'GAP_CREATE',
  'GAP_UPDATE',
  'GAP_DELETE',
  'GAP_UNDELETE',
  'GAP_OVERFLOW',
] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** One data message as a subscriber received it, before any interpretation. */
export interface RawEvent {
  /** Bayeux channel or Pub/Sub topic, e.g. `/data/ContactChangeEvent`. */
  channel: string;
  /** Opaque replay ID in text form (CometD: the decimal number; Pub/Sub: base64 bytes). */
  replayId: string;
  /** The message's `data` object as received (`{schema, event, payload}` on CometD). */
  data: unknown;
  /** Milliseconds since the epoch when the subscriber got it. */
  receivedAt: number;
}

/** Correlation fields every log line and stored row about one record carries. */
export interface Correlation {
  correlationId: string;
  channel: string;
  replayId: string;
  recordId: string;
  contactKey: string;
  /** The admin's own ID from the event's `Correlation_Id__c` (see ADMIN_CORRELATION_FIELD), when given. */
  adminCorrelationId?: string;
}

/**
 * The platform event field an admin fills with an ID of their own (a Flow interview GUID, an
 * order number) to find the entry again: logged and traced beside the bridge's `correlationId`.
 */
export const ADMIN_CORRELATION_FIELD = 'Correlation_Id__c';

/** One record's change (or one platform event), after fan-out and flattening. */
export interface NormalizedEvent {
  /** Deterministic: the same event always gets the same ID (see `correlationIdOf`). */
  correlationId: string;
  /** Platform events: the admin's own ID from `Correlation_Id__c`, when given. */
  adminCorrelationId?: string;
  channel: string;
  replayId: string;
  kind: 'change' | 'platform';
  /** SObject name (`Contact`) or platform event API name (`MC_Journey_Entry__e`). */
  entityName: string;
  /** CDC change type; `EVENT` for a platform event. */
  changeType: ChangeType | 'EVENT';
  /** The record's 18-character ID; empty for GAP_OVERFLOW and wildcard IDs. */
  recordId: string;
  /** Contact Key: the 18-character record ID. */
  contactKey: string;
  transactionKey?: string;
  sequenceNumber?: number;
  commitTimestamp?: number;
  /** Kept as text: it can exceed Number.MAX_SAFE_INTEGER. */
  commitNumber?: string;
  commitUser?: string;
  changeOrigin?: string;
  /** Platform events (API 52.0+). */
  eventUuid?: string;
  /** Platform events: the payload's CreatedDate in ms (the idempotency key's time). */
  publishedAt?: number;
  /**
   * Changed fields as Salesforce names them (`Name.LastName`) and flattened
   * (`LastName`); both forms are present so routes may use either.
   */
  changedFields: string[];
  /** Fields listed as changed but absent from the payload: they were set to null. */
  nulledFields: string[];
  /**
   * Field values, flattened: compound parts appear under their own field names
   * (`LastName`, `BillingStreet`) and also nested under the compound name (`Name`).
   */
  fields: Record<string, unknown>;
  /** When the subscriber received the message (ms since epoch). */
  receivedAt: number;
}

/** A Journey Builder entry event. */
export interface JourneyEntryPayload {
  eventDefinitionKey: string;
  contactKey: string;
  data: Record<string, unknown>;
  /** Business unit MID whose token delivers it; the configured account when absent. */
  mid?: string;
}

/** One e-mail send (classic triggered send or Transactional Messaging API). */
export interface SendPayload {
  /** Triggered send definition external key, or transactional send definition key. */
  definitionKey: string;
  contactKey: string;
  /** The recipient's e-mail address. */
  address: string;
  /** Subscriber attributes (triggered) or recipient attributes (transactional). */
  attributes: Record<string, unknown>;
  /** Business unit MID whose token delivers it; the configured account when absent. */
  mid?: string;
}

/**
 * One row upserted into a data extension. `version` orders changes to the same row: the CDC
 * commitTimestamp (or the record's SystemModstamp in a backfill), so the newest change wins.
 */
export interface DataExtensionRowPayload {
  /** The data extension's external key. */
  key: string;
  contactKey: string;
  /** Column → value, already formatted for the column's type. */
  row: Record<string, string | number | boolean | null>;
  /** Primary key columns, in the data extension's order. */
  primaryKey: string[];
  /** The record's version in ms: later versions overwrite earlier ones, never the reverse. */
  version: number;
  /** Business unit MID whose token delivers it; the configured account when absent. */
  mid?: string;
}

/** A contact to delete from Marketing Cloud (Contact Delete, by Contact Key). */
export interface ContactDeletePayload {
  contactKey: string;
  /** Business unit MID whose token deletes it (deletion is enterprise-wide); the configured account when absent. */
  mid?: string;
}

/** What a route asks Marketing Cloud to do. */
export const ACTION_TARGETS = ['journey', 'triggeredSend', 'transactional', 'dataExtension', 'contactDelete'] as const;
export type ActionTarget = (typeof ACTION_TARGETS)[number];

/** What an action carries, by target. */
export type ActionPayload = JourneyEntryPayload | SendPayload | DataExtensionRowPayload | ContactDeletePayload;

/**
 * A mapper's output: one Marketing Cloud action, not yet keyed or stored. Journeys: `batch`
 * goes through `/interaction/v1/async/events`, `single` through `/interaction/v1/events`.
 * Transactional: `batch` through `/messaging/v1/email/messages`, `single` through
 * `/messaging/v1/email/messages/<messageKey>`. Triggered sends are always `single`.
 */
export type MappedAction =
  | { target: 'journey'; mode: 'batch' | 'single'; payload: JourneyEntryPayload }
  | { target: 'transactional'; mode: 'batch' | 'single'; payload: SendPayload }
  | { target: 'triggeredSend'; mode: 'single'; payload: SendPayload }
  /** Data extension rows: `batch` = async upsert (`/data/v1/async/...`), `single` = sync rowset (`/hub/v1/dataevents/...`). */
  | { target: 'dataExtension'; mode: 'batch' | 'single'; payload: DataExtensionRowPayload }
  | { target: 'contactDelete'; mode: 'batch'; payload: ContactDeletePayload };

/** An action ready for the outbox. */
export interface NewAction extends Correlation {
  /** Deterministic; the store refuses a key twice. */
  idempotencyKey: string;
  route: string;
  target: ActionTarget;
  mode: 'batch' | 'single';
  /** Grouping key for batching (the definition key, and the MID when one is set). */
  batchKey: string;
  payload: ActionPayload;
  /** When the event was received, for latency figures. */
  receivedAt: number;
  /** The event's CDC change type (`EVENT` for a platform event), for `trace`. */
  changeType?: string;
}

/** Something that could not become an action; it is stored as a dead letter, never dropped. */
export interface NewDeadLetter {
  idempotencyKey: string;
  channel: string;
  replayId: string;
  route: string;
  recordId: string;
  contactKey: string;
  correlationId: string;
  /** The admin's own ID from the event's `Correlation_Id__c`, when given. */
  adminCorrelationId?: string;
  /** Stable error code, e.g. `MAPPING_MISSING_FIELD`. */
  code: string;
  /** Human reason naming the field and value. */
  reason: string;
  /** The event (or raw message) it came from, for retry and inspection. */
  source: unknown;
  /** Its delivery status event when its route has feedback on: stored with it, published later. */
  feedback?: Readonly<Record<string, string | number | null>>;
}

/** An accepted asynchronous request whose outcome is not known yet (data extension rows). */
export interface PendingConfirmation {
  requestId: string;
  /** The item's position in that request's rows (results are reported per row, in order). */
  row: number;
}

/** An outbox row as the dispatcher sees it. */
export interface StoredAction extends NewAction {
  id: number;
  attempts: number;
  /** Set while Marketing Cloud accepted the action but has not said it was written. */
  confirm?: PendingConfirmation;
}

/** What Marketing Cloud returned for a delivered action. */
export interface DeliveryIds {
  requestId?: string;
  eventInstanceId?: string;
  messageKey?: string;
  /** Classic triggered send's per-recipient ID. */
  recipientSendId?: string;
  /** Contact Delete's OperationID, followed through the delete status call. */
  operationId?: string;
}
