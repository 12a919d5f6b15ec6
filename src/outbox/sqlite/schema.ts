/** The embedded store's schema: its versioned migrations, and the look-up by record ID its index needs. */

/**
 * The record index is kept per bucket of 1,024 consecutive ids (migration 8): `(id >> 10,
 * record_id)`. A batch's rows have neighbouring ids, so its index entries land in the few leaf
 * pages of the newest bucket instead of one random page each across the whole index (each a 4 kB
 * page written to the WAL at commit and again at checkpoint: ~5 µs of an action's ~30 in the
 * store, measured with bench/store-micro.ts). A look-up seeks once per bucket, ~1,000 seeks for
 * a million rows, which `trace` does not feel.
 */
export const RECORD_BUCKET_SHIFT = 10;

/**
 * Deliveries (migration 9). An action delivered at its first attempt, the common case, is
 * recorded by appending a narrow row to `deliveries` (its id, when, Marketing Cloud's
 * identifiers) instead of rewriting the action's wide row (payload, keys, route) and adding it
 * to the delivered index: the rewrite dirtied every page of a batch's rows again, ~6 µs an
 * action against ~2 for the append (bench/store-micro.ts). Such an action keeps
 * `status = 'pending'` and `next_attempt_at = 0` in `actions`; the view `action_rows` reads
 * the two together (status 'delivered', one more attempt, the delivery's identifiers), and
 * every query that asks for what is still to do skips actions with a delivery row. An action
 * that was attempted before (a retry, an accepted asynchronous request, a requeued dead
 * letter) is still delivered by updating its row, which also takes it out of the retry index.
 */
export const ACTION_ROWS = 'action_rows';

/** The rows of one record ID (bind it once), through the bucketed index; add `ORDER BY`. */
export function byRecordId(columns: string): string {
  const b = RECORD_BUCKET_SHIFT;
  // CROSS JOIN keeps the buckets outside: one index seek per bucket, never a table scan.
  return `SELECT ${columns} FROM (WITH RECURSIVE buckets(b) AS (SELECT (SELECT min(id) FROM actions) >> ${b}
      UNION ALL SELECT b + 1 FROM buckets WHERE b < (SELECT max(id) FROM actions) >> ${b}) SELECT b FROM buckets) AS buckets
    CROSS JOIN action_rows AS actions ON (actions.id >> ${b}) = buckets.b AND actions.record_id = ?`;
}

