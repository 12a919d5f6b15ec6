/**
 * The floor yardstick's outbox (floor-yardstick.ts): one SQLite transaction (WAL,
 * synchronous=NORMAL, as the bridge's store) stores a row per event under a unique idempotency
 * key with the channel's replay checkpoint, and one more writes each Marketing Cloud answer's
 * requestId on its rows. With `noStore` nothing is stored at all: the transport's own ceiling.
 * A file of its own so that `bench --profile` charges its frames, and the SQLite calls made
 * from them, to the outbox stage (stages.ts), as it does the bridge's `src/outbox/`.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const CHANNEL = '/data/ContactChangeEvent';

/** A stored event: its row id and what its journey entry carries. */
export interface Row {
  id: number;
  contactKey: string;
  data: Record<string, unknown>;
}

/** The floor's outbox: stores a batch with its checkpoint, marks rows delivered. */
export interface FloorStore {
  store(batch: readonly any[]): Row[];
  delivered(rows: readonly Row[], requestId: string): void;
  close(): void;
}

/** The floor's SQLite outbox, in a file of `dir`. */
export function sqliteStore(dir: string): FloorStore {
  const path = join(dir, 'floor.db');
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE checkpoints (channel TEXT PRIMARY KEY, replay_id TEXT NOT NULL);
    CREATE TABLE actions (id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
      record_id TEXT NOT NULL, replay_id TEXT NOT NULL, payload TEXT NOT NULL, request_id TEXT)`);
  const insert = db.prepare(`INSERT INTO actions (idempotency_key, status, record_id, replay_id, payload) VALUES (?, 'pending', ?, ?, ?)
    ON CONFLICT (idempotency_key) DO NOTHING`);
  const checkpoint = db.prepare('INSERT INTO checkpoints VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET replay_id = excluded.replay_id');
  const delivered = db.prepare(`UPDATE actions SET status = 'delivered', request_id = ? WHERE id = ?`);
  const tx = (body: () => void): void => {
    db.exec('BEGIN IMMEDIATE');
    body();
    db.exec('COMMIT');
  };
  return {
    store(batch) {
      const rows: Row[] = [];
      tx(() => {
        for (const m of batch) {
          const { row, key } = rowOf(m);
          const r = insert.run(key, row.contactKey, String(m.event.replayId), JSON.stringify(row.data));
          if (r.changes > 0) rows.push({ ...row, id: Number(r.lastInsertRowid) });
        }
        checkpoint.run(CHANNEL, String(batch.at(-1).event.replayId));
      });
      return rows;
    },
    delivered(rows, requestId) {
      tx(() => {
        for (const r of rows) delivered.run(requestId, r.id);
      });
    },
    close: () => db.close(),
  };
}

/** No outbox at all: the transport's ceiling. */
export function noStore(): FloorStore {
  let id = 0;
  return { store: (batch) => batch.map((m) => ({ ...rowOf(m).row, id: ++id })), delivered() {}, close() {} };
}

/** The least a journey entry needs from a CDC message: its contact, its data, its key. */
function rowOf(m: any): { row: Omit<Row, 'id'>; key: string } {
  const header = m.payload.ChangeEventHeader;
  const contactKey: string = header.recordIds[0];
  const data = { Email: m.payload.Email, FirstName: m.payload.Name?.FirstName, LastName: m.payload.Name?.LastName };
  return { row: { contactKey, data }, key: `${header.commitTimestamp}:${m.event.replayId}:${contactKey}` };
}
