/**
 * The Postgres store's history side: a record's timeline (`trace`), the dead-letter queue
 * (list, requeue, discard, re-derive) and an action's attempt history. Same semantics as the
 * embedded store's (what a re-derived dead letter becomes is decided once, in
 * ../replacement.ts); what sharing adds is that a dead letter made pending again has no claim
 * left on it, so whichever instance asks first delivers it (in its contact's order, see the
 * claim in `store.ts`).
 */
import type pg from 'pg';
import type { Queries } from './transient.ts';
import type { NewAction, NewDeadLetter } from '../../core/model.ts';
import { deliveryIdsOf } from '../delivery-columns.ts';
import { COLUMNS, type DbActionRow, INFLIGHT, toActionRow } from './rows.ts';
import { deadLetterValues, replacementValues } from '../rows.ts';
import type { ActionRow, AttemptRow, DeadLetterFilter, ReplaceResult, TraceAttempt, TraceEntry } from '../contract.ts';
import { notInQueue, replacementEnding, sortReplacement } from '../replacement.ts';
import { traceEntryOf } from '../trace-facts.ts';

/** What the history queries need from the store. */
export interface PgHistoryAccess {
  /** Autocommit queries (tried again after a transient error). */
  pool: Queries;
  /** Names this instance in the attempt rows it writes. */
  instanceId: string;
  transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Tells the other instances that actions became pending (requeued, replaced). */
  workAdded(): Promise<void>;
}

type Row = DbActionRow & { inflight: boolean };
interface DbAttempt {
  action_id: number;
  at: number;
  outcome: TraceAttempt['outcome'];
  code: string | null;
  detail: string | null;
}

/** Every action and dead letter of one record or contact key, oldest first, with its attempts. */
export async function traceOf(db: PgHistoryAccess, key: string): Promise<TraceEntry[]> {
  // A mapper may key a contact other than the record: the second part finds those rows through
  // the partial index on contact_key (migration 2); the third, an admin's correlation ID
  // (migration 6). The parts never share a row.
  const { rows } = await db.pool.query<Row>(
    `SELECT ${COLUMNS}, ${INFLIGHT} AS inflight FROM actions WHERE record_id = $1
    UNION ALL SELECT ${COLUMNS}, ${INFLIGHT} AS inflight FROM actions WHERE contact_key = $1 AND contact_key <> record_id
    UNION ALL SELECT ${COLUMNS}, ${INFLIGHT} AS inflight FROM actions WHERE admin_correlation_id = $1 AND record_id <> $1 AND contact_key <> $1
    ORDER BY id`,
    [key],
  );
  if (rows.length === 0) return [];
  const history = await db.pool.query<DbAttempt>(
    `SELECT action_id, at, outcome, code, detail FROM attempts
    WHERE action_id = ANY($1::bigint[]) ORDER BY action_id, seq`,
    [rows.map((r) => r.id)],
  );
  const byAction = new Map<number, DbAttempt[]>();
  for (const a of history.rows) {
    const list = byAction.get(a.action_id);
    if (list) list.push(a);
    else byAction.set(a.action_id, [a]);
  }
  return rows.map((r) => traceEntryOf(r, r.inflight ? 'inflight' : r.status, deliveryIdsOf(r), byAction.get(r.id) ?? []));
}

/** Dead letters, oldest first. */
export async function deadLettersOf(db: PgHistoryAccess, filter: DeadLetterFilter): Promise<ActionRow[]> {
  const where = [`status = 'dead'`];
  const args: unknown[] = [];
  if (!filter.includeDiscarded) where.push('discarded_at IS NULL');
  if (filter.route !== undefined) {
    args.push(filter.route);
    where.push(`route = $${args.length}`);
  }
  if (filter.ids !== undefined) {
    if (filter.ids.length === 0) return [];
    args.push(filter.ids);
    where.push(`id = ANY($${args.length}::bigint[])`);
  }
  args.push(filter.limit ?? 1000);
  const { rows } = await db.pool.query<DbActionRow>(
    `SELECT ${COLUMNS} FROM actions WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${args.length}`,
    args,
  );
  return rows.map((r) => toActionRow(r, false));
}

/** Makes deliverable dead letters pending and due at `now`, unclaimed; returns the IDs requeued, in the order asked. */
export async function requeueDead(db: PgHistoryAccess, ids: readonly number[], now: number): Promise<number[]> {
  if (ids.length === 0) return [];
  // One statement: the old attempt count and error are read from the snapshot the update starts from.
  const { rows } = await db.pool.query<{ action_id: number }>(
    `WITH before AS (
      SELECT id, attempts, error_code, error FROM actions
      WHERE id = ANY($1::bigint[]) AND status = 'dead' AND discarded_at IS NULL AND target IS NOT NULL FOR UPDATE),
    u AS (
      UPDATE actions a SET status = 'pending', attempts = 0, next_attempt_at = $2, error_code = NULL, error = NULL,
        claimed_by = NULL, claimed_until = NULL, request_id = NULL, request_row = NULL
      FROM before b WHERE a.id = b.id RETURNING a.id)
    INSERT INTO attempts (action_id, at, outcome, code, detail, instance)
      SELECT b.id, $3, 'requeued', b.error_code, 'requeued after ' || b.attempts || ' attempts; last error: ' || coalesce(b.error, 'none'), $4
      FROM before b JOIN u ON u.id = b.id ORDER BY b.id
    RETURNING action_id`,
    [ids, Math.max(1, now), now, db.instanceId],
  );
  if (rows.length > 0) await db.workAdded();
  return inOrderAsked(
    ids,
    rows.map((r) => r.action_id),
  );
}

