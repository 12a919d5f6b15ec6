/**
 * The embedded store on node:sqlite. WAL journal with synchronous=NORMAL: a committed
 * transaction survives the process being killed at any point (only a power loss can take
 * the last few back); that is the crash model the bridge promises.
 *
 * One process owns the file, so claims live in memory: nothing is written to claim an action,
 * and an action that was in flight when the process died is simply still pending on restart.
 * New actions are handed to the dispatcher from a read-through cache filled on insert; the
 * table is read only to catch up on a backlog (after a restart, or past the cache's bound).
 * The bound follows the dispatcher, about five seconds of its claims (cache-bound.ts): during a
 * burst that Marketing Cloud takes slowly the backlog waits in the table, not in the heap.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { NewAction, NewDeadLetter, StoredAction } from '../../core/model.ts';
import type {
  ActionRow,
  AttemptRecord,
  AttemptRow,
  CommitResult,
  DeadLetterFilter,
  PendingStatus,
  StatusEventFields,
  ReplaceResult,
  RowVersionClaim,
  Store,
  TraceEntry,
} from '../contract.ts';
import { SqliteStatuses } from './statuses.ts';
import { deliveryColumns } from '../delivery-columns.ts';
import { byRecordId, MIGRATIONS } from './schema.ts';
import {
  attemptsOfAction,
  deadLettersOf,
  discardDead,
  prepareTrace,
  replaceDead,
  requeueDead,
  traceOf,
  type SqliteHistoryAccess,
  type TraceStatements,
} from './history.ts';
import { CLAIM_COLUMNS, COLUMNS, type DbActionRow, INSERT_DEAD, insertDeadLetter, toActionRow, toStored } from './rows.ts';
import { ContactOrder } from './contact-order.ts';
import { CacheBound } from './cache-bound.ts';

/** Options of the embedded store. */
export interface SqliteStoreOptions {
  /** File path, or `:memory:` for tests. */
  path: string;
  /** Milliseconds to wait for a lock held by another connection. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * Most new actions kept in memory for the dispatcher (fewer while it claims slowly:
   * cache-bound.ts); past this it reads them from the table. @default 20000
   */
  cacheLimit?: number;
}

/**
 * New actions held in memory at most by default: the default backlog bound
 * (`subscriber.maxBacklog`), so a bridge on defaults whose dispatcher keeps up never reads new
 * actions back from the table, while a larger bound keeps its excess on disk. Each cached action
 * costs ~700 B of heap; reading them back from the table instead cost ~10% of the default
 * bench's throughput at a 4,000 cap. A slow dispatcher gets fewer (cache-bound.ts).
 */
export const DEFAULT_CACHE_LIMIT = 20_000;

