/**
 * Where the bridge's CPU goes, stage by stage, and the floor yardstick's beside it: `npm run
 * bench -- --profile` starts the bridge, and the floor in a process of its own
 * (floor-process.ts), with V8's sampling profiler (`--cpu-prof`) and this file reads the
 * profiles back. Each sample of the main thread is charged to the stage of the innermost frame
 * that belongs to one of the bridge's folders, to the floor's files or to a library they call (a
 * SQLite call made from `src/outbox/` or from the floor's floor-outbox.ts is the outbox's, a
 * `JSON.parse` inside faye's transport is faye's); samples between the first and the last entry
 * in Marketing Cloud only, so start-up and the latency phase are left out. The figures are CPU
 * µs per event: the samples' shares of the main thread's CPU time over the same window (read
 * from /proc, since a sample's interval is wall time and the machine is shared).
 * The other threads follow, by the name the kernel knows them by (/proc/<pid>/task/<tid>/comm):
 * `V8Worker` (V8's helpers: concurrent marking and sweeping, parallel scavenges, background
 * compilation), `WorkerThread` (worker_threads; the bridge runs none since its WAL checkpoints moved to the main thread), `libuv-worker`
 * (the pool), the profiler's own sampler, and the rest (a thread that ended is in no line).
 * stageTable sets the two breakdowns side by side.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessCpu } from './processes.ts';

/** A `.cpuprofile` as V8 writes it (the fields read here). */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Stages in the order data flows, each with the paths of its code (tested against a frame's
 * URL in this order, so a library is named before the folder that happens to load it). The
 * floor yardstick's files go where their work is: faye's subscription (yardsticks.ts), its
 * outbox (floor-outbox.ts), its send loop (floor-yardstick.ts); no bridge frame is under bench/.
 */
const STAGES: readonly [stage: string, paths: readonly string[]][] = [
  ['transport: faye (CometD)', ['/node_modules/faye/', '/node_modules/faye-websocket/', '/node_modules/tough-cookie/']],
  ['transport: gRPC and Avro (Pub/Sub)', ['/node_modules/@grpc/', '/node_modules/avsc/', '/node_modules/protobufjs/']],
  ['subscriber', ['/subscribers/', '/bench/yardsticks.ts']],
  ['normalize', ['/src/normalize/']],
  ['enrich: jsforce (Salesforce REST)', ['/node_modules/jsforce/']],
  ['enrich', ['/src/enrich/', '/node_modules/lru-cache/']],
  ['route and map', ['/src/route/', '/mappers/']],
  ['pipeline (planner, sink)', ['/src/pipeline/']],
  ['outbox (store, SQL)', ['/src/outbox/', '/node_modules/pg/', '/node_modules/pg-protocol/', '/bench/floor-outbox.ts']],
  ['delivery: undici (Marketing Cloud HTTP)', ['/node_modules/undici/']],
  ['delivery (dispatcher, targets)', ['/src/delivery/', '/bench/floor-yardstick.ts']],
  ['telemetry and logs', ['/src/telemetry/', '/src/core/log', '/node_modules/pino', '/node_modules/prom-client/']],
  ['operations (admin, retention)', ['/src/operations/']],
  ['other bridge code', ['/src/', '/bin/']],
];

/**
 * The main thread's `.cpuprofile` in `dir`: the one with the most samples inside `window` in
 * the bridge's (or the floor's) code or its libraries (the directory may also hold a worker thread's
 * profile, sampled just as often but idle, and the one the bin wrote before it re-executed
 * itself with its heap flags).
 */
export function mainThreadProfile(dir: string, window: { fromUs: number; toUs: number }): string {
  let best: { path: string; inside: number } | undefined;
  for (const f of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const path = join(dir, f);
    const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
    const ours = new Set(profile.nodes.filter((n) => /\/(src|subscribers|mappers|bench|node_modules)\//.test(n.callFrame.url)).map((n) => n.id));
    let t = profile.startTime;
    let inside = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i]!;
      if (t >= window.fromUs && t <= window.toUs && ours.has(profile.samples[i]!)) inside++;
    }
    if (best === undefined || inside > best.inside) best = { path, inside };
  }
  if (best === undefined || best.inside === 0) throw new Error(`no .cpuprofile in ${dir} covers the run: did the bridge exit cleanly?`);
  return best.path;
}

/** The stage of one frame's URL, or undefined for a frame of no stage (a builtin, node's own code). */
function stageOfUrl(url: string): string | undefined {
  if (url === '' || url.startsWith('node:')) return undefined;
  for (const [stage, paths] of STAGES) if (paths.some((p) => url.includes(p))) return stage;
  return undefined;
}

/** The window a breakdown covers, and the CPU the process and its main thread used in it. */
export interface ProfileWindow {
  /** Start and end on the monotonic clock (`process.hrtime`, which V8's profile timestamps share on Linux), µs. */
  fromUs: number;
  toUs: number;
  /** Events delivered in the window. */
  events: number;
  /** CPU time of the whole process (every thread) and of its main thread in the window, ms. */
  processCpuMs: number;
  mainThreadCpuMs: number;
  /** CPU time of the other threads in the window, ms, by thread name. */
  otherThreadsCpuMs: ReadonlyMap<string, number>;
}

