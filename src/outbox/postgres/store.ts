/**
 * The shared store on PostgreSQL: several bridge instances use one outbox. Same contract and
 * semantics as the embedded store, plus what sharing needs:
 *
 * - Claims are written: `claimed_by` names the instance and `claimed_until` ends its lease,
 *   taken with `FOR UPDATE SKIP LOCKED` so two instances never hand out the same action. The
 *   holder renews its leases while delivering; a dead instance's leases run out and its actions
 *   are due again (`recoverInflight` clears the expired ones). Leases are timed on the
 *   database's clock, so instances on different machines agree on when one ran out. An action
 *   waiting for its next attempt is held by no one (`claimed_by = ''`) until `claimed_until`.
 * - The claim reads only what it could take (see CLAIM), and instances wake each other with
 *   LISTEN/NOTIFY (wakeups.ts) rather than poll.
 * - Order per contact key: an action is claimed only when no earlier action (lower id) of the
 *   same contact key is still pending, whether that one is waiting for a retry, unclaimed or
 *   in flight at any instance, and no other action of that contact is in flight (a dead letter
 *   requeued from the dead-letter queue is earlier than what came after it, and waits for
 *   that to settle). So at most one action per contact is in flight in the whole fleet, and a
 *   contact's actions reach Marketing Cloud in outbox order. Actions without a contact key are
 *   not ordered.
 * - Parking (migration 10): a contact's later actions pile up only behind an action waiting for
 *   a retry (one in flight settles within a lease). The settlement recording a retry names the
 *   contact in `retry_heads` and parks its later unclaimed actions, out of the index the claim
 *   walks; a commit parks an action whose contact is there (commit.ts). The settlement of the
 *   head, delivered or dead, deletes the contact's row and un-parks its actions in the same
 *   statement. A statement's snapshot can miss a concurrent one's work (a commit parking while
 *   the head settles): every instance sweeps once a lease, and in `recoverInflight`, un-parking
 *   what no retry_heads row holds. The order rule above still decides everything: parking only
 *   keeps the claim from reading what it would refuse, so a row un-parked too early costs a
 *   read, and one left parked waits at most until the sweep. Settlements without a retry head
 *   and commits take no lock and no statement more.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { deliveryColumns, type DeliveryColumns } from '../delivery-columns.ts';
import type { NewAction, NewDeadLetter, StoredAction } from '../../core/model.ts';
import { attemptsOfAction, deadLettersOf, discardDead, type PgHistoryAccess, replaceDead, requeueDead, traceOf } from './history.ts';
import { COLUMNS, DB_NOW, type DbActionRow, INFLIGHT, toActionRow, toStored, WAITING } from './rows.ts';
import { commitStatement, runCommit } from './commit.ts';
import { migratePostgres, SCHEMA_NAME } from './schema.ts';
import type {
  ActionRow,
  AttemptRecord,
  AttemptRow,
  CommitResult,
  DeadLetterFilter,
  PendingStatus,
  ReplaceResult,
  RowVersionClaim,
  StatusEventFields,
  Store,
  TraceEntry,
} from '../contract.ts';
import { addStatuses, claimStatuses, releaseStatuses, settleStatuses, statusBacklog } from './statuses.ts';
import { WorkListener, workChannel } from './wakeups.ts';
import { type Queries, retryingQueries, retryTransient, type StoreRetryListener } from './transient.ts';

/** Options of the Postgres store. */
export interface PostgresStoreOptions {
  /** Connection URL, `postgres://user:password@host:5432/database`. */
  url: string;
  /** Schema holding the bridge's tables; created on first start. @default 'sfmc_bridge' */
  schema?: string;
  /** Connections in the pool. @default 10 */
  poolSize?: number;
  /** How long a claim stays reserved without renewal (ms); renewed every third of it. @default 30000 */
  claimLeaseMs?: number;
  /**
   * Wait for the WAL to reach disk at every commit. Off, a commit survives the bridge being
   * killed at any point (the server has it); only a crash of the database server can take back
   * its last fraction of a second, whole transactions at a time: a checkpoint rewinds with the
   * actions committed with it, so those events are fetched again from Salesforce's retention.
   * The same crash model as the embedded store's. @default false
   */
  synchronousCommit?: boolean;
  /** Names this instance in claims and attempts. @default a random UUID */
  instanceId?: string;
  /** Told each time a statement is tried again after a transient error (transient.ts): a deadlock, a dropped connection. */
  onRetry?: StoreRetryListener;
}

