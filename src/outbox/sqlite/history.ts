/**
 * The embedded store's history side: a record's timeline (`trace`), the dead-letter queue
 * (list, requeue, discard, re-derive) and an action's attempt history. The same semantics as
 * the Postgres store's (postgres/history.ts); what to do with a re-derived dead letter is
 * decided once for both in ../replacement.ts.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { NewAction, NewDeadLetter } from '../../core/model.ts';
import type { ActionRow, AttemptRow, DeadLetterFilter, ReplaceResult, TraceEntry } from '../contract.ts';
import { notInQueue, replacementEnding, sortReplacement } from '../replacement.ts';
import { traceEntryOf } from '../trace-facts.ts';
import { COLUMNS, type DbActionRow, type DbAttemptRow, type DbTraceRow, insertDeadLetter, toActionRow } from './rows.ts';
import { replacementValues } from '../rows.ts';
import { ACTION_ROWS, byRecordId } from './schema.ts';

/** What the history queries need from the store. */
export interface SqliteHistoryAccess {
  db: DatabaseSync;
  transaction(body: () => void): void;
  /** True while this process has the action claimed. */
  inflight(id: number): boolean;
  /** Inserts one history row: (action_id, at, outcome, code, detail). */
  attempt: StatementSync;
  /** `INSERT_DEAD` prepared. */
  insertDead: StatementSync;
}

/** Statements `traceOf` runs, prepared once by the store. */
export interface TraceStatements {
  rows: StatementSync;
  attempts: StatementSync;
}

/** Prepares the trace statements. */
export function prepareTrace(db: DatabaseSync): TraceStatements {
  return {
    // Read through the view that folds deliveries in (schema.ts). A mapper may key a contact
    // other than the record: the second part finds those rows
    // through the partial index on contact_key (migration 2); the third, an admin's
    // correlation ID (migration 6).
    rows: db.prepare(`${byRecordId(`${COLUMNS}, change_type`)}
      UNION SELECT ${COLUMNS}, change_type FROM ${ACTION_ROWS} WHERE contact_key = ? AND contact_key <> record_id
      UNION SELECT ${COLUMNS}, change_type FROM ${ACTION_ROWS} WHERE admin_correlation_id = ? ORDER BY id`),
    attempts: db.prepare('SELECT action_id, at, outcome, code, detail FROM attempts WHERE action_id = ? ORDER BY rowid'),
  };
}

/** Every action and dead letter of one record or contact key, oldest first, with its attempts. */
export function traceOf(h: SqliteHistoryAccess, s: TraceStatements, key: string): TraceEntry[] {
  const rows = s.rows.all(key, key, key) as unknown as DbTraceRow[];
  return rows.map((r) => {
    const row = toActionRow(r, h.inflight(r.id));
    return traceEntryOf(r, row.status, row.deliveryIds, s.attempts.all(r.id) as unknown as DbAttemptRow[]);
  });
}

