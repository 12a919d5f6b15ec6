/**
 * The SQLite status outbox (feedback): the statements behind `FeedbackStore`. One process owns
 * the file, so a claim is only remembered in memory (a status claimed and not settled by a
 * process that died is simply pending again on restart).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { PendingStatus, StatusEventFields } from '../contract.ts';

/** The status outbox statements of one database. */
export class SqliteStatuses {
  readonly #insert: StatementSync;
  readonly #pending: StatementSync;
  readonly #delete: StatementSync;
  readonly #fail: StatementSync;
  readonly #count: StatementSync;
  readonly #addLast: StatementSync;
  /** Claimed until (ms), by status id. */
  readonly #claims = new Map<number, number>();

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare('INSERT INTO status_events (action_id, fields, created_at) VALUES (?, ?, ?)');
    this.#pending = db.prepare('SELECT id, action_id, fields FROM status_events WHERE failed_at IS NULL ORDER BY id LIMIT ?');
    this.#delete = db.prepare('DELETE FROM status_events WHERE id = ?');
    this.#fail = db.prepare('UPDATE status_events SET failed_at = ?, error = ? WHERE id = ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM status_events WHERE failed_at IS NULL');
    this.#addLast = db.prepare('INSERT INTO status_events (action_id, fields, created_at) VALUES (last_insert_rowid(), ?, ?)');
  }

  /** Adds a status; call inside the transaction that records its settlement. */
  add(actionId: number, fields: StatusEventFields, now: number): void {
    this.#insert.run(actionId, JSON.stringify(fields), now);
  }

  /** Adds a status for the action row inserted last; call right after that insert, in its transaction. */
  addLast(fields: StatusEventFields, now: number): void {
    this.#addLast.run(JSON.stringify(fields), now);
  }

  claim(limit: number, now: number, leaseMs: number): PendingStatus[] {
    const out: PendingStatus[] = [];
    // Read past the claimed ones: a handful at most (one publisher, one batch in flight).
    const rows = this.#pending.all(limit + this.#claims.size) as { id: number; action_id: number; fields: string }[];
    for (const r of rows) {
      if (out.length >= limit) break;
      const until = this.#claims.get(r.id);
      if (until !== undefined && until > now) continue;
      this.#claims.set(r.id, now + leaseMs);
      out.push({ id: r.id, actionId: r.action_id, fields: JSON.parse(r.fields) as StatusEventFields });
    }
    return out;
  }

  /** Deletes published ones and marks refused ones; call inside a transaction. */
  settle(published: readonly number[], refused: readonly { id: number; reason: string }[], now: number): void {
    for (const id of published) this.#delete.run(id);
    for (const r of refused) this.#fail.run(now, r.reason, r.id);
    this.release([...published, ...refused.map((r) => r.id)]);
  }

  release(ids: readonly number[]): void {
    for (const id of ids) this.#claims.delete(id);
  }

  backlog(): number {
    return (this.#count.get() as { n: number }).n;
  }
}
