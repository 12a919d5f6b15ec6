/**
 * Child processes of the benchmark: the emulators and the bridge, each a real `sfmc-bridge`,
 * and with `--profile` the floor yardstick (floor-process.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { request } from 'undici';

export const BIN = fileURLToPath(new URL('../bin/sfmc-bridge.js', import.meta.url));

/** What `sfmc-bridge emulate --json` prints. */
export interface EmulatorInfo {
  SF_INSTANCE_URL: string;
  SF_ACCESS_TOKEN: string;
  /** `host:port` of the Pub/Sub API emulator (plaintext, loopback). */
  SF_PUBSUB_URL: string;
  MC_AUTH_BASE_URL: string;
  MC_CLIENT_ID: string;
  MC_CLIENT_SECRET: string;
}

/** A JSON call to an emulator (control API or token endpoint); a status of 300 or more throws with the body. */
export async function control(url: string, method: 'GET' | 'POST', body?: unknown): Promise<any> {
  const res = await request(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A Marketing Cloud token from the emulator's `/v2/token`, with the REST base URL it names. */
export async function mcToken(info: EmulatorInfo): Promise<{ access_token: string; rest_instance_url: string }> {
  return control(`${info.MC_AUTH_BASE_URL}/v2/token`, 'POST', {
    grant_type: 'client_credentials',
    client_id: info.MC_CLIENT_ID,
    client_secret: info.MC_CLIENT_SECRET,
  });
}

/** Starts `sfmc-bridge emulate --json` and waits for its URLs. */
export async function startEmulatorProcess(): Promise<{ info: EmulatorInfo; cpuMs(): number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'emulate', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, EMULATOR_RECORD_BODIES: 'false' },
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { info: JSON.parse(line) as EmulatorInfo, cpuMs: () => cpuMsOf(child.pid!), stop: () => stopChild(child) };
}

/** CPU time a child process has used so far, from /proc. */
export interface ProcessCpu {
  /** CPU time used so far (user + system, every thread), in ms. */
  cpuMs(): number;
  /** CPU time of its main thread (the one running JavaScript) so far, in ms. */
  mainThreadCpuMs(): number;
  /** CPU time so far of its threads other than the main one, in ms, summed by thread name. */
  otherThreadsCpuMs(): Map<string, number>;
}

/** A bridge child process. */
export interface BridgeProcess extends ProcessCpu {
  readonly pid: number;
  readonly exited: boolean;
  stderr(): string;
  /** Peak resident set size so far (VmHWM), in MiB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** NODE_OPTIONS for V8's sampling profiler (default interval), written into `dir` when the process exits. */
function profilerEnv(dir: string): { NODE_OPTIONS: string } {
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${dir}` };
}

/** Starts `sfmc-bridge start --config <path>` pointed at the emulators. */
export function spawnBridge(configPath: string, info: EmulatorInfo, options: { profileDir?: string } = {}): BridgeProcess {
  // --profile: V8's sampling profiler, beside the bin's own flags.
  const profile = options.profileDir ? profilerEnv(options.profileDir) : {};
  const child = spawn(process.execPath, [BIN, 'start', '--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...info, ...profile },
  });
  let err = '';
  let exited = false;
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  child.once('exit', () => {
    exited = true;
  });
  return {
    pid: child.pid!,
    get exited() {
      return exited;
    },
    stderr: () => err,
    peakRssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      return kb / 1024;
    },
    ...processCpu(child.pid!),
    stop: () => stopChild(child),
  };
}

/** The floor yardstick's child process (floor-process.ts). */
export interface FloorProcess extends ProcessCpu {
  readonly exited: boolean;
  stderr(): string;
  /** Ends its stdin; resolves with the CPU it counted for the forwarder once it has exited (and written its profile). */
  finish(): Promise<{ cpuMs: number; typeStripper: boolean }>;
}

/**
 * Starts the floor yardstick in a process of its own, with the service's Node flags and
 * environment (bin/service-flags.js) and V8's sampling profiler writing into `profileDir`, as
 * spawnBridge starts a profiled bridge; its outbox goes in `dir`.
 */
export async function spawnFloor(info: EmulatorInfo, dir: string, profileDir: string): Promise<FloorProcess> {
  const service: { serviceNodeFlags(): string[]; serviceEnv(): NodeJS.ProcessEnv } = await import(
    new URL('../bin/service-flags.js', import.meta.url).href
  );
  const args = [...service.serviceNodeFlags(), fileURLToPath(new URL('./floor-process.ts', import.meta.url)), dir];
  // Node's type stripper stays in a process once used (~5 MB more heap to mark); the service
  // never has it (bin/warm-sources.js). A first run that only loads the modules fills the
  // compile cache, so that the measured process finds them stripped.
  const env = { ...service.serviceEnv(), NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache') };
  const warm = spawnSync(process.execPath, args, { env: { ...env, BENCH_FLOOR_WARM: '1' }, encoding: 'utf8' });
  if (warm.status !== 0) throw new Error(`the floor's process failed to load: ${warm.stderr}`);
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...env, ...profilerEnv(profileDir), BENCH_EMULATORS: JSON.stringify(info) },
  });
  let out = '';
  let err = '';
  let exited = false;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
  return {
    get exited() {
      return exited;
    },
    stderr: () => err,
    ...processCpu(child.pid!),
    async finish() {
      child.stdin!.end();
      const code = await exit;
      if (code !== 0) throw new Error(`the floor's process exited with ${code}: ${err}`);
      return JSON.parse(out.trim().split('\n').at(-1)!) as { cpuMs: number; typeStripper: boolean };
    },
  };
}

/** CPU readers of process `pid`, from /proc. */
function processCpu(pid: number): ProcessCpu {
  return {
    cpuMs: () => cpuMsOf(pid),
    mainThreadCpuMs: () => cpuMsOf(pid, pid),
    otherThreadsCpuMs() {
      const out = new Map<string, number>();
      for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
        if (tid === pid) continue;
        try {
          const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
          out.set(name, (out.get(name) ?? 0) + cpuMsOf(pid, tid));
        } catch {
          // The thread ended between the listing and the read.
        }
      }
      return out;
    },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** User + system CPU time of a process and all its threads, or of its thread `tid`, from /proc (clock ticks of 10 ms). */
export function cpuMsOf(pid: number, tid?: number): number {
  const { fields } = procStat(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * A `/proc` stat file: the command name (in parentheses there, and it may hold spaces) and the
 * fields after it: state (0), ppid (1), ..., utime (11), stime (12), cutime (13), cstime (14),
 * times in clock ticks of 10 ms.
 */
export function procStat(path: string): { comm: string; fields: string[] } {
  const stat = readFileSync(path, 'utf8');
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}
