/**
 * The shared store on PostgreSQL: several bridge instances use one outbox. Same contract and
 * semantics as the embedded store, plus what sharing needs:
 *
 * - Claims are written: `claimed_by` names the instance and `claimed_until` ends its lease,
 *   taken with `FOR UPDATE SKIP LOCKED` so two instances never hand out the same action. The
 *   holder renews its leases while delivering; a dead instance's leases run out and its actions
 *   are due again (`recoverInflight` clears the expired ones). Leases are timed on the
 *   database's clock, so instances on different machines agree on when one ran out.
 * - Order per contact key: an action is claimed only when no earlier action (lower id) of the
 *   same contact key is still pending, whether that one is waiting for a retry, unclaimed or
 *   in flight at any instance. So at most one action per contact is in flight in the whole
 *   fleet, and a contact's actions reach Marketing Cloud in outbox order. Actions without a
 *   contact key are not ordered.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ActionTarget, DeliveryIds, NewAction, NewDeadLetter, StoredAction } from '../model.ts';
import type { ActionRow, AttemptRecord, CommitResult, Store } from './store.ts';
import { migratePostgres, SCHEMA_NAME } from './postgres-schema.ts';

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
}

/** The database's clock in milliseconds: leases are compared on one clock for the whole fleet. */
const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

const COLUMNS = `id, idempotency_key, status, route, target, mode, batch_key, channel, replay_id, record_id, contact_key,
  correlation_id, payload, attempts, error_code, error, request_id, instance_id, message_key, received_at, created_at,
  delivered_at, claimed_by, claimed_until`;

// Due, unclaimed (or lease run out), and first of its contact key among the pending actions.
const CLAIM = `WITH picked AS (
    SELECT a.id FROM actions a
    WHERE a.status = 'pending' AND a.next_attempt_at <= $1
      AND (a.claimed_until IS NULL OR a.claimed_until <= ${DB_NOW})
      AND (a.contact_key = '' OR NOT EXISTS (
        SELECT 1 FROM actions e WHERE e.status = 'pending' AND e.contact_key = a.contact_key AND e.id < a.id))
    ORDER BY a.id LIMIT $2
    FOR UPDATE OF a SKIP LOCKED)
  UPDATE actions SET claimed_by = $3, claimed_until = ${DB_NOW} + $4
  FROM picked WHERE actions.id = picked.id
  RETURNING ${COLUMNS.split(',').map((c) => `actions.${c.trim()}`).join(', ')}`;

interface DbActionRow {
  id: number; idempotency_key: string; status: 'pending' | 'delivered' | 'dead'; route: string; target: string | null;
  mode: 'batch' | 'single' | null; batch_key: string | null; channel: string; replay_id: string;
  record_id: string; contact_key: string; correlation_id: string; payload: unknown; attempts: number;
  error_code: string | null; error: string | null; request_id: string | null; instance_id: string | null;
  message_key: string | null; received_at: number; created_at: number; delivered_at: number | null;
  claimed_by: string | null; claimed_until: number | null;
}

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
    options: `-c search_path=${schema} -c synchronous_commit=${options.synchronousCommit ? 'on' : 'off'}`,
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
  return new PostgresStore(pool, instanceId, options.claimLeaseMs ?? 30_000);
}