/** Versioned migrations of the embedded store, applied in order, each in its own transaction. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE checkpoints (
     channel    TEXT PRIMARY KEY,
     replay_id  TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE actions (
     id              INTEGER PRIMARY KEY,
     idempotency_key TEXT NOT NULL UNIQUE,
     status          TEXT NOT NULL CHECK (status IN ('pending', 'inflight', 'delivered', 'dead')),
     route           TEXT NOT NULL,
     target          TEXT,
     mode            TEXT,
     batch_key       TEXT,
     channel         TEXT NOT NULL,
     replay_id       TEXT NOT NULL,
     record_id       TEXT NOT NULL,
     contact_key     TEXT NOT NULL,
     correlation_id  TEXT NOT NULL,
     payload         TEXT NOT NULL,
     attempts        INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL DEFAULT 0,
     error_code      TEXT,
     error           TEXT,
     request_id      TEXT,
     instance_id     TEXT,
     message_key     TEXT,
     received_at     INTEGER NOT NULL,
     created_at      INTEGER NOT NULL,
     delivered_at    INTEGER
   );
   -- New actions are found by id order; only retries need an index of their own.
   CREATE INDEX actions_retry ON actions (next_attempt_at) WHERE status = 'pending' AND next_attempt_at > 0;
   -- The Contact Key is the record's 18-character ID, so one index serves both look-ups.
   CREATE INDEX actions_record ON actions (record_id);
   CREATE TABLE attempts (
     action_id INTEGER NOT NULL REFERENCES actions (id),
     at        INTEGER NOT NULL,
     outcome   TEXT NOT NULL,
     code      TEXT,
     detail    TEXT
   );
   CREATE INDEX attempts_action ON attempts (action_id);`,
  // 2 (issue 6, trace and retention): what `trace` shows and what retention prunes by.
  `ALTER TABLE actions ADD COLUMN change_type TEXT;
   -- Most Contact Keys are the record ID, already indexed; only the rows where a mapper chose
   -- another key are indexed here, so the common insert pays nothing for it.
   CREATE INDEX actions_contact ON actions (contact_key) WHERE contact_key <> record_id;
   -- Retention deletes delivered rows oldest first.
   CREATE INDEX actions_delivered ON actions (delivered_at) WHERE status = 'delivered';`,
  // Dead-letter queue: a discarded dead letter keeps its row and history but leaves the queue.
  `ALTER TABLE actions ADD COLUMN discarded_at INTEGER;
   CREATE INDEX actions_dead ON actions (route, id) WHERE status = 'dead';`,
  // The latest CDC commitTimestamp per channel, committed with the replay ID.
  `ALTER TABLE checkpoints ADD COLUMN commit_timestamp INTEGER;`,
  // 5 (data extensions): an action Marketing Cloud accepted asynchronously stays pending with
  // request_id set and its row's position in that request, until the results say it is written.
  // row_versions keeps each data extension row's newest version sent, so an older change (a
  // retry, a backfill page) never overwrites a newer one; jobs keeps a backfill's progress.
  `ALTER TABLE actions ADD COLUMN request_row INTEGER;
   CREATE TABLE row_versions (
     tbl     TEXT NOT NULL,
     row_key TEXT NOT NULL,
     version INTEGER NOT NULL,
     seq     INTEGER NOT NULL,
     PRIMARY KEY (tbl, row_key)
   ) WITHOUT ROWID;
   CREATE TABLE jobs (
     name       TEXT PRIMARY KEY,
     state      TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
  // The admin's own correlation ID (Correlation_Id__c), shown by trace and searchable by it.
  `ALTER TABLE actions ADD COLUMN admin_correlation_id TEXT;
   CREATE INDEX actions_admin_correlation ON actions (admin_correlation_id) WHERE admin_correlation_id IS NOT NULL;`,
  // Feedback: delivery status events, written with the settlement that produced them and
  // deleted once Salesforce took them; a refused one keeps its reason (failed_at set).
  `CREATE TABLE status_events (
     id         INTEGER PRIMARY KEY,
     action_id  INTEGER NOT NULL,
     fields     TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     failed_at  INTEGER,
     error      TEXT
   );
   CREATE INDEX status_events_pending ON status_events (id) WHERE failed_at IS NULL;`,
  // 8 (issue 18): the record index per bucket of ids, so a batch's entries do not scatter
  // (RECORD_BUCKET_SHIFT above). Rebuilt once on upgrade: a few seconds for a million rows.
  `DROP INDEX actions_record;
   CREATE INDEX actions_record ON actions ((id >> ${RECORD_BUCKET_SHIFT}), record_id);`,
  // 9 (issue 18): a first-attempt delivery is appended here instead of rewriting its action's
  // row (ACTION_ROWS above); `action_rows` is the outbox as it reads with them folded in.
  `CREATE TABLE deliveries (
     action_id    INTEGER PRIMARY KEY,
     delivered_at INTEGER NOT NULL,
     request_id   TEXT,
     instance_id  TEXT,
     message_key  TEXT
   );
   -- Retention deletes delivered rows oldest first, as actions_delivered does for the others.
   CREATE INDEX deliveries_at ON deliveries (delivered_at);
   CREATE VIEW action_rows AS
     SELECT a.id, a.idempotency_key, CASE WHEN d.action_id IS NULL THEN a.status ELSE 'delivered' END AS status, a.route, a.target,
       a.mode, a.batch_key, a.channel, a.replay_id, a.record_id, a.contact_key, a.correlation_id, a.admin_correlation_id, a.payload,
       a.attempts + (d.action_id IS NOT NULL) AS attempts,
       CASE WHEN d.action_id IS NULL THEN a.error_code END AS error_code,
       CASE WHEN d.action_id IS NULL THEN a.error END AS error,
       CASE WHEN d.action_id IS NULL THEN a.request_id ELSE d.request_id END AS request_id,
       CASE WHEN d.action_id IS NULL THEN a.instance_id ELSE d.instance_id END AS instance_id,
       CASE WHEN d.action_id IS NULL THEN a.message_key ELSE d.message_key END AS message_key,
       a.received_at, a.created_at, coalesce(d.delivered_at, a.delivered_at) AS delivered_at, a.discarded_at, a.change_type,
       a.next_attempt_at, a.request_row
     FROM actions a LEFT JOIN deliveries d ON d.action_id = a.id;`,
];