// First of its contact key among the pending actions, and no later action of its contact in
// flight (one requeued from the dead-letter queue waits). Two index ranges over the contact's
// pending actions, so neither walks the contact's other rows.
const FIRST_OF_CONTACT = `(a.contact_key = '' OR (
    NOT EXISTS (SELECT 1 FROM actions e WHERE e.status = 'pending' AND e.contact_key = a.contact_key AND e.id < a.id)
    AND NOT EXISTS (SELECT 1 FROM actions e WHERE e.status = 'pending' AND e.contact_key = a.contact_key AND e.id > a.id
      AND e.claimed_by <> ${WAITING} AND e.claimed_until > ${DB_NOW})))`;

// Due and unclaimed, in id order, walking the index of unclaimed actions (migrations 8, 10):
// actions in flight are not in it, nor parked ones, so the claim never steps over them. From the index of leases, by
// the time they end: claims whose lease ran out (a dead or frozen instance), and actions
// waiting for their next attempt (a retry, an accepted request to check), which wait there
// rather than in the claim's way. Exported for the test that reads its plan.
export const CLAIM = `WITH free AS (
    SELECT a.id FROM actions a
    WHERE a.status = 'pending' AND a.claimed_by IS NULL AND NOT a.parked AND a.next_attempt_at <= $1 AND ${FIRST_OF_CONTACT}
    ORDER BY a.id LIMIT $2
    FOR UPDATE OF a SKIP LOCKED),
  ended AS (
    SELECT a.id FROM actions a
    WHERE a.status = 'pending' AND a.claimed_by IS NOT NULL AND a.next_attempt_at <= $1
      AND a.claimed_until <= GREATEST($1::bigint, ${DB_NOW}) AND (a.claimed_by = ${WAITING} OR a.claimed_until <= ${DB_NOW})
      AND ${FIRST_OF_CONTACT}
    ORDER BY a.claimed_until LIMIT $2
    FOR UPDATE OF a SKIP LOCKED),
  picked AS (SELECT id FROM free UNION ALL SELECT id FROM ended ORDER BY id LIMIT $2)
  UPDATE actions SET claimed_by = $3, claimed_until = ${DB_NOW} + $4
  FROM picked WHERE actions.id = picked.id
  RETURNING ${COLUMNS.split(',')
    .map((c) => `actions.${c.trim()}`)
    .join(', ')}`;

// A row this instance holds is named by id, claimed by it and not settled: "not settled" is
// spelled `NOT IN ('delivered', 'dead')`, the same rows as `= 'pending'` (the status CHECK), so
// that the planner cannot take the index of leases for these statements. It sizes that index
// from the last ANALYZE (often one row while the table was young) and, given 'pending', hashed
// every lease to settle a few: each settlement read all the actions in flight, 3.5 of PostgreSQL's
// 7.5 s of statements in the default bench. Without it, the primary key finds each row.
const UNSETTLED = `NOT IN ('delivered', 'dead')`;

/**
 * The settings of the store's sessions (schema, synchronous_commit, enable_bitmapscan, jit).
 * Exported for the test that reads plans in such a session.
 *
 * No bitmap scans: the hot partial indexes carry a dead entry for every settled action until
 * vacuum. A plain index scan marks each one dead the first time it meets it and skips it
 * after; a bitmap scan visits every one of them in the table at every claim (and sorts the
 * whole pending set before its LIMIT). No query of the store needs a bitmap: each reads one
 * index by equality, range or ANY.
 *
 * No JIT: once autovacuum has analyzed the table with a backlog in it, the planner's costs of
 * the claim, the commit and nextDueAt pass PostgreSQL's JIT thresholds, and compiling them took
 * 50-1,100 ms at every execution, to save microseconds on statements that read a few hundred
 * rows: at 2,000 events a second, p50 600-830 ms and p99 1.3-1.4 s instead of 10 and 24 ms
 * (issue 18, on a server with autovacuum on, as every real one has).
 */
export function sessionOptions(schema: string, synchronousCommit: boolean): string {
  return `-c search_path=${schema} -c synchronous_commit=${synchronousCommit ? 'on' : 'off'} -c enable_bitmapscan=off -c jit=off`;
}