/** The shared store; see the file comment for claims, leases and per-contact order. */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #leaseMs: number;
  /** Claimed by this instance and not yet settled: their leases are renewed. */
  readonly #inflight = new Set<number>();
  readonly #renewTimer: NodeJS.Timeout;
  #renewing: Promise<void> = Promise.resolve();
  #closed = false;
  /** This instance's name in claims and attempts. */
  readonly instanceId: string;

  constructor(pool: pg.Pool, instanceId: string, leaseMs: number) {
    this.#pool = pool;
    this.instanceId = instanceId;
    this.#leaseMs = leaseMs;
    this.#renewTimer = setInterval(() => { this.#renewing = this.#renew(); }, Math.max(50, Math.floor(leaseMs / 3)));
    this.#renewTimer.unref();
  }

  async loadCheckpoints(): Promise<Map<string, string>> {
    const { rows } = await this.#pool.query<{ channel: string; replay_id: string }>('SELECT channel, replay_id FROM checkpoints');
    return new Map(rows.map((r) => [r.channel, r.replay_id]));
  }

  async commitBatch(actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], checkpoints: ReadonlyMap<string, string>): Promise<CommitResult> {
    // Serialized before the transaction: a payload that cannot be stored fails the whole batch.
    const payloads = actions.map((a) => JSON.stringify(a.payload));
    const sources = deadLetters.map((d) => JSON.stringify(d.source ?? null));
    const now = Date.now();
    return this.#transaction(async (c) => {
      let inserted = 0;
      let deadLettered = 0;
      if (actions.length > 0) {
        // One statement per batch; WITH ORDINALITY keeps ids in batch order (outbox order).
        const r = await c.query(`INSERT INTO actions (idempotency_key, status, route, target, mode, batch_key, channel, replay_id,
            record_id, contact_key, correlation_id, payload, received_at, created_at)
          SELECT k, 'pending', ro, t, m, b, ch, rp, rec, ck, co, p::json, ra, $13
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                      $9::text[], $10::text[], $11::text[], $12::bigint[])
            WITH ORDINALITY AS x(k, ro, t, m, b, ch, rp, rec, ck, co, p, ra, n)
          ORDER BY n
          ON CONFLICT (idempotency_key) DO NOTHING`, [
          actions.map((a) => a.idempotencyKey), actions.map((a) => a.route), actions.map((a) => a.target),
          actions.map((a) => a.mode), actions.map((a) => a.batchKey), actions.map((a) => a.channel),
          actions.map((a) => a.replayId), actions.map((a) => a.recordId), actions.map((a) => a.contactKey),
          actions.map((a) => a.correlationId), payloads, actions.map((a) => a.receivedAt), now,
        ]);
        inserted = r.rowCount ?? 0;
      }
      if (deadLetters.length > 0) {
        const r = await c.query(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key,
            correlation_id, payload, error_code, error, received_at, created_at)
          SELECT k, 'dead', ro, ch, rp, rec, ck, co, p::json, ec, er, $10, $10
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $11::text[])
            WITH ORDINALITY AS x(k, ro, ch, rp, rec, ck, co, ec, er, p, n)
          ORDER BY n
          ON CONFLICT (idempotency_key) DO NOTHING`, [
          deadLetters.map((d) => d.idempotencyKey), deadLetters.map((d) => d.route), deadLetters.map((d) => d.channel),
          deadLetters.map((d) => d.replayId), deadLetters.map((d) => d.recordId), deadLetters.map((d) => d.contactKey),
          deadLetters.map((d) => d.correlationId), deadLetters.map((d) => d.code), deadLetters.map((d) => d.reason), now, sources,
        ]);
        deadLettered = r.rowCount ?? 0;
      }
      if (checkpoints.size > 0) {
        await c.query(`INSERT INTO checkpoints (channel, replay_id, updated_at)
          SELECT ch, rp, $3 FROM unnest($1::text[], $2::text[]) AS x(ch, rp)
          ON CONFLICT (channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at`,
        [[...checkpoints.keys()], [...checkpoints.values()], now]);
      }
      return { inserted, duplicates: actions.length - inserted + deadLetters.length - deadLettered, deadLettered };
    });
  }

  async claimDue(limit: number, now: number): Promise<StoredAction[]> {
    const { rows } = await this.#pool.query<DbActionRow>(CLAIM, [now, limit, this.instanceId, this.#leaseMs]);
    rows.sort((a, b) => a.id - b.id);
    for (const r of rows) this.#inflight.add(r.id);
    return rows.map(toStored);
  }

  async recordAttempts(records: readonly AttemptRecord[], now: number): Promise<void> {
    const delivered = records.filter((r) => r.status === 'delivered');
    const retries = records.filter((r) => r.status === 'retry');
    const dead = records.filter((r) => r.status === 'dead');
    const me = this.instanceId;
    // Only rows this instance still holds: if its lease ran out and another instance claimed
    // the action, that instance records the outcome.
    await this.#transaction(async (c) => {
      if (delivered.length > 0) {
        await c.query(`UPDATE actions a SET status = 'delivered', attempts = a.attempts + 1, request_id = x.r, instance_id = x.i,
            message_key = x.m, delivered_at = $5, error_code = NULL, error = NULL, claimed_until = NULL
          FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS x(id, r, i, m)
          WHERE a.id = x.id AND a.claimed_by = $6 AND a.status = 'pending'`, [
          delivered.map((r) => r.id), delivered.map((r) => r.ids.requestId ?? null),
          delivered.map((r) => r.ids.eventInstanceId ?? null), delivered.map((r) => r.ids.messageKey ?? null), now, me,
        ]);
      }
      if (retries.length > 0) {
        await c.query(`WITH u AS (
            UPDATE actions a SET attempts = a.attempts + 1, next_attempt_at = x.t, error_code = x.c, error = x.e,
              claimed_by = NULL, claimed_until = NULL
            FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS x(id, t, c, e)
            WHERE a.id = x.id AND a.claimed_by = $6 AND a.status = 'pending'
            RETURNING a.id, x.c, x.e)
          INSERT INTO attempts (action_id, at, outcome, code, detail, instance) SELECT id, $5, 'retry', c, e, $6 FROM u`, [
          retries.map((r) => r.id), retries.map((r) => Math.max(1, r.nextAttemptAt)),
          retries.map((r) => r.code), retries.map((r) => r.reason), now, me,
        ]);
      }
      if (dead.length > 0) {
        await c.query(`WITH u AS (
            UPDATE actions a SET status = 'dead', attempts = a.attempts + 1, error_code = x.c, error = x.e, claimed_until = NULL
            FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(id, c, e)
            WHERE a.id = x.id AND a.claimed_by = $5 AND a.status = 'pending'
            RETURNING a.id, x.c, x.e)
          INSERT INTO attempts (action_id, at, outcome, code, detail, instance) SELECT id, $4, 'dead', c, e, $5 FROM u`, [
          dead.map((r) => r.id), dead.map((r) => r.code), dead.map((r) => r.reason), now, me,
        ]);
      }
    });
    for (const r of records) this.#inflight.delete(r.id);
  }

  async recoverInflight(): Promise<number> {
    const r = await this.#pool.query(`UPDATE actions SET claimed_by = NULL, claimed_until = NULL
      WHERE status = 'pending' AND claimed_until IS NOT NULL AND claimed_until <= ${DB_NOW}`);
    return r.rowCount ?? 0;
  }

  async backlog(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM actions WHERE status = 'pending'`);
    return rows[0]!.n;
  }

  async nextDueAt(): Promise<number | undefined> {
    // Among the actions this instance could claim some day: first of their contact, not in
    // flight here. Another instance's claim counts as due when its lease runs out.
    const { rows } = await this.#pool.query<{ t: number | null }>(`SELECT min(GREATEST(a.next_attempt_at, COALESCE(a.claimed_until, 0))) AS t
      FROM actions a
      WHERE a.status = 'pending' AND a.claimed_by IS DISTINCT FROM $1
        AND (a.contact_key = '' OR NOT EXISTS (
          SELECT 1 FROM actions e WHERE e.status = 'pending' AND e.contact_key = a.contact_key AND e.id < a.id))`, [this.instanceId]);
    return rows[0]?.t ?? undefined;
  }

  async actionsFor(recordOrContactKey: string): Promise<ActionRow[]> {
    const { rows } = await this.#pool.query<DbActionRow & { now: number }>(
      `SELECT ${COLUMNS}, ${DB_NOW} AS now FROM actions WHERE record_id = $1 ORDER BY id`, [recordOrContactKey]);
    return rows.map((r) => toActionRow(r, r.status === 'pending' && r.claimed_until !== null && r.claimed_until > r.now));
  }

  async counts(): Promise<Record<ActionRow['status'], number>> {
    const out: Record<ActionRow['status'], number> = { pending: 0, inflight: 0, delivered: 0, dead: 0 };
    const { rows } = await this.#pool.query<{ status: 'pending' | 'delivered' | 'dead'; inflight: boolean; n: number }>(
      `SELECT status, (status = 'pending' AND claimed_until IS NOT NULL AND claimed_until > ${DB_NOW}) AS inflight, count(*)::int AS n
       FROM actions GROUP BY 1, 2`);
    for (const r of rows) out[r.inflight ? 'inflight' : r.status] += r.n;
    return out;
  }

  /**
   * Closes the pool. A clean close hands this instance's unsettled claims back at once;
   * `keepClaims` leaves them to run out, as a crash would (tests).
   */
  async close(options: { keepClaims?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    await this.#renewing;
    if (!options.keepClaims && this.#inflight.size > 0) {
      await this.#pool.query(`UPDATE actions SET claimed_by = NULL, claimed_until = NULL
        WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND status = 'pending'`, [[...this.#inflight], this.instanceId]).catch(() => undefined);
    }
    this.#inflight.clear();
    await this.#pool.end();
  }

  /** Extends the leases of the actions this instance is delivering. */
  async #renew(): Promise<void> {
    if (this.#inflight.size === 0 || this.#closed) return;
    try {
      await this.#pool.query(`UPDATE actions SET claimed_until = ${DB_NOW} + $3
        WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND status = 'pending'`, [[...this.#inflight], this.instanceId, this.#leaseMs]);
    } catch {
      // The next renewal tries again; leases are three renewals long.
    }
  }

  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
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

function toStored(r: DbActionRow): StoredAction {
  return {
    id: r.id, idempotencyKey: r.idempotency_key, route: r.route, target: (r.target ?? 'journey') as ActionTarget,
    mode: r.mode ?? 'batch', batchKey: r.batch_key ?? '', channel: r.channel, replayId: r.replay_id,
    recordId: r.record_id, contactKey: r.contact_key, correlationId: r.correlation_id,
    payload: r.payload as StoredAction['payload'], receivedAt: r.received_at, attempts: r.attempts,
  };
}

function toActionRow(r: DbActionRow, inflight: boolean): ActionRow {
  const ids: DeliveryIds = {};
  if (r.request_id) ids.requestId = r.request_id;
  if (r.instance_id) ids.eventInstanceId = r.instance_id;
  if (r.message_key) ids.messageKey = r.message_key;
  return {
    id: r.id, idempotencyKey: r.idempotency_key, status: inflight ? 'inflight' : r.status, route: r.route, target: r.target,
    channel: r.channel, replayId: r.replay_id, recordId: r.record_id, contactKey: r.contact_key,
    correlationId: r.correlation_id, payload: r.payload, attempts: r.attempts,
    errorCode: r.error_code, error: r.error, deliveryIds: Object.keys(ids).length > 0 ? ids : null,
    createdAt: r.created_at, deliveredAt: r.delivered_at,
  };
}
