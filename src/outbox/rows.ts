/**
 * An outbox row as both engines select it, and the two views made of it: the dispatcher's
 * (`StoredAction`) and the contract's (`ActionRow`). The engines differ only in how the
 * payload comes back (SQLite: JSON text; Postgres: already parsed) and in their extra columns
 * (sqlite/rows.ts, postgres/rows.ts).
 */
import type { ActionTarget, NewAction, NewDeadLetter, StoredAction } from '../core/model.ts';
import type { ActionRow } from './contract.ts';
import { deliveryIdsOf } from './delivery-columns.ts';
import { sourceFacts } from './trace-facts.ts';

/** The columns of an action row both engines have; `P` is how the payload comes back. */
export interface DbActionRowOf<P> {
  id: number;
  idempotency_key: string;
  status: 'pending' | 'delivered' | 'dead';
  route: string;
  target: string | null;
  mode: 'batch' | 'single' | null;
  batch_key: string | null;
  channel: string;
  replay_id: string;
  record_id: string;
  contact_key: string;
  correlation_id: string;
  admin_correlation_id: string | null;
  payload: P;
  attempts: number;
  error_code: string | null;
  error: string | null;
  request_id: string | null;
  instance_id: string | null;
  message_key: string | null;
  received_at: number;
  created_at: number;
  delivered_at: number | null;
  discarded_at: number | null;
}

/** What a claim reads of a row: what `storedFrom` uses. */
export type ClaimedColumns = Pick<
  DbActionRowOf<unknown>,
  | 'id'
  | 'idempotency_key'
  | 'route'
  | 'target'
  | 'mode'
  | 'batch_key'
  | 'channel'
  | 'replay_id'
  | 'record_id'
  | 'contact_key'
  | 'correlation_id'
  | 'admin_correlation_id'
  | 'received_at'
  | 'attempts'
> & { request_id?: string | null; request_row?: number | null };

/** The dispatcher's view of a claimed row, with its payload decoded. */
export function storedFrom(r: ClaimedColumns, payload: unknown): StoredAction {
  const stored: StoredAction = {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    route: r.route,
    target: (r.target ?? 'journey') as ActionTarget,
    mode: r.mode ?? 'batch',
    batchKey: r.batch_key ?? '',
    channel: r.channel,
    replayId: r.replay_id,
    recordId: r.record_id,
    contactKey: r.contact_key,
    correlationId: r.correlation_id,
    ...(r.admin_correlation_id != null ? { adminCorrelationId: r.admin_correlation_id } : {}),
    payload: payload as StoredAction['payload'],
    receivedAt: r.received_at,
    attempts: r.attempts,
  };
  // Only a pending row is claimed, so a request_id here is an accepted request still to confirm.
  if (r.request_id != null && r.request_row != null) stored.confirm = { requestId: r.request_id, row: r.request_row };
  return stored;
}

/** The contract's view of a row, with its payload decoded (`inflight` when it is claimed now). */
export function actionRowFrom(r: DbActionRowOf<unknown>, inflight: boolean, payload: unknown): ActionRow {
  return {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    status: inflight ? 'inflight' : r.status,
    route: r.route,
    target: r.target,
    channel: r.channel,
    replayId: r.replay_id,
    recordId: r.record_id,
    contactKey: r.contact_key,
    correlationId: r.correlation_id,
    adminCorrelationId: r.admin_correlation_id,
    payload,
    attempts: r.attempts,
    errorCode: r.error_code,
    error: r.error,
    deliveryIds: deliveryIdsOf(r),
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
    discardedAt: r.discarded_at,
  };
}

/**
 * The values of a re-derived action's row, in the column order both engines' INSERTs of a
 * replacement list them (idempotency_key … admin_correlation_id, with payload as JSON).
 */
export function replacementValues(n: NewAction, now: number, due: number): (string | number | null)[] {
  return [
    n.idempotencyKey,
    n.route,
    n.target,
    n.mode,
    n.batchKey,
    n.channel,
    n.replayId,
    n.recordId,
    n.contactKey,
    n.correlationId,
    JSON.stringify(n.payload),
    n.receivedAt,
    now,
    due,
    n.changeType ?? null,
    n.adminCorrelationId ?? null,
  ];
}

/**
 * The values of a dead letter's row, in the column order both engines' dead-letter INSERTs list
 * them (idempotency_key … admin_correlation_id, with the source as JSON), dated and typed by the
 * event it came from when that can be read.
 */
export function deadLetterValues(d: NewDeadLetter, now: number): (string | number | null)[] {
  const facts = sourceFacts(d.source);
  return [
    d.idempotencyKey,
    d.route,
    d.channel,
    d.replayId,
    d.recordId,
    d.contactKey,
    d.correlationId,
    JSON.stringify(d.source ?? null),
    d.code,
    d.reason,
    facts.receivedAt ?? now,
    now,
    facts.changeType ?? null,
    d.adminCorrelationId ?? null,
  ];
}
