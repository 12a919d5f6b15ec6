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
];
