/**
 * The embedded store passes the store conformance suite; each test gets its own database file.
 * Its in-memory cache of new actions shrinks for a slow dispatcher without losing or repeating one.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE_FLOOR, CacheBound } from '../src/outbox/sqlite/cache-bound.ts';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from '../src/outbox/sqlite/schema.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { action } from './helpers/fixtures.ts';
import { storeConformance } from './store-conformance.ts';

describe('SQLite store', () => {
  storeConformance(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    const path = join(dir, 'bridge.db');
    return {
      open: async (options) => openSqliteStore({ path, cacheLimit: options?.cacheLimit }),
      // Claims live in memory: closing the file loses them exactly as a kill does.
      crash: (store) => store.close(),
      dispose: async () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }),
    };
  });
});

describe('SQLite store: the bound of its in-memory cache of new actions', () => {
  test('a dispatcher claiming 1,000 a second gets about five seconds of claims cached, a fast one the whole limit, one with nothing waiting the whole limit', () => {
    const slow = new CacheBound(20_000);
    let now = 0;
    slow.afterClaim(now, 0, true);
    for (let i = 0; i < 10; i++) slow.afterClaim((now += 100), 100, true);
    expect(slow.target).toBe(5_000);
    // The dispatcher catches up: nothing waits, so nothing is slow.
    expect(slow.afterClaim((now += 100), 100, false)).toBe(20_000);

    const fast = new CacheBound(20_000);
    fast.afterClaim(0, 0, true);
    for (let t = 100; t <= 1_000; t += 100) fast.afterClaim(t, 1_500, true);
    expect(fast.target).toBe(20_000);

    const stalled = new CacheBound(20_000);
    stalled.afterClaim(0, 0, true);
    expect(stalled.afterClaim(30_000, 0, true)).toBe(CACHE_FLOOR);
  });

  test('while a slow dispatcher shrinks the cache, every new action is still claimed once, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    const store = openSqliteStore({ path: join(dir, 'bridge.db') });
    try {
      const n = 6_000;
      let now = Date.now();
      expect(await store.claimDue(100, now)).toEqual([]);
      for (let b = 0; b < n; b += 1_000)
        await store.commitBatch(
          Array.from({ length: 1_000 }, (_, i) => action(b + i)),
          [],
          new Map([['/data/ContactChangeEvent', String(b)]]),
        );
      // 100 claims a second: after a second the cache drops to its floor, the rest is read back.
      const keys: string[] = [];
      for (let round = 0; keys.length < n + 1 && round < 1_000; round++) {
        const claimed = await store.claimDue(100, (now += 1_000));
        keys.push(...claimed.map((a) => a.idempotencyKey));
        await store.recordAttempts(
          claimed.map((a) => ({ id: a.id, status: 'delivered' as const, ids: {} })),
          now,
        );
        // New actions keep arriving while the cache is short of the backlog.
        if (round === 10) await store.commitBatch([action(n)], [], new Map([['/data/ContactChangeEvent', String(n)]]));
      }
      expect(keys).toEqual(Array.from({ length: n + 1 }, (_, i) => `key-${i}`));
      expect(await store.backlog()).toBe(0);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});

describe('SQLite store: schema versions', () => {
  test('a file migrated by a newer bridge is refused with a message naming both versions, and left as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    const path = join(dir, 'bridge.db');
    try {
      const store = openSqliteStore({ path });
      await store.commitBatch([action(1)], [], new Map([['/data/ContactChangeEvent', '101']]));
      await store.close();
      const db = new DatabaseSync(path);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length + 1);
      db.close();
      expect(() => openSqliteStore({ path })).toThrow(`schema version ${MIGRATIONS.length + 1}, newer than this bridge knows (${MIGRATIONS.length})`);
      const check = new DatabaseSync(path, { readOnly: true });
      expect((check.prepare('SELECT count(*) AS n FROM actions').get() as { n: number }).n).toBe(1);
      check.close();
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});

describe('SQLite store: its write-ahead log', () => {
  test('stays a few MB while a bridge writes far more, and is folded into the database file on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-wal-'));
    const path = join(dir, 'bridge.db');
    const store = openSqliteStore({ path });
    try {
      const bulk = 'x'.repeat(1_000);
      let n = 0;
      let walMax = 0;
      // ~30 MB of actions in batches of 1,000, as a catching-up bridge commits them.
      for (let batch = 0; batch < 30; batch++) {
        const actions = Array.from({ length: 1_000 }, () => {
          n++;
          return action(n, { idempotencyKey: `wal-${n}`, payload: { eventDefinitionKey: 'APIEvent-1', contactKey: `c${n}`, data: { bulk } } });
        });
        expect((await store.commitBatch(actions, [], new Map([['/data/ContactChangeEvent', String(n)]]))).inserted).toBe(1_000);
        walMax = Math.max(walMax, statSync(`${path}-wal`).size);
      }
      expect(statSync(path).size + walMax).toBeGreaterThan(30_000_000);
      // Checkpointed at 1,000 pages (4 MB): the log is reused from its start, never longer than that plus one batch.
      expect(walMax).toBeLessThan(8 * 1024 * 1024);
      await store.close();
      expect(existsSync(`${path}-wal`)).toBe(false);
      const db = new DatabaseSync(path, { readOnly: true });
      expect((db.prepare('SELECT count(*) AS n FROM actions').get() as { n: number }).n).toBe(30_000);
      db.close();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});
