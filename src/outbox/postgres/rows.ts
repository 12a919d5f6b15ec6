/**
 * How the Postgres store's rows read back: the column list, the database clock that leases are
 * timed on, and the conversions to the contract's row types. Shared by the outbox
 * (`store.ts`) and the history and dead-letter queue queries (`history.ts`).
 */
import { deliveryIdsOf } from '../delivery-columns.ts';
import type { ActionTarget, StoredAction } from '../../core/model.ts';
import type { ActionRow } from '../contract.ts';

/** The database's clock in milliseconds: leases are compared on one clock for the whole fleet. */
export const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/** Columns every action query selects. */
export const COLUMNS = `id, idempotency_key, status, route, target, mode, batch_key, channel, replay_id, record_id, contact_key,
  correlation_id, admin_correlation_id, payload, attempts, error_code, error, request_id, instance_id, message_key, received_at, created_at,
  delivered_at, claimed_by, claimed_until, discarded_at, change_type, request_row`;

/** True when a row is claimed by a live lease: `trace`, `counts` and `actionsFor` call it in flight. */
export const INFLIGHT = `(status = 'pending' AND claimed_until IS NOT NULL AND claimed_until > ${DB_NOW})`;

/** An action row as selected with `COLUMNS`. */
export interface DbActionRow {
  id: number; idempotency_key: string; status: 'pending' | 'delivered' | 'dead'; route: string; target: string | null;
  mode: 'batch' | 'single' | null; batch_key: string | null; channel: string; replay_id: string;
  record_id: string; contact_key: string; correlation_id: string; admin_correlation_id: string | null; payload: unknown; attempts: number;
  error_code: string | null; error: string | null; request_id: string | null; instance_id: string | null;
  message_key: string | null; received_at: number; created_at: number; delivered_at: number | null;
  claimed_by: string | null; claimed_until: number | null; discarded_at: number | null; change_type: string | null;
  request_row: number | null;
}

/** The dispatcher's view of a row. */
export function toStored(r: DbActionRow): StoredAction {
  const stored: StoredAction = {
    id: r.id, idempotencyKey: r.idempotency_key, route: r.route, target: (r.target ?? 'journey') as ActionTarget,
    mode: r.mode ?? 'batch', batchKey: r.batch_key ?? '', channel: r.channel, replayId: r.replay_id,
    recordId: r.record_id, contactKey: r.contact_key, correlationId: r.correlation_id,
    ...(r.admin_correlation_id !== null ? { adminCorrelationId: r.admin_correlation_id } : {}),
    payload: r.payload as StoredAction['payload'], receivedAt: r.received_at, attempts: r.attempts,
  };
  // Only pending rows are claimed: a request_id here is an accepted request still to confirm.
  if (r.request_id !== null && r.request_row !== null) stored.confirm = { requestId: r.request_id, row: r.request_row };
  return stored;
}

/** The contract's view of a row (`inflight` when a live lease holds it). */
export function toActionRow(r: DbActionRow, inflight: boolean): ActionRow {
  return {
    id: r.id, idempotencyKey: r.idempotency_key, status: inflight ? 'inflight' : r.status, route: r.route, target: r.target,
    channel: r.channel, replayId: r.replay_id, recordId: r.record_id, contactKey: r.contact_key,
    correlationId: r.correlation_id, adminCorrelationId: r.admin_correlation_id, payload: r.payload, attempts: r.attempts,
    errorCode: r.error_code, error: r.error, deliveryIds: deliveryIdsOf(r),
    createdAt: r.created_at, deliveredAt: r.delivered_at, discardedAt: r.discarded_at,
  };
}