/** Takes dead letters out of the queue, keeping row and history; returns the IDs discarded, in the order asked. */
export async function discardDead(db: PgHistoryAccess, ids: readonly number[], now: number, note: string): Promise<number[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.pool.query<{ action_id: number }>(
    `WITH u AS (
      UPDATE actions SET discarded_at = $2 WHERE id = ANY($1::bigint[]) AND status = 'dead' AND discarded_at IS NULL RETURNING id)
    INSERT INTO attempts (action_id, at, outcome, code, detail, instance)
      SELECT id, $2, 'discarded', NULL, $3, $4 FROM u ORDER BY id
    RETURNING action_id`,
    [ids, now, note, db.instanceId],
  );
  return inOrderAsked(
    ids,
    rows.map((r) => r.action_id),
  );
}

/** Replaces a dead letter made before delivery with what re-running its planning made (see `Store.replaceDeadLetter`). */
export async function replaceDead(
  db: PgHistoryAccess,
  id: number,
  actions: readonly NewAction[],
  deadLetters: readonly NewDeadLetter[],
  now: number,
): Promise<ReplaceResult> {
  const result = await db.transaction(async (c) => {
    const { rows } = await c.query<{ idempotency_key: string }>(
      `SELECT idempotency_key FROM actions WHERE id = $1 AND status = 'dead' AND discarded_at IS NULL FOR UPDATE`,
      [id],
    );
    const key = rows[0]?.idempotency_key;
    if (key === undefined) throw notInQueue(id);
    const plan = sortReplacement(key, actions, deadLetters);
    const due = Math.max(1, now);
    const a = plan.takeover;
    if (a) {
      await c.query(
        `UPDATE actions SET status = 'pending', target = $1, mode = $2, batch_key = $3, payload = $4::json, contact_key = $5,
          attempts = 0, next_attempt_at = $6, error_code = NULL, error = NULL, claimed_by = NULL, claimed_until = NULL,
          change_type = coalesce($7, change_type)
        WHERE id = $8`,
        [a.target, a.mode, a.batchKey, JSON.stringify(a.payload), a.contactKey, due, a.changeType ?? null, id],
      );
    }
    let inserted = 0;
    for (const n of plan.actions) {
      const r = await c.query(
        `INSERT INTO actions (idempotency_key, status, route, target, mode, batch_key, channel, replay_id,
          record_id, contact_key, correlation_id, payload, received_at, created_at, next_attempt_at, change_type, admin_correlation_id)
        VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::json, $12, $13, $14, $15, $16)
        ON CONFLICT (idempotency_key) DO NOTHING`,
        replacementValues(n, now, due),
      );
      inserted += r.rowCount ?? 0;
    }
    let deadLettered = 0;
    for (const d of plan.deadLetters) {
      const r = await c.query(
        `INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key,
          correlation_id, payload, error_code, error, received_at, created_at, change_type, admin_correlation_id)
        VALUES ($1, 'dead', $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (idempotency_key) DO NOTHING`,
        deadLetterValues(d, now),
      );
      deadLettered += r.rowCount ?? 0;
    }
    const ending = replacementEnding(plan, inserted, deadLettered);
    if (ending.row === 'still-dead')
      await c.query('UPDATE actions SET error_code = $1, error = $2 WHERE id = $3', [plan.sameFailure!.code, plan.sameFailure!.reason, id]);
    else if (ending.row === 'discarded') await c.query('UPDATE actions SET discarded_at = $1 WHERE id = $2', [now, id]);
    await c.query('INSERT INTO attempts (action_id, at, outcome, code, detail, instance) VALUES ($1, $2, $3, $4, $5, $6)', [
      id,
      now,
      ending.history.outcome,
      ending.history.code,
      ending.history.detail,
      db.instanceId,
    ]);
    return ending.result;
  });
  await db.workAdded();
  return result;
}

/** An action's history, oldest first. */
export async function attemptsOfAction(db: PgHistoryAccess, id: number): Promise<AttemptRow[]> {
  const { rows } = await db.pool.query<AttemptRow>('SELECT at, outcome, code, detail FROM attempts WHERE action_id = $1 ORDER BY seq', [id]);
  return rows;
}

/** The IDs done, in the order they were asked for, each once. */
function inOrderAsked(asked: readonly number[], done: readonly number[]): number[] {
  const set = new Set(done);
  const out: number[] = [];
  for (const id of asked) {
    if (set.delete(id)) out.push(id);
  }
  return out;
}