/**
 * The backlog's count (PostgresStore.backlog), through the three queue indexes, each part
 * stopping at `upTo` when given. Each part is ordered as its index is, so that the planner reads
 * the index: after an ANALYZE taken at a peak it sized the leased rows in tens of thousands and
 * counted them with a scan of the whole table, ~90 ms that the backpressure gate's fetch waited
 * for every second (p99 ~105 ms at 2,000 events a second, issue 18). Exported for its test.
 */
export function backlogCount(upTo?: number): string {
  const limit = upTo === undefined ? '' : `LIMIT ${Math.max(0, Math.floor(upTo))}`;
  return `SELECT
        (SELECT count(*) FROM (SELECT 1 FROM actions WHERE status = 'pending' AND claimed_by IS NULL AND NOT parked ORDER BY id ${limit}) u)::int
      + (SELECT count(*) FROM (SELECT 1 FROM actions WHERE status = 'pending' AND parked ORDER BY contact_key, id ${limit}) p)::int
      + (SELECT count(*) FROM (SELECT 1 FROM actions WHERE status = 'pending' AND claimed_by IS NOT NULL ORDER BY claimed_until ${limit}) l)::int AS n`;
}

// Delivered: only rows this instance still holds (see recordAttempts). $1 ids, $2-$4 delivery
// columns, $5 now, $6 this instance. Exported for the test that reads its plan.
export const SETTLE_DELIVERED = `UPDATE actions a SET status = 'delivered', attempts = a.attempts + 1, request_id = x.r, instance_id = x.i,
    message_key = x.m, delivered_at = $5, error_code = NULL, error = NULL, claimed_until = NULL
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS x(id, r, i, m)
  WHERE a.id = x.id AND a.claimed_by = $6 AND a.status ${UNSETTLED} RETURNING a.id, a.contact_key`;

// A settled action (delivered or dead; `settle` returns id and contact_key) ends its contact's
// wait for a retry: the contact leaves retry_heads and its parked actions are un-parked, in the
// settlement's own statement. Without a retry head it is one probe of the small table (the
// contacts are an array first: joined, the plan walked every parked action at every settlement).
const releasing = (settle: string, select: string): string => `WITH u AS (${settle}),
  gone AS (DELETE FROM retry_heads h USING u WHERE h.contact_key = u.contact_key RETURNING h.contact_key),
  freed AS (UPDATE actions p SET parked = false
    WHERE p.status = 'pending' AND p.parked AND p.contact_key = ANY (ARRAY(SELECT contact_key FROM gone)))
  ${select}`;

// The sweep: parked actions whose contact no longer waits for a retry (a commit that parked
// while the head settled, unseen by the settlement's snapshot), and retry_heads rows whose
// head is no longer pending. Reads the parked actions only, once a lease per instance.
const SWEEP = `WITH stale AS (
    DELETE FROM retry_heads h WHERE NOT EXISTS (SELECT 1 FROM actions a WHERE a.id = h.head_id AND a.status = 'pending')),
  freed AS (UPDATE actions SET parked = false WHERE id IN (
    SELECT p.id FROM actions p WHERE p.status = 'pending' AND p.parked
      AND NOT EXISTS (SELECT 1 FROM retry_heads h WHERE h.contact_key = p.contact_key)
    FOR NO KEY UPDATE SKIP LOCKED) RETURNING 1)
  SELECT count(*)::int AS n FROM freed`;

// bigint columns hold epoch milliseconds and ids: well inside Number's exact range.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Opens the store: connects, migrates the schema (safe when several instances start at once). */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? 'sfmc_bridge';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const instanceId = options.instanceId ?? randomUUID();
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    options: sessionOptions(schema, options.synchronousCommit === true),
    application_name: `sfmc-bridge ${instanceId.slice(0, 40)}`,
    keepAlive: true,
    types,
  });
  // An idle connection dropped by the server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      await migratePostgres(client, schema);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return new PostgresStore(
    pool,
    options.onRetry,
    instanceId,
    options.claimLeaseMs ?? 30_000,
    new WorkListener({ url: options.url, schema, instanceId }),
    workChannel(schema),
  );
}

