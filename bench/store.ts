/**
 * The store the benchmark's bridge runs on: `--store sqlite` (a file in the run's folder) or
 * `--store postgres` (a schema of its own on DATABASE_URL, default the local test database,
 * dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';

/** The store section of the bench config, the environment the bridge needs for it, and the clean-up. */
export interface BenchStore {
  config: Record<string, unknown>;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** Prepares the store named by `--store`. */
export function benchStore(kind: string, dir: string): BenchStore {
  if (kind === 'sqlite') return { config: { kind: 'sqlite', path: join(dir, 'bench.db') }, env: {}, cleanup: async () => undefined };
  if (kind !== 'postgres') throw new Error(`--store must be sqlite or postgres, not ${JSON.stringify(kind)}`);
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  return {
    config: { kind: 'postgres', url: { env: 'DATABASE_URL' }, schema },
    env: { DATABASE_URL: url },
    async cleanup() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
