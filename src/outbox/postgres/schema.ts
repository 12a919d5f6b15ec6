/**
 * Versioned migrations of the Postgres store, and the start-up step that applies them. Several
 * instances may start at once on a fresh database: one advisory lock per schema serializes
 * them, so each migration runs exactly once and the others find it done.
 */
import type { PoolClient } from 'pg';

/** Migrations in order; version N is `PG_MIGRATIONS[N - 1]`. Never edit one that has shipped: append. */
export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE checkpoints (
     channel    text PRIMARY KEY,
     replay_id  text NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE TABLE actions (
     id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     idempotency_key text NOT NULL UNIQUE,
     status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
     route           text NOT NULL,
     target          text,
     mode            text,
     batch_key       text,
     channel         text NOT NULL,
     replay_id       text NOT NULL,
     record_id       text NOT NULL,
     contact_key     text NOT NULL,
     correlation_id  text NOT NULL,
     -- json, not jsonb: stored as written (key order kept), cheaper to insert.
     payload         json NOT NULL,
     attempts        integer NOT NULL DEFAULT 0,
     next_attempt_at bigint NOT NULL DEFAULT 0,
     -- A claim is a lease: the instance delivering the action renews it; when that instance
     -- dies the lease runs out and any instance may claim the action again.
     claimed_by      text,
     claimed_until   bigint,
     error_code      text,
     error           text,
     request_id      text,
     instance_id     text,
     message_key     text,
     received_at     bigint NOT NULL,
     created_at      bigint NOT NULL,
     delivered_at    bigint
   );
   -- Due actions are found in id order among the pending ones only.
   CREATE INDEX actions_pending ON actions (id) WHERE status = 'pending';
   -- The per-contact order rule asks "is an earlier action of this contact still pending?".
   CREATE INDEX actions_contact_pending ON actions (contact_key, id) WHERE status = 'pending';
   -- The Contact Key is the record's 18-character ID, so one index serves trace look-ups.
   CREATE INDEX actions_record ON actions (record_id);
   CREATE TABLE attempts (
     action_id bigint NOT NULL REFERENCES actions (id),
     at        bigint NOT NULL,
     outcome   text NOT NULL,
     code      text,
     detail    text,
     instance  text
   );
   CREATE INDEX attempts_action ON attempts (action_id);`,
  // 2 (trace and retention): what `trace` shows and what retention prunes by.
  `ALTER TABLE actions ADD COLUMN change_type text;
   -- A history is read in the order it was written; at can tie (one ms), and rows have no
   -- physical order to rely on. Existing rows get numbers as they are filled in.
   ALTER TABLE attempts ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
   DROP INDEX attempts_action;
   CREATE INDEX attempts_action ON attempts (action_id, seq);
   -- Most Contact Keys are the record ID, already indexed; only the rows where a mapper chose
   -- another key are indexed here, so the common insert pays nothing for it.
   CREATE INDEX actions_contact ON actions (contact_key) WHERE contact_key <> record_id;
   -- Retention deletes delivered rows oldest first.
   CREATE INDEX actions_delivered ON actions (delivered_at) WHERE status = 'delivered';`,
  // 3 (dead-letter queue): a discarded dead letter keeps its row and history but leaves the queue.
  `ALTER TABLE actions ADD COLUMN discarded_at bigint;
   CREATE INDEX actions_dead ON actions (route, id) WHERE status = 'dead';`,
  // 4 (reconciliation): the latest CDC commitTimestamp per channel, committed with the replay ID.
  `ALTER TABLE checkpoints ADD COLUMN commit_timestamp bigint;`,
  // 5 (data extensions): an action accepted asynchronously stays pending with request_id and its
  // row's position until the results say it is written; row_versions keeps each data extension
  // row's newest version sent (newest wins across retries, restarts and backfills); jobs keeps a
  // backfill's progress.
  `ALTER TABLE actions ADD COLUMN request_row integer;
   CREATE TABLE row_versions (
     tbl     text NOT NULL,
     row_key text NOT NULL,
     version bigint NOT NULL,
     seq     bigint NOT NULL,
     PRIMARY KEY (tbl, row_key)
   );
   CREATE TABLE jobs (
     name       text PRIMARY KEY,
     state      json NOT NULL,
     updated_at bigint NOT NULL
   );`,
  // 6 (issue 14): the admin's own correlation ID (Correlation_Id__c), shown by trace and searchable by it.
  `ALTER TABLE actions ADD COLUMN admin_correlation_id text;
   CREATE INDEX actions_admin_correlation ON actions (admin_correlation_id) WHERE admin_correlation_id IS NOT NULL;`,
  // 7 (feedback): delivery status events, written with the settlement that produced them,
  // claimed by one instance at a time (a lease, like actions), deleted once Salesforce took
  // them; a refused one keeps its reason (failed_at set).
  `CREATE TABLE status_events (
     id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     action_id     bigint NOT NULL,
     fields        jsonb NOT NULL,
     created_at    bigint NOT NULL,
     claimed_until bigint,
     failed_at     bigint,
     error         text
   );
   CREATE INDEX status_events_pending ON status_events (id) WHERE failed_at IS NULL;`,
  // 8 (issue 18, real time): the claim walks only what it could take. Unclaimed pending actions
  // in id order, and claimed ones by the end of their lease (a dead instance's run out first):
  // actions in flight are in neither walk's way. Together they replace actions_pending. Every
  // settled row leaves a dead entry in these small indexes until vacuum; a plain index scan
  // marks each one dead the first time it meets it and skips it after, and vacuuming the hot
  // table often keeps them few.
  `DROP INDEX actions_pending;
   CREATE INDEX actions_unclaimed ON actions (id) WHERE status = 'pending' AND claimed_by IS NULL;
   CREATE INDEX actions_leased ON actions (claimed_until) WHERE status = 'pending' AND claimed_by IS NOT NULL;
   ALTER TABLE actions SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
     autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 50000,
     autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 50000, autovacuum_vacuum_cost_delay = 0);`,
  // 9: left empty. The parking behind any pending head (60ad57b) shipped as migration 9 and was
  // reverted (ef6b0fa); a database it migrated is at 9, with a parked column: migration 10
  // builds on either.
  `SELECT 1;`,
  // 10 (issue 18, blocked contacts): a contact's later actions pile up only behind an action
  // waiting for a retry (one in flight settles within a lease). retry_heads names the contacts
  // whose head waits for a retry; while it does, the contact's later unclaimed actions are
  // parked, out of the unclaimed index, so the claim does not read them (store.ts, "Parking").
  // Existing waiting heads are recorded and their contacts' later actions parked here (what the
  // reverted migration 9 parked is un-parked first).
  `CREATE TABLE retry_heads (
     contact_key text PRIMARY KEY,
     head_id     bigint NOT NULL
   );
   ALTER TABLE actions DROP COLUMN IF EXISTS releases_next, DROP COLUMN IF EXISTS parks, DROP COLUMN IF EXISTS parked;
   DROP INDEX IF EXISTS actions_parked;
   ALTER TABLE actions ADD COLUMN parked boolean NOT NULL DEFAULT false;
   INSERT INTO retry_heads (contact_key, head_id)
     SELECT DISTINCT ON (contact_key) contact_key, id FROM actions
     WHERE status = 'pending' AND claimed_by = '' AND attempts > 0 AND contact_key <> '' ORDER BY contact_key, id;
   UPDATE actions a SET parked = true FROM retry_heads h
     WHERE a.status = 'pending' AND a.claimed_by IS NULL AND a.contact_key = h.contact_key AND a.id > h.head_id;
   DROP INDEX IF EXISTS actions_unclaimed;
   CREATE INDEX actions_unclaimed ON actions (id) WHERE status = 'pending' AND claimed_by IS NULL AND NOT parked;
   CREATE INDEX actions_parked ON actions (contact_key, id) WHERE status = 'pending' AND parked;`,
];

/** A schema name the store accepts: it is spliced into SQL, so only plain identifiers. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Creates the schema if needed and applies the missing migrations, under an advisory lock
 * held for the whole step. Refuses a database migrated by a newer bridge.
 * @returns the schema version after migrating.
 */
export async function migratePostgres(client: PoolClient, schema: string): Promise<number> {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const lockKey = `sfmc-bridge:migrate:${schema}`;
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".schema_version (
      version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM "${schema}".schema_version`);
    const current = rows[0]?.v ?? 0;
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`schema "${schema}" is at version ${current}, newer than this bridge knows (${PG_MIGRATIONS.length}): upgrade the bridge`);
    }
    for (let version = current + 1; version <= PG_MIGRATIONS.length; version++) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO "${schema}"`);
        await client.query(PG_MIGRATIONS[version - 1]!);
        await client.query('INSERT INTO schema_version (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return PG_MIGRATIONS.length;
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]);
  }
}
