/**
 * The store the benchmark's bridge runs on: `--store sqlite` (a file in the run's folder) or
 * `--store postgres` (a schema of its own on DATABASE_URL, default the local test database,
 * dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { procStat } from './processes.ts';

/** The store section of the bench config, the environment the bridge needs for it, and the clean-up. */
export interface BenchStore {
  config: Record<string, unknown>;
  env: Record<string, string>;
  cleanup(): Promise<void>;
  /** The database server's CPU ms so far, when it runs on this machine (Postgres); see serverCpuMs. */
  serverCpuMs?(): number | undefined;
}

/** Prepares the store named by `--store`. */
export function benchStore(kind: string, dir: string): BenchStore {
  if (kind === 'sqlite') return { config: { kind: 'sqlite', path: join(dir, 'bench.db') }, env: {}, cleanup: async () => undefined };
  if (kind !== 'postgres') throw new Error(`--store must be sqlite or postgres, not ${JSON.stringify(kind)}`);
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const local = /@(127\.0\.0\.1|localhost)[:/]/.test(url);
  return {
    config: { kind: 'postgres', url: { env: 'DATABASE_URL' }, schema },
    env: { DATABASE_URL: url },
    ...(local ? { serverCpuMs: postgresCpuMs } : {}),
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

/**
 * The CPU ms of the PostgreSQL server on this machine: its processes' own (backends, WAL
 * writer, checkpointer, autovacuum) plus what its postmaster collected from the children that
 * have exited (autovacuum workers come and go), so a difference of two readings is the server's
 * work in between, whichever database it was for. Undefined when no process is visible.
 */
export function postgresCpuMs(): number | undefined {
  const procs: { pid: string; ppid: string; fields: string[] }[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: ReturnType<typeof procStat>;
    try {
      stat = procStat(`/proc/${pid}/stat`);
    } catch {
      continue; // gone since the listing
    }
    if (stat.comm === 'postgres') procs.push({ pid, ppid: stat.fields[1]!, fields: stat.fields });
  }
  if (procs.length === 0) return undefined;
  const pids = new Set(procs.map((p) => p.pid));
  let ticks = 0;
  for (const { ppid, fields } of procs) {
    ticks += Number(fields[11]) + Number(fields[12]);
    if (!pids.has(ppid)) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return ticks * 10;
}
