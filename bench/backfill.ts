/**
 * `npm run bench -- --scenario backfill [--events N]`: `sfmc-bridge backfill` of N existing
 * Contacts (default 1,000,000) from the streaming emulator's Bulk API 2.0 into a data extension
 * of the Marketing Cloud emulator through Bulk Data Ingest. The backfill is killed (SIGKILL)
 * once about half the rows are written, then the same command resumes it. Reports rows/s
 * (wall time of both runs), the peak RSS of each run, and whether every record was written
 * exactly once (the emulator counts writes per row).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, control, startEmulatorProcess, type EmulatorInfo } from './processes.ts';

const KEY = 'Backfill_Contacts';

/** The figures of one backfill bench. */
export interface BackfillBenchResult {
  scenario: 'backfill';
  records: number;
  rowsPerSec: number;
  peakRssMb: { killedRun: number; resumedRun: number };
  killedAtRows: number;
  resumed: { read: number; accepted: number; pages: number };
  rows: number;
  rewritten: number;
  exactlyOnce: boolean;
}

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  peakRssMb: number;
}

/** Runs `sfmc-bridge backfill`, sampling its peak RSS; `killWhen` is polled and SIGKILLs it when true. */
async function runBackfill(args: string[], info: EmulatorInfo, killWhen?: () => Promise<boolean>): Promise<Run> {
  const child = spawn(process.execPath, [BIN, 'backfill', ...args], { env: { ...process.env, ...info }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let peak = 0;
  const done = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  while (!finished) {
    try {
      const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
      peak = Math.max(peak, kb / 1024);
    } catch {
      /* exited between checks */
    }
    if (killWhen && (await killWhen())) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const { code, signal } = await done;
  return { code, signal, stdout, stderr, peakRssMb: Math.round(peak * 10) / 10 };
}

/** Seeds, backfills with a kill in the middle, resumes, checks. */
export async function runBackfillBench(opts: { records: number; log(message: string): void }): Promise<BackfillBenchResult> {
  const { records: n, log } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'sfmc-backfill-bench-'));
  const emu = await startEmulatorProcess();
  try {
    const info = emu.info;
    const config = join(dir, 'bridge.json');
    writeFileSync(
      config,
      JSON.stringify({
        channels: [{ name: '/data/ContactChangeEvent' }],
        routes: [
          {
            name: 'backfill-bench',
            channel: '/data/ContactChangeEvent',
            target: { type: 'dataExtension', key: KEY, fieldTypes: { Email: 'EmailAddress' } },
            mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'LastName' } },
          },
        ],
        store: { kind: 'sqlite', path: join(dir, 'bridge.db') },
        log: { level: 'warn', pretty: false },
      }),
    );
    for (let from = 1; from <= n; from += 250_000) {
      await control(`${info.SF_INSTANCE_URL}/_emulator/seed`, 'POST', {
        count: Math.min(250_000, n - from + 1),
        from,
        modifiedAt: Date.parse('2026-01-01T00:00:00Z'),
      });
    }
    log(`seeded ${n} contacts; backfilling, killed at about half`);
    const rowWrites = (): Promise<{ rows: number; writes: number; rewritten: number }> =>
      control(`${info.MC_AUTH_BASE_URL}/_emulator/row-writes?key=${KEY}`, 'GET');
    const args = ['--config', config, '--route', 'backfill-bench', '--json'];
    const t0 = Date.now();
    const killed = await runBackfill(args, info, async () => (await rowWrites()).rows >= n / 2);
    const killedAtRows = (await rowWrites()).rows;
    log(`killed (${killed.signal ?? killed.code}) at ${killedAtRows} rows, peak RSS ${killed.peakRssMb} MiB; resuming`);
    const resumed = await runBackfill(args, info);
    const elapsed = Date.now() - t0;
    if (resumed.code !== 0) throw new Error(`the resumed backfill exited ${resumed.code}: ${resumed.stderr}`);
    const summary = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!) as { read: number; accepted: number; pages: number };
    const final = await rowWrites();
    log(`done: ${final.rows} rows, ${final.rewritten} written more than once, ${Math.round((n * 1000) / elapsed)} rows/s`);
    return {
      scenario: 'backfill',
      records: n,
      rowsPerSec: Math.round((n * 1000) / elapsed),
      peakRssMb: { killedRun: killed.peakRssMb, resumedRun: resumed.peakRssMb },
      killedAtRows,
      resumed: { read: summary.read, accepted: summary.accepted, pages: summary.pages },
      rows: final.rows,
      rewritten: final.rewritten,
      exactlyOnce: final.rows === n && final.rewritten === 0,
    };
  } finally {
    await emu.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}
