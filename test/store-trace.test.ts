/**
 * An embedded store from before `trace` existed is upgraded in place and its old rows still
 * trace. (What `trace` shows, for every store, is held by the conformance suite, store-conformance.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from '../src/outbox/sqlite/schema.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import type { Store } from '../src/outbox/contract.ts';
import { action } from './helpers/fixtures.ts';

let dir: string;
let store: Store;
const CH = '/data/ContactChangeEvent';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-trace-'));
  store = openSqliteStore({ path: join(dir, 'bridge.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

test('a store created before migration 2 is upgraded in place and its old rows still trace (change type unknown)', async () => {
  await store.close();
  const path = join(dir, 'old.db');
  const db = new DatabaseSync(path);
  db.exec(MIGRATIONS[0]!);
  db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1)');
  db.prepare(`INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key, correlation_id, payload, received_at, created_at)
    VALUES ('k', 'pending', 'r', ?, '7', 'R1', 'R1', 'c', '{}', 1, 1)`).run(CH);
  db.close();
  store = openSqliteStore({ path });
  expect(await store.trace('R1')).toMatchObject([{ replayId: '7', changeType: null, status: 'pending' }]);
  await store.commitBatch([action(4, { changeType: 'CREATE' })], [], new Map());
  expect((await store.trace(action(4).recordId))[0]!.changeType).toBe('CREATE');
});
