/**
 * The bridge as a real child process, for the tests that kill, signal or run its CLI: start it,
 * wait for its exit, run one command to completion, and the crash loop the SIGKILL tests share.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { expect } from '@jest/globals';
import { contactId, waitFor, type Harness } from './harness.ts';

export const BIN = fileURLToPath(new URL('../../bin/sfmc-bridge.js', import.meta.url));

/** A running `sfmc-bridge start`: `started` resolves on its "started" log line; `output()` is its stdout so far. */
export type BridgeChild = ChildProcess & { started: Promise<void>; output(): string };

/** Starts `sfmc-bridge start --config <configPath>` with `env` added to this process's environment. */
export function startBridge(configPath: string, env: Record<string, string | undefined>): BridgeChild {
  const c = spawn(process.execPath, [BIN, 'start', '--config', configPath], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stderr!.on('data', (d: Buffer) => process.stderr.write(`[bridge ${c.pid}] ${d}`));
  const started = new Promise<void>((resolve) => {
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"started"')) resolve();
    });
  });
  return Object.assign(c, { started, output: () => out });
}

/** Resolves with the exit code and signal of `c` (at once when it has already exited). */
export function exited(c: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Runs one CLI command to completion without blocking this process (emulators in the test
 * process keep answering); `status` is the exit code, -1 when it was killed by the timeout.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ status: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
    });
  });
}

/** What a crash loop saw. */
export interface CrashReport {
  /**
   * Per killed run: journey entries at the Marketing Cloud emulator when it started and when it
   * was killed, contacts there at the kill, and of those how many the store did not record as
   * delivered (accepted by Marketing Cloud while in flight at the kill: the next run sends them again).
   */
  runs: { atStart: number; atKill: number; uniqueAtKill: number; unrecordedAtKill: number }[];
  lost: number;
  duplicates: number;
}

/** Delivered actions in a SQLite outbox, read once its writer is dead. */
function deliveredIn(dbPath: string): number {
  return outboxRows(dbPath).filter((r) => r.status === 'delivered').length;
}

/** One action of a SQLite outbox, as a test reads it beside (or after) the bridge process. */
export interface OutboxRow {
  contactKey: string;
  status: string;
  deliveredAt: number | null;
  /** Marketing Cloud's eventInstanceId recorded for a delivered journey entry. */
  instanceId: string | null;
}

/** Every action of the SQLite outbox at `dbPath`, through a read-only connection of its own. */
export function outboxRows(dbPath: string): OutboxRow[] {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db
      .prepare('SELECT contact_key AS contactKey, status, delivered_at AS deliveredAt, instance_id AS instanceId FROM action_rows')
      .all() as unknown as OutboxRow[];
  } finally {
    db.close();
  }
}

/**
 * Publishes `total` Contact creates in `kills + 1` slices, one per bridge run, each slice
 * starting once that run is up; kills each of the first `kills` runs with SIGKILL once it has
 * delivered `progress` more entries than when it started, plus a random 50-300 ms (so every
 * kill lands while events stream in), then lets a last run deliver everything and stop with SIGTERM.
 * After each kill it counts what Marketing Cloud holds that the store (`dbPath`) does not record
 * as delivered.
 */
export async function crashLoop(
  h: Harness,
  configPath: string,
  opts: { total: number; kills: number; dbPath: string; progress?: number },
): Promise<CrashReport> {
  const { total, kills } = opts;
  const progress = opts.progress ?? 50;
  const slice = Math.ceil(total / (kills + 1));
  let published = 0;
  const publishers: Promise<void>[] = [];
  const publishSlice = (end = Math.min(total, published + slice)): void => {
    publishers.push(
      (async () => {
        while (published < end) {
          for (let i = 0; i < 10 && published < end; i++, published++) {
            h.sf.publishChange({
              entityName: 'Contact',
              changeType: 'CREATE',
              recordIds: [contactId(published)],
              fields: { Email: `k${published}@example.com` },
            });
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
    );
  };

  const runs: CrashReport['runs'] = [];
  for (let k = 0; k < kills; k++) {
    const child = startBridge(configPath, h.env);
    try {
      await child.started;
      const atStart = h.mc.stats().entries;
      publishSlice();
      await waitFor(() => h.mc.stats().entries >= atStart + progress, 30_000, `${progress} entries delivered by run ${k + 1} before its kill`);
      // Then at a random point of the stream, not always right after the first batch.
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
      child.kill('SIGKILL');
      const { signal } = await exited(child);
      if (signal !== 'SIGKILL') throw new Error(`run ${k + 1} ended before its kill (${signal ?? 'exit'})`);
      const delivered = deliveredIn(opts.dbPath);
      const { entries, uniqueContacts } = h.mc.stats();
      runs.push({ atStart, atKill: entries, uniqueAtKill: uniqueContacts, unrecordedAtKill: uniqueContacts - delivered });
    } finally {
      child.kill('SIGKILL');
    }
  }
  const last = startBridge(configPath, h.env);
  try {
    await last.started;
    publishSlice(total);
    await Promise.all(publishers);
    await waitFor(() => h.mc.stats().uniqueContacts >= total, 90_000, `all ${total} contacts`);
    last.kill('SIGTERM');
    const { code } = await exited(last);
    if (code !== 0) throw new Error(`the last run exited with ${code} after SIGTERM`);
  } finally {
    last.kill('SIGKILL');
  }
  const stats = h.mc.stats();
  return { runs, lost: total - stats.uniqueContacts, duplicates: stats.duplicates };
}

/**
 * The crash tests' verdict, printed with its figures: each killed run was delivering and not
 * done; nothing was lost; at each kill Marketing Cloud held at most `inFlight` contacts the
 * store had not recorded as delivered (what a dispatcher round can have in flight), and the
 * duplicates are no more than those (a delivered action recorded as such is never sent again).
 */
export function expectCrashBounds(label: string, report: CrashReport, total: number, inFlight: number): void {
  const unrecorded = report.runs.reduce((n, r) => n + r.unrecordedAtKill, 0);
  process.stdout.write(
    `${label}: ${total} events, ${report.runs.length} SIGKILLs (entries at start → at kill: ${report.runs.map((r) => `${r.atStart}→${r.atKill}`).join(', ')}), ` +
      `${report.lost} lost, ${report.duplicates} duplicate journey entries; accepted but not recorded at each kill: ${report.runs.map((r) => r.unrecordedAtKill).join(', ')} ` +
      `(bound ${inFlight} a kill, ${unrecorded} in all)\n`,
  );
  for (const run of report.runs) {
    expect(run.atKill).toBeGreaterThan(run.atStart); // delivering when killed
    expect(run.uniqueAtKill).toBeLessThan(total); // and not done yet
    expect(run.unrecordedAtKill).toBeGreaterThanOrEqual(0);
    expect(run.unrecordedAtKill).toBeLessThanOrEqual(inFlight);
  }
  expect(report.lost).toBe(0);
  expect(report.duplicates).toBeLessThanOrEqual(unrecorded);
}
