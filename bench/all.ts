/**
 * `npm run bench -- --all`: every scenario, store and transport in one sitting, each run in a
 * process of its own (so one run's heap and sockets cannot slow the next), one after the other
 * on an otherwise idle machine. Prints each run's JSON line as it ends, then one table and the
 * cross-run ratios the performance goals are stated in (Postgres against SQLite, Pub/Sub
 * against CometD, measured back to back).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('./run.ts', import.meta.url));

/** One cell of the matrix: the flags `bench/run.ts` is started with. */
interface Cell {
  name: string;
  flags: string[];
}

/** The matrix: the default scenario on every store and transport, then the other scenarios. */
export const MATRIX: readonly Cell[] = [
  { name: 'default sqlite cometd', flags: ['--scenario', 'default', '--store', 'sqlite', '--transport', 'cometd'] },
  { name: 'default postgres cometd', flags: ['--scenario', 'default', '--store', 'postgres', '--transport', 'cometd'] },
  { name: 'default sqlite pubsub', flags: ['--scenario', 'default', '--store', 'sqlite', '--transport', 'pubsub'] },
  { name: 'transactional sqlite cometd', flags: ['--scenario', 'transactional', '--store', 'sqlite', '--transport', 'cometd'] },
  { name: 'burst sqlite cometd', flags: ['--scenario', 'burst', '--store', 'sqlite', '--transport', 'cometd'] },
];

type Result = Record<string, any>;

/** Runs one cell; its stderr (progress) passes through, its last stdout line is the result. */
function runCell(cell: Cell, extra: string[], log: (m: string) => void): Promise<Result | { error: string }> {
  return new Promise((resolve) => {
    log(`--- ${cell.name}`);
    const child = spawn(process.execPath, [...process.execArgv, RUN, ...cell.flags, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(code === 0 ? JSON.parse(last) : { error: `exit ${code}` });
      } catch {
        resolve({ error: `no JSON result (exit ${code})` });
      }
    });
  });
}

const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? (a / b).toFixed(2) : '–');
const cell = (v: unknown): string => (v === undefined || v === null ? '–' : String(v));

/** Runs the matrix and prints the table. `extra` flags (e.g. `--events`) go to every run but the burst. */
export async function runAll(extra: string[], log: (m: string) => void): Promise<void> {
  const results: [Cell, Result][] = [];
  for (const c of MATRIX) {
    const r = await runCell(c, c.name.startsWith('burst') ? [] : extra, log);
    process.stdout.write(`${JSON.stringify({ run: c.name, ...r })}\n`);
    results.push([c, r]);
  }
  const head = [
    'run',
    'events/s',
    'ofFloor',
    'floor',
    'raw',
    'p50 ms',
    'p99 ms',
    'bridge µs/ev',
    'running µs/ev',
    'floor µs/ev',
    'database µs/ev',
    'peak RSS MB',
    '× naive',
  ];
  const rows = results.map(([c, r]) =>
    r.error
      ? [c.name, `failed: ${r.error}`]
      : [
          c.name,
          cell(r.eventsPerSec),
          cell(r.ofFloor),
          cell(r.floorEventsPerSec),
          cell(r.rawEventsPerSec),
          cell(r.p50Ms),
          cell(r.p99Ms),
          cell(r.cpuUsPerEvent?.bridge),
          cell(r.cpuUsPerEvent?.bridgeRunning),
          cell(r.cpuUsPerEvent?.floor),
          cell(r.cpuUsPerEvent?.database),
          cell(r.peakRssMb),
          cell(r.timesNaive),
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((v, i) => (v ?? '').padEnd(widths[i]!)).join('  ');
  const by = (name: string): Result | undefined => results.find(([c]) => c.name === name)?.[1];
  const sq = by('default sqlite cometd');
  const pg = by('default postgres cometd');
  const ps = by('default sqlite pubsub');
  process.stdout.write(`\n${line(head)}\n${rows.map(line).join('\n')}\n\n`);
  process.stdout.write(`postgres / sqlite throughput: ${ratio(pg?.eventsPerSec, sq?.eventsPerSec)}\n`);
  process.stdout.write(
    `pubsub / cometd throughput: ${ratio(ps?.eventsPerSec, sq?.eventsPerSec)}, bridge CPU per event: ${ratio(ps?.cpuUsPerEvent?.bridge, sq?.cpuUsPerEvent?.bridge)} (once running: ${ratio(ps?.cpuUsPerEvent?.bridgeRunning, sq?.cpuUsPerEvent?.bridgeRunning)})\n`,
  );
}
