/**
 * The floor yardstick: a forwarder that does the least any bridge keeping the outbox contract
 * must do per event, and nothing else. faye's client receives each long-poll answer; one SQLite
 * transaction (WAL, synchronous=NORMAL, as the bridge's store) stores a row per event under a
 * unique idempotency key with the channel's replay checkpoint; the rows go to the Marketing
 * Cloud emulator in async batches of 100, 4 requests in flight; each answer's requestId is
 * written on its rows in one more transaction. No normalization, routing, mapping checks,
 * enrichment, record index, retries, backpressure, telemetry or logs. With the `none` outbox
 * nothing is stored at all: the transport's own ceiling.
 *
 * Used by `npm run bench` (in the same invocation as the bridge, against the same emulator)
 * and by `npm run bench:floor`.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Pool } from 'undici';
import { control, mcToken, type EmulatorInfo } from './processes.ts';
import { subscribeAll } from './yardsticks.ts';

const CHANNEL = '/data/ContactChangeEvent';
const KEY = 'APIEvent-bench';

interface Row {
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

/** Runs the floor forwarder until the emulator holds `n` entries; the rate from the first to the last entry received. */
export async function measureFloor(info: EmulatorInfo, n: number, outbox: FloorStore): Promise<{ eventsPerSec: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const token = await mcToken(info);
  const rest = new URL(token.rest_instance_url);
  const path = `${rest.pathname.replace(/\/$/, '')}/interaction/v1/async/events`;
  const pool = new Pool(rest.origin, { connections: 4 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token.access_token}` };

  let received: any[] = [];
  let storing = false;
  const queued: Row[] = [];
  let inFlight = 0;
  const send = (): void => {
    while (inFlight < 4 && queued.length > 0) {
      const chunk = queued.splice(0, 100);
      inFlight++;
      const body = JSON.stringify({ eventDefinitionKey: KEY, members: chunk.map((r) => ({ contactKey: r.contactKey, data: r.data })) });
      void pool.request({ path, method: 'POST', headers, body }).then(async (res) => {
        const answer = (await res.body.json()) as { requestId: string };
        outbox.delivered(chunk, answer.requestId);
        inFlight--;
        send();
      });
    }
  };
  const store = (): void => {
    storing = false;
    const batch = received;
    received = [];
    for (const row of outbox.store(batch)) queued.push(row);
    send();
  };
  // faye hands a long-poll answer's messages over one by one: store them once the answer is through.
  const client = subscribeAll(
    info,
    CHANNEL,
    (m) => {
      received.push(m);
    },
    (message) => {
      if (message.channel === CHANNEL && !storing) {
        storing = true;
        setImmediate(store);
      }
    },
  );
  try {
    for (;;) {
      const s = await control(`${info.MC_AUTH_BASE_URL}/_emulator/stats`, 'GET');
      if (s.entries >= n) {
        const used = process.cpuUsage(cpu0);
        return { eventsPerSec: n / ((s.lastReceivedAt - s.firstReceivedAt) / 1000), cpuMs: (used.user + used.system) / 1000 };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await client.disconnect();
    await pool.close();
    outbox.close();
  }
}