/** The shared store; see the file comment for claims, leases and per-contact order. */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  /** The pool's autocommit queries, each tried again after a transient error. */
  readonly #db: Queries;
  readonly #onRetry: StoreRetryListener | undefined;
  readonly #leaseMs: number;
  /** Claimed by this instance and not yet settled: their leases are renewed. */
  readonly #inflight = new Set<number>();
  /**
   * Those of them tried before (attempts > 0 when claimed): only such an action can be its
   * contact's retry head, so only their settlements carry the release ("Parking"). The others
   * skip it: its extra statements in the settlement cost PostgreSQL ~20 µs per settlement.
   */
  readonly #tried = new Set<number>();
  readonly #renewTimer: NodeJS.Timeout;
  #renewing: Promise<void> = Promise.resolve();
  readonly #sweepTimer: NodeJS.Timeout;
  #sweeping: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #history: PgHistoryAccess;
  readonly #wakeups: WorkListener;
  readonly #channel: string;
  /** Opens a transaction that notifies at its commit, in the same round trip as BEGIN. */
  readonly #beginNotifying: string;
  /** This instance's name as an SQL literal. */
  readonly #me: string;
  /** This instance's name in claims and attempts. */
  readonly instanceId: string;

  constructor(pool: pg.Pool, onRetry: StoreRetryListener | undefined, instanceId: string, leaseMs: number, wakeups: WorkListener, channel: string) {
    this.#pool = pool;
    this.#db = retryingQueries(pool, onRetry);
    this.#onRetry = onRetry;
    this.#wakeups = wakeups;
    this.#channel = channel;
    this.#me = pg.escapeLiteral(instanceId);
    this.#beginNotifying = `BEGIN; SELECT pg_notify(${pg.escapeLiteral(channel)}, ${this.#me})`;
    this.instanceId = instanceId;
    this.#leaseMs = leaseMs;
    this.#renewTimer = setInterval(
      () => {
        this.#renewing = this.#renew();
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    this.#renewTimer.unref();
    // A parked action stranded by concurrent statements waits at most about a lease.
    this.#sweepTimer = setInterval(() => {
      this.#sweeping = this.#sweep().catch(() => undefined);
    }, leaseMs);
    this.#sweepTimer.unref();
    this.#history = { pool: this.#db, instanceId, transaction: (body) => this.#transaction(body), workAdded: () => this.#notify() };
  }

  /**
   * Calls `listener` when another instance gave the fleet work (see wakeups.ts); returns the
   * function that stops it. The dispatcher's wake-up, so it need not poll often.
   */
  onWork(listener: () => void): () => void {
    return this.#wakeups.add(listener);
  }

  /** Resolves once notifications are listened to (tests). */
  listening(): Promise<void> {
    return this.#wakeups.ready();
  }

  async loadCheckpoints(): Promise<Map<string, string>> {
    const { rows } = await this.#db.query<{ channel: string; replay_id: string }>('SELECT channel, replay_id FROM checkpoints');
    return new Map(rows.map((r) => [r.channel, r.replay_id]));
  }

  async loadCommitMarks(): Promise<Map<string, number>> {
    const { rows } = await this.#db.query<{ channel: string; commit_timestamp: number }>(
      'SELECT channel, commit_timestamp FROM checkpoints WHERE commit_timestamp IS NOT NULL',
    );
    return new Map(rows.map((r) => [r.channel, r.commit_timestamp]));
  }

  async commitBatch(
    actions: readonly NewAction[],
    deadLetters: readonly NewDeadLetter[],
    checkpoints: ReadonlyMap<string, string>,
    marks?: ReadonlyMap<string, number>,
  ): Promise<CommitResult> {
    // One statement, one round trip (commit.ts); the other instances are told at its commit.
    const statement = commitStatement(actions, deadLetters, checkpoints, marks, Date.now(), { channel: this.#channel, instanceId: this.instanceId });
    const { inserted, deadLettered } = await runCommit(this.#db, statement);
    return { inserted, duplicates: actions.length - inserted + deadLetters.length - deadLettered, deadLettered };
  }

  async claimDue(limit: number, now: number): Promise<StoredAction[]> {
    // Named: each connection plans the claim once, not at every round.
    const { rows } = await this.#db.query<DbActionRow>({ name: 'sfmc-claim', text: CLAIM, values: [now, limit, this.instanceId, this.#leaseMs] });
    rows.sort((a, b) => a.id - b.id);
    for (const r of rows) {
      this.#inflight.add(r.id);
      if (r.attempts > 0) this.#tried.add(r.id);
    }
    return rows.map(toStored);
  }

  async recordAttempts(unordered: readonly AttemptRecord[], now: number): Promise<void> {
    // In id order: every statement here, and the lease renewal, lock rows in that order, so two
    // transactions of this instance never wait for each other in a cycle (see #renew).
    const records = [...unordered].sort((a, b) => a.id - b.id);
    const delivered = records.filter((r) => r.status === 'delivered');
    const retries = records.filter((r) => r.status === 'retry');
    const dead = records.filter((r) => r.status === 'dead');
    const accepted = records.filter((r) => r.status === 'accepted');
    const me = this.instanceId;
    // Status events (feedback) of the settlements, written only for rows this instance still held.
    const statuses = new Map<number, StatusEventFields>();
    for (const r of records) if ((r.status === 'delivered' || r.status === 'dead') && r.feedback) statuses.set(r.id, r.feedback);
    // Only rows this instance still holds: if its lease ran out and another instance claimed
    // the action, that instance records the outcome.
    // A settled action frees its contact's next one, and a released claim is due again: an
    // instance waiting for either is told at commit.
    // A settlement of a possible retry head releases its contact (see "Parking").
    const release = records.some((r) => this.#tried.has(r.id));
    const settling = (settle: string, select: string): string => (release ? releasing(settle, select) : `WITH u AS (${settle}) ${select}`);
    const deliveredArgs = () => [delivered.map((r) => r.id), ...columnArrays(delivered.map((r) => deliveryColumns(r.ids))), now, me];
    if (delivered.length === records.length && statuses.size === 0) {
      // The common round: all delivered, no status events. One statement, one round trip.
      await this.#db.query({
        name: release ? 'sfmc-settle-delivered-release' : 'sfmc-settle-delivered',
        text: settling(SETTLE_DELIVERED, 'SELECT count(*) AS n, (SELECT pg_notify($7, $8)) AS woke FROM u'),
        values: [...deliveredArgs(), this.#channel, me],
      });
      this.#settled(records);
      return;
    }
    // Several statements: the rows are all locked first, in id order, in BEGIN's round trip;
    // statement by statement they would be locked delivered first, then retries, and so on.
    const lock = records.map((r) => r.id);
    await this.#transaction(
      async (c) => {
        if (delivered.length > 0) {
          const r = await c.query<{ id: string }>(settling(SETTLE_DELIVERED, 'SELECT id FROM u'), deliveredArgs());
          if (statuses.size > 0)
            await addStatuses(
              c,
              r.rows.map((x) => Number(x.id)),
              statuses,
              now,
            );
        }
        if (retries.length > 0) {
          // The contact waits for the retry: named in retry_heads, its later unclaimed actions parked.
          await c.query(
            `WITH u AS (
            UPDATE actions a SET attempts = a.attempts + 1, next_attempt_at = x.t, error_code = x.c, error = x.e,
              claimed_by = ${WAITING}, claimed_until = x.t
            FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS x(id, t, c, e)
            WHERE a.id = x.id AND a.claimed_by = $6 AND a.status ${UNSETTLED}
            RETURNING a.id, a.contact_key, x.c, x.e),
          heads AS (
            INSERT INTO retry_heads (contact_key, head_id)
              SELECT DISTINCT ON (contact_key) contact_key, id FROM u WHERE contact_key <> '' ORDER BY contact_key, id
            ON CONFLICT (contact_key) DO UPDATE SET head_id = excluded.head_id RETURNING contact_key, head_id),
          parks AS (
            UPDATE actions p SET parked = true FROM heads WHERE p.status = 'pending' AND p.contact_key = heads.contact_key
              AND p.id > heads.head_id AND p.claimed_by IS NULL AND NOT p.parked)
          INSERT INTO attempts (action_id, at, outcome, code, detail, instance) SELECT id, $5, 'retry', c, e, $6 FROM u`,
            [
              retries.map((r) => r.id),
              retries.map((r) => Math.max(1, r.nextAttemptAt)),
              retries.map((r) => r.code),
              retries.map((r) => r.reason),
              now,
              me,
            ],
          );
        }
        if (accepted.length > 0) {
          // Still pending, claim released, until the results say the row is written. While it is
          // pending, later actions of the same contact wait (the claim's per-contact rule).
          await c.query(
            `UPDATE actions a SET request_id = x.r, request_row = x.n, next_attempt_at = x.t, claimed_by = ${WAITING}, claimed_until = x.t
          FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[]) AS x(id, r, n, t)
          WHERE a.id = x.id AND a.claimed_by = $5 AND a.status ${UNSETTLED}`,
            [
              accepted.map((r) => r.id),
              accepted.map((r) => r.requestId),
              accepted.map((r) => (r.requestId === null ? null : r.row)),
              accepted.map((r) => Math.max(1, r.nextAttemptAt)),
              me,
            ],
          );
        }
        if (dead.length > 0) {
          const r = await c.query<{ action_id: string }>(
            settling(
              `UPDATE actions a SET status = 'dead', attempts = a.attempts + 1, error_code = x.c, error = x.e, claimed_until = NULL
            FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(id, c, e)
            WHERE a.id = x.id AND a.claimed_by = $5 AND a.status ${UNSETTLED}
            RETURNING a.id, a.contact_key, x.c, x.e`,
              `INSERT INTO attempts (action_id, at, outcome, code, detail, instance) SELECT id, $4, 'dead', c, e, $5 FROM u RETURNING action_id`,
            ),
            [dead.map((r) => r.id), dead.map((r) => r.code), dead.map((r) => r.reason), now, me],
          );
          if (statuses.size > 0)
            await addStatuses(
              c,
              r.rows.map((x) => Number(x.action_id)),
              statuses,
              now,
            );
        }
      },
      { notify: records.length > 0, lock },
    );
    this.#settled(records);
  }

  #settled(records: readonly AttemptRecord[]): void {
    for (const r of records) {
      this.#inflight.delete(r.id);
      this.#tried.delete(r.id);
    }
  }

  claimStatuses(limit: number, now: number, leaseMs: number): Promise<PendingStatus[]> {
    return claimStatuses(this.#db, limit, now, leaseMs);
  }

  settleStatuses(published: readonly number[], refused: readonly { id: number; reason: string }[], now: number): Promise<void> {
    return settleStatuses(this.#db, published, refused, now);
  }

  releaseStatuses(ids: readonly number[]): Promise<void> {
    return releaseStatuses(this.#db, ids);
  }

  statusBacklog(): Promise<number> {
    return statusBacklog(this.#db);
  }

  async addStatus(fields: StatusEventFields, now: number): Promise<void> {
    await this.#db.query('INSERT INTO status_events (action_id, fields, created_at) VALUES (0, $1, $2)', [JSON.stringify(fields), now]);
  }

  async recoverInflight(): Promise<number> {
    // A row locked now is being settled or renewed by its holder: skipped, not waited for.
    const r = await this.#db.query(`UPDATE actions SET claimed_by = NULL, claimed_until = NULL WHERE id IN (
      SELECT id FROM actions WHERE status = 'pending' AND claimed_by IS NOT NULL AND claimed_by <> ${WAITING} AND claimed_until <= ${DB_NOW}
      ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)`);
    if ((r.rowCount ?? 0) > 0) await this.#notify();
    await this.#sweep();
    return r.rowCount ?? 0;
  }

  /** Un-parks the actions no retry head holds any more (see "Parking"); the fleet is told when some are. */
  async #sweep(): Promise<void> {
    if (this.#closed) return;
    const { rows } = await this.#db.query<{ n: number }>({ name: 'sfmc-sweep', text: SWEEP });
    if (rows[0]!.n > 0) await this.#notify();
  }

  async backlog(upTo?: number): Promise<number> {
    // Counted through the three queue indexes (unclaimed, parked, leased). With `upTo`, the count stops
    // there: the backpressure gate only asks whether the backlog reached its bound, and a full
    // count of a large backlog before every fetch would cost more than the fetch.
    const { rows } = await this.#db.query<{ n: number }>(backlogCount(upTo));
    return rows[0]!.n;
  }

  async nextDueAt(): Promise<number | undefined> {
    // Among the actions this instance could claim some day: first of their contact, not in
    // flight here. Another instance's claim counts as due when its lease runs out, and so does
    // a later action of the same contact in flight (a requeued dead letter waits for it). The
    // unclaimed and the leased actions are read through their own indexes.
    const dueAt = `GREATEST(a.next_attempt_at, COALESCE(a.claimed_until, 0),
        CASE WHEN a.contact_key = '' THEN 0 ELSE COALESCE((SELECT max(l.claimed_until) FROM actions l
          WHERE l.status = 'pending' AND l.contact_key = a.contact_key AND l.id > a.id AND l.claimed_by <> ${WAITING}), 0) END)`;
    const first = `(a.contact_key = '' OR NOT EXISTS (
          SELECT 1 FROM actions e WHERE e.status = 'pending' AND e.contact_key = a.contact_key AND e.id < a.id))`;
    const { rows } = await this.#db.query<{ t: number | null }>({
      name: 'sfmc-next-due',
      text: `SELECT min(t) AS t FROM (
        SELECT min(${dueAt}) AS t FROM actions a WHERE a.status = 'pending' AND a.claimed_by IS NULL AND NOT a.parked AND ${first}
        UNION ALL
        SELECT min(${dueAt}) AS t FROM actions a WHERE a.status = 'pending' AND a.claimed_by IS NOT NULL AND a.claimed_by <> $1 AND ${first}) x`,
      values: [this.instanceId],
    });
    return rows[0]?.t ?? undefined;
  }

  async actionsFor(recordOrContactKey: string): Promise<ActionRow[]> {
    const { rows } = await this.#db.query<DbActionRow & { inflight: boolean }>(
      `SELECT ${COLUMNS}, ${INFLIGHT} AS inflight FROM actions WHERE record_id = $1 ORDER BY id`,
      [recordOrContactKey],
    );
    return rows.map((r) => toActionRow(r, r.inflight));
  }

  async counts(): Promise<Record<ActionRow['status'], number>> {
    const out: Record<ActionRow['status'], number> = { pending: 0, inflight: 0, delivered: 0, dead: 0 };
    const { rows } = await this.#db.query<{ status: 'pending' | 'delivered' | 'dead'; inflight: boolean; n: number }>(
      `SELECT status, ${INFLIGHT} AS inflight, count(*)::int AS n
       FROM actions GROUP BY 1, 2`,
    );
    for (const r of rows) out[r.inflight ? 'inflight' : r.status] += r.n;
    return out;
  }

  trace(recordOrContactKey: string): Promise<TraceEntry[]> {
    return traceOf(this.#history, recordOrContactKey);
  }

  async pruneDelivered(deliveredBefore: number, limit: number): Promise<number> {
    // One short statement: the attempt rows go with their action. Rows another instance is
    // pruning at the same moment are skipped, not waited for.
    const r = await this.#db.query(
      `WITH doomed AS (
        SELECT id FROM actions WHERE status = 'delivered' AND delivered_at < $1
        ORDER BY delivered_at LIMIT $2 FOR UPDATE SKIP LOCKED),
      history AS (DELETE FROM attempts WHERE action_id IN (SELECT id FROM doomed))
      DELETE FROM actions WHERE id IN (SELECT id FROM doomed)`,
      [deliveredBefore, limit],
    );
    return r.rowCount ?? 0;
  }

  async checkWritable(): Promise<void> {
    if (this.#closed) throw new Error('the store is closed');
    // A write that touches no row still needs a connection, a writable server (not a standby,
    // not read-only) and the table's write privilege; it is rolled back.
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL statement_timeout = 5000');
      await client.query('UPDATE checkpoints SET updated_at = updated_at WHERE false');
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  deadLetters(filter: DeadLetterFilter = {}): Promise<ActionRow[]> {
    return deadLettersOf(this.#history, filter);
  }

  requeue(ids: readonly number[], now: number): Promise<number[]> {
    return requeueDead(this.#history, ids, now);
  }

  discard(ids: readonly number[], now: number, note = 'discarded from the dead-letter queue'): Promise<number[]> {
    return discardDead(this.#history, ids, now, note);
  }

  replaceDeadLetter(id: number, actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], now: number): Promise<ReplaceResult> {
    return replaceDead(this.#history, id, actions, deadLetters, now);
  }

  attemptsOf(id: number): Promise<AttemptRow[]> {
    return attemptsOfAction(this.#history, id);
  }

  async claimRowVersions(claims: readonly RowVersionClaim[]): Promise<boolean[]> {
    if (claims.length === 0) return [];
    // One statement: the upsert only moves a row's version forward, and says which claims won.
    // Claims are deduplicated by the caller (the target collapses a batch per row).
    const { rows } = await this.#db.query<{ n: number }>(
      `WITH x AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS x(tbl, row_key, version, seq, n))
      INSERT INTO row_versions AS v (tbl, row_key, version, seq) SELECT tbl, row_key, version, seq FROM x ORDER BY n
      ON CONFLICT (tbl, row_key) DO UPDATE SET version = excluded.version, seq = excluded.seq
        WHERE (excluded.version, excluded.seq) >= (v.version, v.seq)
      RETURNING (SELECT n FROM x WHERE x.tbl = v.tbl AND x.row_key = v.row_key LIMIT 1) AS n`,
      [claims.map((c) => c.table), claims.map((c) => c.rowKey), claims.map((c) => c.version), claims.map((c) => c.seq)],
    );
    const won = new Set(rows.map((r) => Number(r.n)));
    return claims.map((_, i) => won.has(i + 1));
  }

  async loadJobState(name: string): Promise<unknown> {
    const { rows } = await this.#db.query<{ state: unknown }>('SELECT state FROM jobs WHERE name = $1', [name]);
    return rows[0]?.state;
  }

  async saveJobState(name: string, state: unknown): Promise<void> {
    if (state === undefined) {
      await this.#db.query('DELETE FROM jobs WHERE name = $1', [name]);
      return;
    }
    await this.#db.query(
      `INSERT INTO jobs (name, state, updated_at) VALUES ($1, $2::json, $3)
      ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      [name, JSON.stringify(state), Date.now()],
    );
  }

  /**
   * Closes the pool. A clean close hands this instance's unsettled claims back at once;
   * `keepClaims` leaves them to run out, as a crash would (tests).
   */
  async close(options: { keepClaims?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    clearInterval(this.#sweepTimer);
    await this.#renewing;
    await this.#sweeping;
    if (!options.keepClaims && this.#inflight.size > 0) {
      await this.#db
        .query(
          `UPDATE actions SET claimed_by = NULL, claimed_until = NULL
        WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND status ${UNSETTLED}`,
          [[...this.#inflight], this.instanceId],
        )
        .catch(() => undefined);
      // Handed back: another instance takes them now, not at its next poll.
      await this.#notify().catch(() => undefined);
    }
    this.#inflight.clear();
    this.#tried.clear();
    await this.#wakeups.close();
    await this.#pool.end();
  }

  /**
   * Extends the leases of the actions this instance is delivering. It never waits for a row: a
   * locked one is being settled (the lease ends with it) or is taken again by the next renewal.
   * Waiting was a deadlock: the renewal locked this instance's rows in id order while a
   * settlement held some of them and waited for others (PostgreSQL 40P01 under a fleet's load).
   */
  async #renew(): Promise<void> {
    if (this.#inflight.size === 0 || this.#closed) return;
    try {
      await this.#pool.query(
        `UPDATE actions SET claimed_until = ${DB_NOW} + $3 WHERE id IN (
          SELECT id FROM actions WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND status ${UNSETTLED} FOR NO KEY UPDATE SKIP LOCKED)`,
        [[...this.#inflight], this.instanceId, this.#leaseMs],
      );
    } catch {
      // The next renewal tries again; leases are three renewals long.
    }
  }

  /** Tells the other instances there is work. */
  async #notify(): Promise<void> {
    await this.#db.query('SELECT pg_notify($1, $2)', [this.#channel, this.instanceId]);
  }

  /**
   * Runs `body` in a transaction, again from the start after a transient error (transient.ts).
   * With `notify`, the other instances are told at its commit; `lock` names actions to lock
   * first, in id order.
   */
  #transaction<T>(body: (client: pg.PoolClient) => Promise<T>, options: { notify?: boolean; lock?: readonly number[] } = {}): Promise<T> {
    return retryTransient(() => this.#transactionOnce(body, options), this.#onRetry);
  }

  async #transactionOnce<T>(body: (client: pg.PoolClient) => Promise<T>, options: { notify?: boolean; lock?: readonly number[] }): Promise<T> {
    const client = await this.#pool.connect();
    try {
      // One round trip: BEGIN, the notification, the locks (ids are integers: safe as a literal).
      let begin = options.notify ? this.#beginNotifying : 'BEGIN';
      if (options.lock && options.lock.length > 0)
        begin += `; SELECT FROM actions WHERE id = ANY('{${[...options.lock].sort((a, b) => a - b).join(',')}}'::bigint[])
          AND claimed_by = ${this.#me} AND status ${UNSETTLED} ORDER BY id FOR NO KEY UPDATE`;
      await client.query(begin);
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

/** Delivery columns as the three parallel arrays `unnest` takes. */
function columnArrays(cols: readonly DeliveryColumns[]): [(string | null)[], (string | null)[], (string | null)[]] {
  return [cols.map((c) => c.request_id), cols.map((c) => c.instance_id), cols.map((c) => c.message_key)];
}
