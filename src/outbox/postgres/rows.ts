/**
 * How the Postgres store's rows read back: the column list, the database clock that leases are
 * timed on, and the conversions to the contract's row types. Shared by the outbox
 * (`store.ts`) and the history and dead-letter queue queries (`history.ts`).
 */
import type { StoredAction } from '../../core/model.ts';
import { actionRowFrom, type DbActionRowOf, storedFrom } from '../rows.ts';
import type { ActionRow } from '../contract.ts';

/** The database's clock in milliseconds: leases are compared on one clock for the whole fleet. */
export const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/** Columns every action query selects. */
export const COLUMNS = `id, idempotency_key, status, route, target, mode, batch_key, channel, replay_id, record_id, contact_key,
  correlation_id, admin_correlation_id, payload, attempts, error_code, error, request_id, instance_id, message_key, received_at, created_at,
  delivered_at, claimed_by, claimed_until, discarded_at, change_type, request_row`;

/**
 * `claimed_by` of an action waiting for its next attempt (a retry, an accepted request to
 * check): held by no instance, with `claimed_until` its due time, so the claim finds it by
 * that time in the lease index instead of stepping over it in the unclaimed one.
 */
export const WAITING = `''`;

/** True when a row is claimed by a live lease: `trace`, `counts` and `actionsFor` call it in flight. */
export const INFLIGHT = `(status = 'pending' AND claimed_by <> ${WAITING} AND claimed_until IS NOT NULL AND claimed_until > ${DB_NOW})`;

/** An action row as selected with `COLUMNS` (the payload comes back parsed). */
export interface DbActionRow extends DbActionRowOf<unknown> {
  claimed_by: string | null;
  claimed_until: number | null;
  change_type: string | null;
  request_row: number | null;
}

/** The dispatcher's view of a row. */
export function toStored(r: DbActionRow): StoredAction {
  return storedFrom(r, r.payload);
}

/** The contract's view of a row (`inflight` when a live lease holds it). */
export function toActionRow(r: DbActionRow, inflight: boolean): ActionRow {
  return actionRowFrom(r, inflight, r.payload);
}