/** CPU µs per event by stage, from the profile at `path`, over `window`; the largest first. */
export function stagesOf(path: string, window: ProfileWindow): Record<string, number> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // A node's stage: its own, or its nearest ancestor's; memoised, profiles hold ~10,000 nodes.
  const memo = new Map<number, string>();
  const stageOf = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    let stage: string;
    if (name === '(garbage collector)') stage = 'garbage collection';
    else if (name === '(idle)') stage = 'idle';
    else if (name === '(program)') stage = 'V8 and node (no JavaScript frame)';
    else {
      const own = stageOfUrl(node.callFrame.url);
      const up = parent.get(id);
      stage = own ?? (up === undefined ? 'node runtime (timers, sockets, event loop)' : stageOf(up));
      if (stage === '(root)') stage = 'node runtime (timers, sockets, event loop)';
    }
    memo.set(id, stage);
    return stage;
  };
  const root = profile.nodes.find((n) => n.callFrame.functionName === '(root)');
  if (root) memo.set(root.id, 'node runtime (timers, sockets, event loop)');

  const busy = new Map<string, number>();
  let t = profile.startTime;
  let mainUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    if (t < window.fromUs || t > window.toUs) continue;
    // The time until the next sample is this sample's.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const stage = stageOf(profile.samples[i]!);
    if (stage === 'idle') continue;
    busy.set(stage, (busy.get(stage) ?? 0) + dt);
    mainUs += dt;
  }
  const out: Record<string, number> = {};
  const perEvent = (ms: number): number => Math.round(((ms * 1000) / window.events) * 10) / 10;
  const scale = mainUs > 0 ? window.mainThreadCpuMs / mainUs : 0;
  for (const [stage, us] of [...busy].sort((a, b) => b[1] - a[1])) out[stage] = perEvent(us * scale);
  for (const [name, ms] of [...window.otherThreadsCpuMs].sort((a, b) => b[1] - a[1])) if (ms > 0) out[`thread ${name}`] = perEvent(ms);
  return out;
}

/** A process's CPU at one moment (from /proc), and the entries Marketing Cloud held then. */
export interface CpuMark {
  /** When, on the monotonic clock the profile's timestamps share, µs. */
  atUs: number;
  entries: number;
  cpuMs: number;
  mainMs: number;
  others: Map<string, number>;
}

/** The CPU of `proc` now, with `entries` in Marketing Cloud. */
export function markOf(proc: ProcessCpu, entries: number): CpuMark {
  const atUs = Number(process.hrtime.bigint() / 1000n);
  return { atUs, entries, cpuMs: proc.cpuMs(), mainMs: proc.mainThreadCpuMs(), others: proc.otherThreadsCpuMs() };
}

/** CPU µs per event by stage between two marks of one process, from the main thread's profile in `dir` (stagesOf). */
export function stagesBetween(dir: string, from: CpuMark, to: CpuMark): Record<string, number> {
  const window = { fromUs: from.atUs, toUs: to.atUs };
  return stagesOf(mainThreadProfile(dir, window), {
    ...window,
    events: to.entries - from.entries,
    processCpuMs: to.cpuMs - from.cpuMs,
    mainThreadCpuMs: to.mainMs - from.mainMs,
    otherThreadsCpuMs: new Map([...to.others].map(([name, ms]) => [name, ms - (from.others.get(name) ?? 0)])),
  });
}

/** The bridge's and the floor's breakdowns side by side, the bridge's largest extra cost first, then their totals. */
export function stageTable(bridge: Record<string, number>, floor: Record<string, number>): string {
  const round = (us: number): number => Math.round(us * 10) / 10;
  const rows = [...new Set([...Object.keys(bridge), ...Object.keys(floor)])]
    .map((stage) => ({ stage, bridge: bridge[stage] ?? 0, floor: floor[stage] ?? 0 }))
    .filter((r) => r.bridge > 0 || r.floor > 0)
    .sort((a, b) => b.bridge - b.floor - (a.bridge - a.floor));
  const sum = (side: 'bridge' | 'floor'): number => rows.reduce((total, r) => total + r[side], 0);
  rows.push({ stage: 'total', bridge: sum('bridge'), floor: sum('floor') });
  const width = Math.max(...rows.map((r) => r.stage.length));
  const line = (stage: string, ...cells: string[]): string => [stage.padEnd(width), ...cells.map((c) => c.padStart(10))].join('  ');
  return [
    line('stage', 'bridge µs', 'floor µs', 'difference'),
    ...rows.map((r) => {
      const diff = round(r.bridge - r.floor);
      return line(r.stage, String(round(r.bridge)), String(round(r.floor)), `${diff > 0 ? '+' : ''}${diff}`);
    }),
  ].join('\n');
}
