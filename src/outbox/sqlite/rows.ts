/**
 * How the embedded store's rows read back and how dead letters are written: the column lists,
 * the row shapes, and the conversions to the contract's row types. Shared by the outbox
 * (`store.ts`) and the history and dead-letter queue queries (`history.ts`).
 */
import type { StatementSync } from 'node:sqlite';
import type { NewDeadLetter, StoredAction } from '../../core/model.ts';
import type { ActionRow, TraceAttempt } from '../contract.ts';
import { actionRowFrom, type ClaimedColumns, type DbActionRowOf, deadLetterValues, storedFrom } from '../rows.ts';

/** An action row as selected with `COLUMNS` (the payload comes back as JSON text). */
export type DbActionRow = DbActionRowOf<string>;

/** An action row with the change type `trace` shows. */
export interface DbTraceRow extends DbActionRow {
  change_type: string | null;
}

/** One row of the attempts table. */
export interface DbAttemptRow {
  action_id: number;
  at: number;
  outcome: TraceAttempt['outcome'];
  code: string | null;
  detail: string | null;
}

/** Columns every action query selects. */
export const COLUMNS = `id, idempotency_key, status, route, target, mode, batch_key, channel, replay_id, record_id, contact_key,
  correlation_id, admin_correlation_id, payload, attempts, error_code, error, request_id, instance_id, message_key, received_at, created_at,
  delivered_at, discarded_at`;

/** What a claim reads: the columns `toStored` uses, no more (claims read thousands of rows a second). */
export const CLAIM_COLUMNS = `id, idempotency_key, route, target, mode, batch_key, channel, replay_id, record_id, contact_key,
  correlation_id, admin_correlation_id, payload, received_at, attempts, request_id, request_row`;

/** Inserts a dead letter; a key already stored is refused (no change). */
export const INSERT_DEAD = `INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id,
  contact_key, correlation_id, payload, error_code, error, received_at, created_at, change_type, admin_correlation_id)
  VALUES (?, 'dead', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`;

/** Runs `INSERT_DEAD` for one dead letter; true when it was stored. */
export function insertDeadLetter(insert: StatementSync, d: NewDeadLetter, now: number): boolean {
  return insert.run(...deadLetterValues(d, now)).changes > 0;
}

/** The dispatcher's view of a row. */
export function toStored(r: ClaimedColumns & { payload: string }): StoredAction {
  return storedFrom(r, JSON.parse(r.payload));
}

/** The contract's view of a row (`inflight` when this process has it claimed). */
export function toActionRow(r: DbActionRow, inflight: boolean): ActionRow {
  return actionRowFrom(r, inflight, JSON.parse(r.payload));
}
