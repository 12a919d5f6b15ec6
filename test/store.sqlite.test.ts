/**
 * The embedded store passes the store conformance suite; each test gets its own database file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
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