/** Dead letters, oldest first. */
export function deadLettersOf(h: SqliteHistoryAccess, filter: DeadLetterFilter): ActionRow[] {
  const where = [`status = 'dead'`];
  const args: (string | number)[] = [];
  if (!filter.includeDiscarded) where.push('discarded_at IS NULL');
  if (filter.route !== undefined) {
    where.push('route = ?');
    args.push(filter.route);
  }
  if (filter.ids !== undefined) {
    if (filter.ids.length === 0) return [];
    where.push(`id IN (${filter.ids.map(() => '?').join(', ')})`);
    args.push(...filter.ids);
  }
  args.push(filter.limit ?? 1000);
  const rows = h.db
    .prepare(`SELECT ${COLUMNS} FROM actions WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
    .all(...args) as unknown as DbActionRow[];
  return rows.map((r) => toActionRow(r, false));
}

/** Makes deliverable dead letters pending and due at `now`; returns the IDs requeued, in the order asked. */
export function requeueDead(h: SqliteHistoryAccess, ids: readonly number[], now: number): number[] {
  const done: number[] = [];
  // A requeued row is sent afresh: any asynchronous request it waited on is forgotten.
  const update = h.db.prepare(`UPDATE actions SET status = 'pending', attempts = 0, next_attempt_at = ?, error_code = NULL, error = NULL,
    request_id = NULL, request_row = NULL WHERE id = ? AND status = 'dead' AND discarded_at IS NULL AND target IS NOT NULL`);
  const before = h.db.prepare('SELECT attempts, error_code, error FROM actions WHERE id = ?');
  h.transaction(() => {
    for (const id of ids) {
      const was = before.get(id) as { attempts: number; error_code: string | null; error: string | null } | undefined;
      if (update.run(Math.max(1, now), id).changes === 0) continue;
      h.attempt.run(
        id,
        now,
        'requeued',
        was?.error_code ?? null,
        `requeued after ${was?.attempts ?? 0} attempts; last error: ${was?.error ?? 'none'}`,
      );
      done.push(id);
    }
  });
  return done;
}

/** Takes dead letters out of the queue, keeping row and history; returns the IDs discarded, in the order asked. */
export function discardDead(h: SqliteHistoryAccess, ids: readonly number[], now: number, note: string): number[] {
  const done: number[] = [];
  const update = h.db.prepare(`UPDATE actions SET discarded_at = ? WHERE id = ? AND status = 'dead' AND discarded_at IS NULL`);
  h.transaction(() => {
    for (const id of ids) {
      if (update.run(now, id).changes === 0) continue;
      h.attempt.run(id, now, 'discarded', null, note);
      done.push(id);
    }
  });
  return done;
}

/**
 * Replaces a dead letter made before delivery with what re-running its planning made (see
 * `Store.replaceDeadLetter`). `pending` counts the actions made pending (the store's backlog).
 */
export function replaceDead(
  h: SqliteHistoryAccess,
  id: number,
  actions: readonly NewAction[],
  deadLetters: readonly NewDeadLetter[],
  now: number,
): { result: ReplaceResult; pending: number } {
  let out: { result: ReplaceResult; pending: number } | undefined;
  h.transaction(() => {
    const row = h.db.prepare(`SELECT idempotency_key FROM actions WHERE id = ? AND status = 'dead' AND discarded_at IS NULL`).get(id) as
      | { idempotency_key: string }
      | undefined;
    if (!row) throw notInQueue(id);
    const plan = sortReplacement(row.idempotency_key, actions, deadLetters);
    const due = Math.max(1, now);
    const a = plan.takeover;
    if (a) {
      h.db
        .prepare(`UPDATE actions SET status = 'pending', target = ?, mode = ?, batch_key = ?, payload = ?, contact_key = ?, attempts = 0,
        next_attempt_at = ?, error_code = NULL, error = NULL, change_type = coalesce(?, change_type) WHERE id = ?`)
        .run(a.target, a.mode, a.batchKey, JSON.stringify(a.payload), a.contactKey, due, a.changeType ?? null, id);
    }
    // Due through the retry path (next_attempt_at > 0), which reads the table: a service
    // running in another process finds them without knowing they were added.
    const insert = h.db.prepare(`INSERT INTO actions (idempotency_key, status, route, target, mode, batch_key, channel,
      replay_id, record_id, contact_key, correlation_id, payload, received_at, created_at, next_attempt_at, change_type, admin_correlation_id)
      VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`);
    let inserted = 0;
    for (const n of plan.actions) {
      inserted += Number(insert.run(...replacementValues(n, now, due)).changes);
    }
    let deadLettered = 0;
    for (const d of plan.deadLetters) if (insertDeadLetter(h.insertDead, d, now)) deadLettered++;
    const ending = replacementEnding(plan, inserted, deadLettered);
    if (ending.row === 'still-dead')
      h.db.prepare('UPDATE actions SET error_code = ?, error = ? WHERE id = ?').run(plan.sameFailure!.code, plan.sameFailure!.reason, id);
    else if (ending.row === 'discarded') h.db.prepare('UPDATE actions SET discarded_at = ? WHERE id = ?').run(now, id);
    h.attempt.run(id, now, ending.history.outcome, ending.history.code, ending.history.detail);
    out = { result: ending.result, pending: inserted + (ending.row === 'requeued' ? 1 : 0) };
  });
  return out!;
}

/** An action's history, oldest first. */
export function attemptsOfAction(h: SqliteHistoryAccess, id: number): AttemptRow[] {
  return h.db.prepare('SELECT at, outcome, code, detail FROM attempts WHERE action_id = ? ORDER BY rowid').all(id) as unknown as AttemptRow[];
}