/** Opens (and migrates) the embedded store. */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new DatabaseSync(options.path);
  // busy_timeout first: switching to WAL needs a lock, which another process reading the file
  // (`trace`, `dlq`) or a store of this process closing may hold for a moment.
  // A 4 MB page cache: what a commit touches (the table's tail, the newest bucket of the record
  // index) stays hot, and the unique key index of a large outbox misses at 16 MB as at 4; the
  // 12 MB saved are resident memory through a burst (issue 18).
  // Checkpoints are SQLite's own: once the log holds 1,000 pages (4 MB), the commit that passed
  // the mark copies them into the database file (PASSIVE: never waiting on a reader). They used to
  // run on a worker thread of their own, which kept them off this thread (~4 µs an event at full
  // speed, ~7% of the default bench's throughput) but cost ~19 MB of resident memory for its
  // isolate, a tenth of a burst's peak (issue 18, docs/operations.md "Memory").
  db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    PRAGMA cache_size = -4096; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES};`);
  migrate(db, options.path);
  return new SqliteStore(db, options.cacheLimit ?? DEFAULT_CACHE_LIMIT);
}

/** Pages of log after which a commit checkpoints (SQLite's default). */
const WAL_CHECKPOINT_PAGES = 1000;

function migrate(db: DatabaseSync, path: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
  const current = row.v ?? 0;
  // An older bridge on a newer file would misread it (migration 9: a delivered action still
  // says 'pending' in `actions`, and would be sent again): refuse, as the Postgres store does.
  if (current > MIGRATIONS.length) {
    db.close();
    throw new Error(`the store at ${path} is at schema version ${current}, newer than this bridge knows (${MIGRATIONS.length}): upgrade the bridge`);
  }
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

class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #insertAction: StatementSync;
  readonly #insertDead: StatementSync;
  readonly #upsertCheckpoint: StatementSync;
  readonly #upsertMark: StatementSync;
  readonly #selectNew: StatementSync;
  readonly #selectRetries: StatementSync;
  readonly #nextRetry: StatementSync;
  readonly #delivered: StatementSync;
  readonly #appendDelivery: StatementSync;
  readonly #retry: StatementSync;
  readonly #accepted: StatementSync;
  readonly #readVersion: StatementSync;
  readonly #writeVersion: StatementSync;
  readonly #dead: StatementSync;
  readonly #statuses: SqliteStatuses;
  readonly #attempt: StatementSync;
  readonly #trace: TraceStatements;
  readonly #history: SqliteHistoryAccess;
  readonly #prunable: StatementSync;
  readonly #deleteAttempts: StatementSync;
  readonly #deleteDelivery: StatementSync;
  readonly #deleteAction: StatementSync;
  /** How many new actions #cache may hold now. */
  readonly #cacheBound: CacheBound;
  /** Highest id of a new (never attempted) action handed out so far. */
  #cursor = 0;
  /**
   * New actions with id > #cursor, in id order, without gaps: a prefix of the new actions.
   * It is all of them only while #cacheComplete; otherwise the table holds the rest.
   */
  #cache: StoredAction[] = [];
  #cacheComplete = false;
  /** Claimed and not yet settled: id → Contact Key. */
  readonly #inflight = new Map<number, string>();
  /** Of those, the ones claimed as new (never attempted): their delivery is appended to `deliveries` (schema.ts). */
  readonly #firstAttempts = new Set<number>();
  /** A contact's actions go out one at a time, in order. */
  readonly #order = new ContactOrder();
  /** Kept in memory so backpressure checks cost nothing; counted on open. */
  #backlog: number;

  constructor(db: DatabaseSync, cacheLimit: number) {
    this.#db = db;
    this.#cacheBound = new CacheBound(cacheLimit);
    this.#insertAction = db.prepare(`INSERT INTO actions (idempotency_key, status, route, target, mode, batch_key, channel,
      replay_id, record_id, contact_key, correlation_id, payload, received_at, created_at, change_type, admin_correlation_id)
      VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`);
    this.#insertDead = db.prepare(INSERT_DEAD);
    this.#upsertCheckpoint = db.prepare(`INSERT INTO checkpoints (channel, replay_id, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at`);
    this.#upsertMark = db.prepare(`UPDATE checkpoints SET commit_timestamp = max(coalesce(commit_timestamp, 0), ?) WHERE channel = ?`);
    // A new action delivered at its first attempt keeps this status in `actions`: its delivery row says it is done.
    this.#selectNew = db.prepare(`SELECT ${CLAIM_COLUMNS} FROM actions
      WHERE id > ? AND status = 'pending' AND next_attempt_at = 0 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE action_id = actions.id)
      ORDER BY id LIMIT ?`);
    this.#selectRetries = db.prepare(`SELECT ${CLAIM_COLUMNS} FROM actions
      WHERE status = 'pending' AND next_attempt_at > 0 AND next_attempt_at <= ? ORDER BY id LIMIT ?`);
    // Asked after every idle dispatcher round: prepared once.
    this.#nextRetry = db.prepare(`SELECT min(next_attempt_at) AS t FROM actions WHERE status = 'pending' AND next_attempt_at > 0`);
    this.#delivered = db.prepare(`UPDATE actions SET status = 'delivered', attempts = attempts + 1, request_id = ?,
      instance_id = ?, message_key = ?, delivered_at = ?, error_code = NULL, error = NULL WHERE id = ?`);
    this.#appendDelivery = db.prepare(`INSERT INTO deliveries (action_id, delivered_at, request_id, instance_id, message_key) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (action_id) DO NOTHING`);
    this.#accepted = db.prepare('UPDATE actions SET request_id = ?, request_row = ?, next_attempt_at = ? WHERE id = ?');
    this.#readVersion = db.prepare('SELECT version, seq FROM row_versions WHERE tbl = ? AND row_key = ?');
    this.#writeVersion = db.prepare(`INSERT INTO row_versions (tbl, row_key, version, seq) VALUES (?, ?, ?, ?)
      ON CONFLICT (tbl, row_key) DO UPDATE SET version = excluded.version, seq = excluded.seq`);
    this.#retry = db.prepare(`UPDATE actions SET attempts = attempts + 1, next_attempt_at = ?, error_code = ?, error = ? WHERE id = ?`);
    this.#dead = db.prepare(`UPDATE actions SET status = 'dead', attempts = attempts + 1, error_code = ?, error = ? WHERE id = ?`);
    this.#statuses = new SqliteStatuses(db);
    this.#attempt = db.prepare('INSERT INTO attempts (action_id, at, outcome, code, detail) VALUES (?, ?, ?, ?, ?)');
    this.#trace = prepareTrace(db);
    this.#history = {
      db,
      attempt: this.#attempt,
      insertDead: this.#insertDead,
      transaction: (body) => this.#transaction(body),
      inflight: (id) => this.#inflight.has(id),
    };
    // The newest row is never pruned: SQLite would hand its id out again, and new actions are
    // found by id order (see #cursor).
    // Delivered rows of both kinds, each through its index on the delivery time.
    this.#prunable = db.prepare(`SELECT id FROM (SELECT action_id AS id, delivered_at FROM deliveries WHERE delivered_at < ?1
        UNION ALL SELECT id, delivered_at FROM actions WHERE status = 'delivered' AND delivered_at < ?1)
      WHERE id < (SELECT max(id) FROM actions) ORDER BY delivered_at LIMIT ?2`);
    this.#deleteAttempts = db.prepare('DELETE FROM attempts WHERE action_id = ?');
    this.#deleteDelivery = db.prepare('DELETE FROM deliveries WHERE action_id = ?');
    this.#deleteAction = db.prepare(`DELETE FROM actions WHERE id = ?1 AND (status = 'delivered' OR ?2)`);
    this.#backlog = (
      db
        .prepare(`SELECT count(*) AS n FROM actions WHERE status = 'pending' AND NOT EXISTS (SELECT 1 FROM deliveries WHERE action_id = actions.id)`)
        .get() as { n: number }
    ).n;
    // An action waiting for its retry holds its contact's later actions back, across restarts too.
    for (const r of db.prepare(`SELECT id, contact_key FROM actions WHERE status = 'pending' AND next_attempt_at > 0 ORDER BY id`).all() as {
      id: number;
      contact_key: string;
    }[]) {
      this.#order.seed(r.id, r.contact_key);
    }
  }

  async loadCheckpoints(): Promise<Map<string, string>> {
    const rows = this.#db.prepare('SELECT channel, replay_id FROM checkpoints').all() as { channel: string; replay_id: string }[];
    return new Map(rows.map((r) => [r.channel, r.replay_id]));
  }

  async loadCommitMarks(): Promise<Map<string, number>> {
    const rows = this.#db.prepare('SELECT channel, commit_timestamp FROM checkpoints WHERE commit_timestamp IS NOT NULL').all() as {
      channel: string;
      commit_timestamp: number;
    }[];
    return new Map(rows.map((r) => [r.channel, r.commit_timestamp]));
  }

  async commitBatch(
    actions: readonly NewAction[],
    deadLetters: readonly NewDeadLetter[],
    checkpoints: ReadonlyMap<string, string>,
    marks?: ReadonlyMap<string, number>,
  ): Promise<CommitResult> {
    const now = Date.now();
    const fresh: StoredAction[] = [];
    let deadLettered = 0;
    let duplicates = 0;
    this.#transaction(() => {
      for (let i = 0; i < actions.length; i++) {
        const a = actions[i]!;
        const r = this.#insertAction.run(
          a.idempotencyKey,
          a.route,
          a.target,
          a.mode,
          a.batchKey,
          a.channel,
          a.replayId,
          a.recordId,
          a.contactKey,
          a.correlationId,
          JSON.stringify(a.payload),
          a.receivedAt,
          now,
          a.changeType ?? null,
          a.adminCorrelationId ?? null,
        );
        if (r.changes > 0) fresh.push({ ...a, id: Number(r.lastInsertRowid), attempts: 0 });
        else duplicates++;
      }
      for (let i = 0; i < deadLetters.length; i++) {
        const d = deadLetters[i]!;
        if (insertDeadLetter(this.#insertDead, d, now)) {
          deadLettered++;
          // Feedback: a dead letter of a route with feedback on settles here, at planning.
          if (d.feedback) this.#statuses.addLast(d.feedback, now);
        } else duplicates++;
      }
      for (const [channel, replayId] of checkpoints) this.#upsertCheckpoint.run(channel, replayId, now);
      if (marks) for (const [channel, ts] of marks) this.#upsertMark.run(ts, channel);
    });
    this.#backlog += fresh.length;
    if (this.#cacheComplete) {
      // Past the bound the table is the queue until the dispatcher catches up; what the cache
      // holds stays (it is still a gap-free prefix) and is handed out first.
      const room = Math.max(0, this.#cacheBound.target - this.#cache.length);
      for (let i = 0; i < fresh.length && i < room; i++) this.#cache.push(fresh[i]!);
      if (fresh.length > room) this.#cacheComplete = false;
    }
    return { inserted: fresh.length, duplicates, deadLettered };
  }

  async claimDue(limit: number, now: number): Promise<StoredAction[]> {
    const claimed: StoredAction[] = [];
    const order = this.#order;
    for (const row of this.#selectRetries.all(now, limit + this.#inflight.size) as unknown as DbActionRow[]) {
      if (claimed.length < limit && !this.#inflight.has(row.id) && order.admit(row.id, row.contact_key)) claimed.push(toStored(row));
    }
    // From here on every action is new (next_attempt_at = 0): its delivery can be appended.
    const retries = claimed.length;
    for (const a of order.takeReady(limit - claimed.length)) {
      if (order.admit(a.id, a.contactKey)) claimed.push(a);
      else order.holdBehind(a);
    }
    // New actions of a contact whose earlier action is out (or waits for a retry) are set aside
    // behind it; a bounded number per claim, so one busy contact cannot pull the table into memory.
    let setAside = 0;
    let taken = 0;
    while (claimed.length < limit && setAside < limit * 4) {
      const fresh = this.#claimNew(limit - claimed.length);
      if (fresh.length === 0) break;
      taken += fresh.length;
      for (const a of fresh) {
        if (order.admit(a.id, a.contactKey)) claimed.push(a);
        else {
          order.holdBehind(a);
          setAside++;
        }
      }
    }
    for (let i = retries; i < claimed.length; i++) this.#firstAttempts.add(claimed[i]!.id);
    for (const a of claimed) this.#inflight.set(a.id, a.contactKey);
    // A slow dispatcher gets a smaller cache: its tail is dropped (what stays is still a
    // gap-free prefix) and read back from the table when the dispatcher gets there.
    const bound = this.#cacheBound.afterClaim(now, taken, this.#cache.length > 0 || !this.#cacheComplete);
    if (this.#cache.length > bound) {
      this.#cache.length = bound;
      this.#cacheComplete = false;
    }
    // Retries and new actions interleave by id: outbox order is id order.
    if (claimed.length > 1) claimed.sort((a, b) => a.id - b.id);
    return claimed;
  }

  /** Up to `limit` new actions, in id order, from the cache then the table. */
  #claimNew(limit: number): StoredAction[] {
    const into: StoredAction[] = [];
    let want = limit;
    if (this.#cache.length > 0) {
      const taken = this.#cache.length <= want ? this.#cache : this.#cache.slice(0, want);
      this.#cache = taken === this.#cache ? [] : this.#cache.slice(want);
      for (const a of taken) into.push(a);
      want -= taken.length;
      this.#cursor = Math.max(this.#cursor, taken.at(-1)!.id);
    }
    if (want > 0 && !this.#cacheComplete) {
      const rows = this.#selectNew.all(this.#cursor, want) as unknown as DbActionRow[];
      for (const r of rows) into.push(toStored(r));
      // Fewer than asked: the table holds no more new actions, so from now on the cache is whole.
      if (rows.length < want) this.#cacheComplete = true;
      const last = rows.at(-1);
      if (last && last.id > this.#cursor) this.#cursor = last.id;
    }
    return into;
  }

  async recordAttempts(records: readonly AttemptRecord[], now: number): Promise<void> {
    let settled = 0;
    this.#transaction(() => {
      for (const rec of records) {
        if (rec.status === 'delivered') {
          const c = deliveryColumns(rec.ids);
          if (this.#firstAttempts.has(rec.id)) this.#appendDelivery.run(rec.id, now, c.request_id, c.instance_id, c.message_key);
          else this.#delivered.run(c.request_id, c.instance_id, c.message_key, now, rec.id);
          if (rec.feedback) this.#statuses.add(rec.id, rec.feedback, now);
          settled++;
        } else if (rec.status === 'accepted') {
          // Still pending (the backlog holds it, its contact waits) until the results say the row is written.
          this.#accepted.run(rec.requestId, rec.requestId === null ? null : rec.row, Math.max(1, rec.nextAttemptAt), rec.id);
        } else if (rec.status === 'retry') {
          this.#retry.run(Math.max(1, rec.nextAttemptAt), rec.code, rec.reason, rec.id);
          this.#attempt.run(rec.id, now, 'retry', rec.code, rec.reason);
        } else {
          this.#dead.run(rec.code, rec.reason, rec.id);
          this.#attempt.run(rec.id, now, 'dead', rec.code, rec.reason);
          if (rec.feedback) this.#statuses.add(rec.id, rec.feedback, now);
          settled++;
        }
      }
    });
    for (const rec of records) {
      const contactKey = this.#inflight.get(rec.id);
      if (contactKey === undefined) continue;
      this.#inflight.delete(rec.id);
      this.#firstAttempts.delete(rec.id);
      if (rec.status !== 'retry' && rec.status !== 'accepted') this.#order.settled(rec.id, contactKey);
    }
    // Another process (the dlq command) may requeue rows this counter never saw: never below 0.
    this.#backlog = Math.max(0, this.#backlog - settled);
  }

  async claimStatuses(limit: number, now: number, leaseMs: number): Promise<PendingStatus[]> {
    return this.#statuses.claim(limit, now, leaseMs);
  }

  async settleStatuses(published: readonly number[], refused: readonly { id: number; reason: string }[], now: number): Promise<void> {
    this.#transaction(() => this.#statuses.settle(published, refused, now));
  }

  async releaseStatuses(ids: readonly number[]): Promise<void> {
    this.#statuses.release(ids);
  }

  async statusBacklog(): Promise<number> {
    return this.#statuses.backlog();
  }

  async addStatus(fields: StatusEventFields, now: number): Promise<void> {
    this.#statuses.add(0, fields, now);
  }

  async recoverInflight(): Promise<number> {
    // Claims are never written to this store: what was in flight is still pending.
    return 0;
  }

  async backlog(): Promise<number> {
    return this.#backlog;
  }

  async nextDueAt(): Promise<number | undefined> {
    if (this.#cache.length > 0 || this.#order.readyCount > 0 || (!this.#cacheComplete && this.#backlog > this.#inflight.size)) return 0;
    const row = this.#nextRetry.get() as { t: number | null };
    return row.t ?? undefined;
  }

  async actionsFor(recordOrContactKey: string): Promise<ActionRow[]> {
    // The Contact Key is the 18-character record ID: one indexed column answers both.
    const rows = this.#db.prepare(`${byRecordId(COLUMNS)} ORDER BY id`).all(recordOrContactKey) as unknown as DbActionRow[];
    return rows.map((r) => toActionRow(r, this.#inflight.has(r.id)));
  }

  async counts(): Promise<Record<ActionRow['status'], number>> {
    const out: Record<ActionRow['status'], number> = { pending: 0, inflight: this.#inflight.size, delivered: 0, dead: 0 };
    for (const r of this.#db.prepare('SELECT status, count(*) AS n FROM actions GROUP BY status').all() as {
      status: 'pending' | 'delivered' | 'dead';
      n: number;
    }[]) {
      out[r.status] = r.n;
    }
    // Delivered at their first attempt: still 'pending' in `actions`.
    const appended = (this.#db.prepare('SELECT count(*) AS n FROM deliveries').get() as { n: number }).n;
    out.delivered += appended;
    out.pending -= appended + this.#inflight.size;
    return out;
  }

  async trace(recordOrContactKey: string): Promise<TraceEntry[]> {
    return traceOf(this.#history, this.#trace, recordOrContactKey);
  }

  async pruneDelivered(deliveredBefore: number, limit: number): Promise<number> {
    const ids = (this.#prunable.all(deliveredBefore, limit) as { id: number }[]).map((r) => r.id);
    if (ids.length === 0) return 0;
    let deleted = 0;
    this.#transaction(() => {
      for (const id of ids) {
        this.#deleteAttempts.run(id);
        const appended = this.#deleteDelivery.run(id).changes > 0;
        deleted += Number(this.#deleteAction.run(id, appended ? 1 : 0).changes);
      }
    });
    return deleted;
  }

  async checkWritable(): Promise<void> {
    if (!this.#db.isOpen) throw new Error('the store is closed');
    // Taking the write lock is what every commit needs first; nothing is written.
    this.#db.exec('BEGIN IMMEDIATE');
    this.#db.exec('ROLLBACK');
  }

  async deadLetters(filter: DeadLetterFilter = {}): Promise<ActionRow[]> {
    return deadLettersOf(this.#history, filter);
  }

  async requeue(ids: readonly number[], now: number): Promise<number[]> {
    const done = requeueDead(this.#history, ids, now);
    this.#backlog += done.length;
    return done;
  }

  async discard(ids: readonly number[], now: number, note = 'discarded from the dead-letter queue'): Promise<number[]> {
    return discardDead(this.#history, ids, now, note);
  }

  async replaceDeadLetter(id: number, actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], now: number): Promise<ReplaceResult> {
    const { result, pending } = replaceDead(this.#history, id, actions, deadLetters, now);
    this.#backlog += pending;
    return result;
  }

  async attemptsOf(id: number): Promise<AttemptRow[]> {
    return attemptsOfAction(this.#history, id);
  }

  async claimRowVersions(claims: readonly RowVersionClaim[]): Promise<boolean[]> {
    const out: boolean[] = [];
    this.#transaction(() => {
      for (const c of claims) {
        const cur = this.#readVersion.get(c.table, c.rowKey) as { version: number; seq: number } | undefined;
        const newest = cur === undefined || c.version > cur.version || (c.version === cur.version && c.seq >= cur.seq);
        if (newest) this.#writeVersion.run(c.table, c.rowKey, c.version, c.seq);
        out.push(newest);
      }
    });
    return out;
  }

  async loadJobState(name: string): Promise<unknown> {
    const row = this.#db.prepare('SELECT state FROM jobs WHERE name = ?').get(name) as { state: string } | undefined;
    return row === undefined ? undefined : JSON.parse(row.state);
  }

  async saveJobState(name: string, state: unknown): Promise<void> {
    if (state === undefined) {
      this.#db.prepare('DELETE FROM jobs WHERE name = ?').run(name);
      return;
    }
    this.#db
      .prepare(`INSERT INTO jobs (name, state, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`)
      .run(name, JSON.stringify(state), Date.now());
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    // The last connection to close checkpoints the whole log and removes it.
    this.#db.close();
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
