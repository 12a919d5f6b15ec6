/**
 * The embedded store on node:sqlite. WAL journal with synchronous=NORMAL: a committed
 * transaction survives the process being killed at any point (only a power loss can take
 * the last few back); that is the crash model the bridge promises.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { ActionTarget, NewAction, NewDeadLetter, StoredAction } from '../model.ts';
import type { ActionRow, AttemptRecord, CommitResult, Store } from './store.ts';
import { MIGRATIONS } from './sqlite-schema.ts';

/** Options of the embedded store. */
export interface SqliteStoreOptions {
  /** File path, or `:memory:` for tests. */
  path: string;
  /** Milliseconds to wait for a lock held by another connection. @default 5000 */
  busyTimeoutMs?: number;
}

/** Opens (and migrates) the embedded store. */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new DatabaseSync(options.path);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000};`);
  migrate(db);
  return new SqliteStore(db);
}

function migrate(db: DatabaseSync): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
  const current = row.v ?? 0;
  for (const [index, sql] of MIGRATIONS.entries()) {
    const version = index + 1;
    if (version <= current) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(sql);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(version);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}

interface DbActionRow {
  id: number; idempotency_key: string; status: ActionRow['status']; route: string; target: string | null;
  mode: 'batch' | 'single' | null; batch_key: string | null; channel: string; replay_id: string;
  record_id: string; contact_key: string; correlation_id: string; payload: string; attempts: number;
  error_code: string | null; error: string | null; delivery_ids: string | null; received_at: number;
  created_at: number; delivered_at: number | null;
}

class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #insertAction: StatementSync;
  readonly #insertDead: StatementSync;
  readonly #upsertCheckpoint: StatementSync;
  readonly #claim: StatementSync;
  readonly #delivered: StatementSync;
  readonly #retry: StatementSync;
  readonly #dead: StatementSync;
  readonly #attempt: StatementSync;
  /** Kept in memory so backpressure checks cost nothing; recounted on open. */
  #backlog: number;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insertAction = db.prepare(`INSERT INTO actions (idempotency_key, status, route, target, mode, batch_key, channel,
      replay_id, record_id, contact_key, correlation_id, payload, next_attempt_at, received_at, created_at)
      VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`);
    this.#insertDead = db.prepare(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id,
      contact_key, correlation_id, payload, error_code, error, next_attempt_at, received_at, created_at)
      VALUES (?, 'dead', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`);
    this.#upsertCheckpoint = db.prepare(`INSERT INTO checkpoints (channel, replay_id, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at`);
    this.#claim = db.prepare(`UPDATE actions SET status = 'inflight' WHERE id IN (
      SELECT id FROM actions WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?)
      RETURNING *`);
    this.#delivered = db.prepare(`UPDATE actions SET status = 'delivered', attempts = attempts + 1, delivery_ids = ?,
      delivered_at = ?, error_code = NULL, error = NULL WHERE id = ?`);
    this.#retry = db.prepare(`UPDATE actions SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?,
      error_code = ?, error = ? WHERE id = ?`);
    this.#dead = db.prepare(`UPDATE actions SET status = 'dead', attempts = attempts + 1, error_code = ?, error = ? WHERE id = ?`);
    this.#attempt = db.prepare('INSERT INTO attempts (action_id, at, outcome, code, detail) VALUES (?, ?, ?, ?, ?)');
    this.#backlog = (db.prepare(`SELECT count(*) AS n FROM actions WHERE status IN ('pending', 'inflight')`).get() as { n: number }).n;
  }

  loadCheckpoints(): Map<string, string> {
    const rows = this.#db.prepare('SELECT channel, replay_id FROM checkpoints').all() as { channel: string; replay_id: string }[];
    return new Map(rows.map((r) => [r.channel, r.replay_id]));
  }

  commitBatch(actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], checkpoints: ReadonlyMap<string, string>): CommitResult {
    const now = Date.now();
    let inserted = 0;
    let deadLettered = 0;
    let duplicates = 0;
    this.#transaction(() => {
      for (const a of actions) {
        const r = this.#insertAction.run(a.idempotencyKey, a.route, a.target, a.mode, a.batchKey, a.channel, a.replayId,
          a.recordId, a.contactKey, a.correlationId, JSON.stringify(a.payload), a.receivedAt, now);
        if (r.changes > 0) inserted++;
        else duplicates++;
      }
      for (const d of deadLetters) {
        const r = this.#insertDead.run(d.idempotencyKey, d.route, d.channel, d.replayId, d.recordId, d.contactKey,
          d.correlationId, JSON.stringify(d.source ?? null), d.code, d.reason, now, now);
        if (r.changes > 0) deadLettered++;
        else duplicates++;
      }
      for (const [channel, replayId] of checkpoints) this.#upsertCheckpoint.run(channel, replayId, now);
    });
    this.#backlog += inserted;
    return { inserted, duplicates, deadLettered };
  }

  claimDue(limit: number, now: number): StoredAction[] {
    const rows = this.#claim.all(now, limit) as unknown as DbActionRow[];
    // RETURNING gives no order guarantee: outbox order is id order.
    rows.sort((a, b) => a.id - b.id);
    return rows.map((r) => ({
      id: r.id, idempotencyKey: r.idempotency_key, route: r.route, target: (r.target ?? 'journey') as ActionTarget, mode: r.mode ?? 'batch',
      batchKey: r.batch_key ?? '', channel: r.channel, replayId: r.replay_id, recordId: r.record_id,
      contactKey: r.contact_key, correlationId: r.correlation_id, payload: JSON.parse(r.payload),
      receivedAt: r.received_at, attempts: r.attempts,
    }));
  }

  recordAttempts(records: readonly AttemptRecord[], now: number): void {
    let settled = 0;
    this.#transaction(() => {
      for (const rec of records) {
        if (rec.status === 'delivered') {
          this.#delivered.run(JSON.stringify(rec.ids), now, rec.id);
          settled++;
        } else if (rec.status === 'retry') {
          this.#retry.run(rec.nextAttemptAt, rec.code, rec.reason, rec.id);
          this.#attempt.run(rec.id, now, 'retry', rec.code, rec.reason);
        } else {
          this.#dead.run(rec.code, rec.reason, rec.id);
          this.#attempt.run(rec.id, now, 'dead', rec.code, rec.reason);
          settled++;
        }
      }
    });
    this.#backlog -= settled;
  }

  recoverInflight(): number {
    return Number(this.#db.prepare(`UPDATE actions SET status = 'pending' WHERE status = 'inflight'`).run().changes);
  }

  backlog(): number {
    return this.#backlog;
  }

  nextDueAt(): number | undefined {
    const row = this.#db.prepare(`SELECT min(next_attempt_at) AS t FROM actions WHERE status = 'pending'`).get() as { t: number | null };
    return row.t ?? undefined;
  }

  actionsFor(recordOrContactKey: string): ActionRow[] {
    const rows = this.#db.prepare('SELECT * FROM actions WHERE record_id = ? OR contact_key = ? ORDER BY id')
      .all(recordOrContactKey, recordOrContactKey) as unknown as DbActionRow[];
    return rows.map(toActionRow);
  }

  counts(): Record<ActionRow['status'], number> {
    const out: Record<ActionRow['status'], number> = { pending: 0, inflight: 0, delivered: 0, dead: 0 };
    for (const r of this.#db.prepare('SELECT status, count(*) AS n FROM actions GROUP BY status').all() as { status: ActionRow['status']; n: number }[]) {
      out[r.status] = r.n;
    }
    return out;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #transaction(body: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      body();
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }
}

function toActionRow(r: DbActionRow): ActionRow {
  return {
    id: r.id, idempotencyKey: r.idempotency_key, status: r.status, route: r.route, target: r.target,
    channel: r.channel, replayId: r.replay_id, recordId: r.record_id, contactKey: r.contact_key,
    correlationId: r.correlation_id, payload: JSON.parse(r.payload), attempts: r.attempts,
    errorCode: r.error_code, error: r.error, deliveryIds: r.delivery_ids ? JSON.parse(r.delivery_ids) : null,
    createdAt: r.created_at, deliveredAt: r.delivered_at,
  };
}
