/**
 * Where the bridge's CPU goes, stage by stage: `npm run bench -- --profile` starts the bridge
 * with V8's sampling profiler (`--cpu-prof`) and this file reads the profile back. Each sample
 * of the main thread is charged to the stage of the innermost frame that belongs to one of the
 * bridge's folders or to a library it calls (a SQLite call made from `src/outbox/` is the
 * outbox's, a `JSON.parse` inside faye's transport is faye's); samples between the first and
 * the last entry in Marketing Cloud only, so start-up and the latency phase are left out. The
 * figures are CPU µs per event: the samples' shares of the main thread's CPU time over the same
 * window (read from /proc, since a sample's interval is wall time and the machine is shared).
 * The other threads follow, by the name the kernel knows them by (/proc/<pid>/task/<tid>/comm):
 * `V8Worker` (V8's helpers: concurrent marking and sweeping, parallel scavenges, background
 * compilation), `WorkerThread` (SQLite's WAL checkpointer and other worker_threads), `libuv-worker`
 * (the pool), the profiler's own sampler, and the rest (a thread that ended is in no line).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A `.cpuprofile` as V8 writes it (the fields read here). */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Stages in the order data flows, each with the paths of its code (tested against a frame's
 * URL in this order, so a library is named before the folder that happens to load it).
 */
const STAGES: readonly [stage: string, paths: readonly string[]][] = [
  ['transport: faye (CometD)', ['/node_modules/faye/', '/node_modules/faye-websocket/', '/node_modules/tough-cookie/']],
  ['transport: gRPC and Avro (Pub/Sub)', ['/node_modules/@grpc/', '/node_modules/avsc/', '/node_modules/protobufjs/']],
  ['subscriber', ['/subscribers/']],
  ['normalize', ['/src/normalize/']],
  ['enrich: jsforce (Salesforce REST)', ['/node_modules/jsforce/']],
  ['enrich', ['/src/enrich/', '/node_modules/lru-cache/']],
  ['route and map', ['/src/route/', '/mappers/']],
  ['pipeline (planner, sink)', ['/src/pipeline/']],
  ['outbox (store, SQL)', ['/src/outbox/', '/node_modules/pg/', '/node_modules/pg-protocol/']],
  ['delivery: undici (Marketing Cloud HTTP)', ['/node_modules/undici/']],
  ['delivery (dispatcher, targets)', ['/src/delivery/']],
  ['telemetry and logs', ['/src/telemetry/', '/src/core/log', '/node_modules/pino', '/node_modules/prom-client/']],
  ['operations (admin, retention)', ['/src/operations/']],
  ['other bridge code', ['/src/', '/bin/']],
];

/**
 * The main thread's `.cpuprofile` in `dir`: the one with the most samples inside `window` in
 * the bridge's code or its libraries (the directory also holds the WAL checkpointer thread's
 * profile, sampled just as often but idle, and the one the bin wrote before it re-executed
 * itself with its heap flags).
 */
export function mainThreadProfile(dir: string, window: { fromUs: number; toUs: number }): string {
  let best: { path: string; inside: number } | undefined;
  for (const f of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const path = join(dir, f);
    const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
    const ours = new Set(profile.nodes.filter((n) => /\/(src|subscribers|mappers|node_modules)\//.test(n.callFrame.url)).map((n) => n.id));
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
