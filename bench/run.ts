/**
 * `npm run bench`: N Contact change events through streaming emulator → bridge → Marketing
 * Cloud emulator (`--scenario default`: journey entries in async batches; `--scenario
 * transactional`: one Transactional Messaging API e-mail per event, batch endpoint; `--scenario
 * dataextension`: one data extension row per event, async upserts, timed to when the bridge knows
 * the row is written, i.e. the action's delivered_at in the SQLite store; `--scenario backfill`:
 * bench/backfill.ts), with three
 * yardsticks measured in the same run against the same emulator and the same events: a raw
 * subscriber that only counts (the transport's limit), the floor (a forwarder that does only
 * what the outbox contract needs: floor-yardstick.ts) and a naive one that POSTs each event in
 * turn without persistence. Prints one JSON object as its last line. `--all` runs every
 * scenario, store and transport one after the other (all.ts). `--feedback` turns delivery status
 * feedback on for the route and adds the statuses published and the Salesforce REST calls they
 * took per 1,000 settled actions. `--profile` runs the bridge under V8's sampling profiler and
 * adds `stagesUsPerEvent`: its CPU per event while running, stage by stage (stages.ts); the
 * floor then runs in a process of its own under the same profiler and heap flags and adds
 * `floorStagesUsPerEvent`, over its own first to last entry, and the log a table of the two side
 * by side (stage, bridge µs, floor µs, difference).
 *
 * Processes: the emulators run in one child (`sfmc-bridge emulate`), the bridge in another
 * (`sfmc-bridge start`), the yardsticks in this driver (with `--profile`, the floor in a child
 * of its own: floor-process.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { to18 } from '../src/normalize/ids.ts';
import { control, spawnBridge, spawnFloor, startEmulatorProcess, type EmulatorInfo, type ProcessCpu } from './processes.ts';
import { measureFloor } from './floor-yardstick.ts';
import { sqliteStore } from './floor-outbox.ts';
import { benchStore } from './store.ts';
import { BENCH_CHANNEL, benchRoute, JOURNEY_TARGET } from './route.ts';
import { measureNaive, measureRaw } from './yardsticks.ts';
import { measureRawPubSub } from './yardstick-pubsub.ts';
import { markOf, stageTable, stagesBetween, type CpuMark } from './stages.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string' },
    scenario: { type: 'string', default: 'default' },
    duration: { type: 'string', default: '60' },
    'mc-rate': { type: 'string', default: '1000' },
    'latency-events': { type: 'string', default: '5000' },
    'latency-rate': { type: 'string', default: '2000' },
    store: { type: 'string', default: 'sqlite' },
    transport: { type: 'string', default: 'cometd' },
    all: { type: 'boolean', default: false },
    feedback: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
});
/** `--profile`: the bridge runs under V8's sampling profiler; the result adds its CPU per event by stage (stages.ts). */
const PROFILE = args.profile === true;
/** `--feedback`: the route publishes MC_Delivery_Status__e for each settled action (issue 17). */
const FEEDBACK = args.feedback === true;
const TRANSPORT = args.transport;
if (TRANSPORT !== 'cometd' && TRANSPORT !== 'pubsub') throw new Error(`--transport: expected cometd or pubsub, got ${TRANSPORT}`);
const N = Number(args.events ?? (args.scenario === 'burst' || args.scenario === 'backfill' ? 1_000_000 : 200_000));
const SCENARIOS = ['default', 'transactional', 'burst', 'dataextension', 'backfill'];
if (!SCENARIOS.includes(args.scenario!)) {
  process.stderr.write(`bench: --scenario must be one of ${SCENARIOS.join(', ')}, got ${JSON.stringify(args.scenario)}\n`);
  process.exit(2);
}
/** `transactional`: one Transactional Messaging API e-mail per event, through the batch endpoint. */
const TRANSACTIONAL = args.scenario === 'transactional';
/** `dataextension`: one row per event in a data extension, delivered when its async request's results say it is written. */
const DATA_EXT = args.scenario === 'dataextension';
if (DATA_EXT && args.store !== 'sqlite') {
  process.stderr.write('bench: --scenario dataextension reads delivery times from the SQLite store; use --store sqlite\n');
  process.exit(2);
}
const DE_KEY = 'Bench_Contacts';
const CHANNEL = BENCH_CHANNEL;
const KEY = JOURNEY_TARGET.eventDefinitionKey;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function main(): Promise<void> {
  if (args.all) {
    const { runAll } = await import('./all.ts');
    await runAll(args.events ? ['--events', args.events] : [], log);
    return;
  }
  if (args.scenario === 'backfill') {
    const { runBackfillBench } = await import('./backfill.ts');
    process.stdout.write(`${JSON.stringify(await runBackfillBench({ records: N, log }))}\n`);
    return;
  }
  if (args.scenario === 'burst') {
    const { runBurst } = await import('./burst.ts');
    const result = await runBurst({ events: N, durationSec: Number(args.duration), mcRate: Number(args['mc-rate']), control, log });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sfmc-bench-'));
  const store = benchStore(args.store, dir);
  const emu = await startEmulatorProcess();
  try {
    const info: EmulatorInfo = emu.info;
    log(`emulators up: ${info.SF_INSTANCE_URL}, ${info.MC_AUTH_BASE_URL}; publishing ${N} events`);
    // Transactional sends need an address on every event: CREATEs only (they carry Email).
    // Sends need an address, rows every mapped field: CREATEs only (an UPDATE would make the
    // bridge fetch the rest from Salesforce, which is the enrichment's cost, not the target's).
    await control(`${info.SF_INSTANCE_URL}/_emulator/generate`, 'POST', TRANSACTIONAL || DATA_EXT ? { count: N, updateRatio: 0 } : { count: N });

    // The raw yardstick uses the bridge's transport, so `ofRaw` compares like with like.
    const rawCpu0 = { emulator: emu.cpuMs(), driver: process.cpuUsage() };
    const raw = TRANSPORT === 'pubsub' ? await measureRawPubSub(info, CHANNEL, N) : await measureRaw(info, CHANNEL, N);
    const rawDriver = process.cpuUsage(rawCpu0.driver);
    const rawCpu = { emulator: emu.cpuMs() - rawCpu0.emulator, subscriber: (rawDriver.user + rawDriver.system) / 1000 };
    log(`raw subscriber: ${Math.round(raw.eventsPerSec)} events/s`);

    // The floor (a forwarder that does only what the outbox contract needs) over the same
    // events on the same emulator, so `ofFloor` compares within one run. Always CometD and
    // journey batches: it is the contract's cost, whichever path the bridge takes. Profiled, in a
    // process of its own, so that its CPU is not mixed with this driver's.
    const floorEmuCpu0 = emu.cpuMs();
    const floor = PROFILE ? await profiledFloor(info, dir) : { ...(await measureFloor(info, N, sqliteStore(dir))), stages: undefined };
    const floorCpu = { floor: floor.cpuMs, emulator: emu.cpuMs() - floorEmuCpu0 };
    await control(`${info.MC_AUTH_BASE_URL}/_emulator/reset`, 'POST', {});
    log(`floor (SQLite): ${Math.round(floor.eventsPerSec)} events/s`);

    const config = {
      ...(TRANSPORT === 'pubsub' ? { salesforce: { transport: 'pubsub', pubsubUrl: info.SF_PUBSUB_URL } } : {}),
      channels: [{ name: CHANNEL, replayFrom: -2 }],
      ...(DATA_EXT ? { dispatcher: { targets: { dataExtension: { confirmAfterMs: 100 } } } } : {}),
      routes: [
        DATA_EXT
          ? benchRoute({ type: 'dataExtension', key: DE_KEY, fieldTypes: { Email: 'EmailAddress' } })
          : TRANSACTIONAL
            ? benchRoute(
                { type: 'transactional', definitionKey: 'bench-send', addressField: 'Email', mode: 'batch' },
                { FirstName: 'FirstName', LastName: 'LastName' },
              )
            : benchRoute(),
      ],
      store: store.config,
      log: { level: 'warn', pretty: false },
    };
    if (FEEDBACK) (config.routes[0] as Record<string, unknown>).feedback = true;
    const configPath = join(dir, 'bridge.json');
    writeFileSync(configPath, JSON.stringify(config));
    const emuCpuBefore = emu.cpuMs();
    const dbCpuBefore = store.serverCpuMs?.();
    const profileDir = join(dir, 'profile');
    const bridge = spawnBridge(configPath, { ...info, ...store.env }, PROFILE ? { profileDir } : {});
    // What arrived: journey entries, or accepted sends in the transactional scenario.
    const mcStats = async (): Promise<McStats> => {
      if (DATA_EXT) return rowsKnownWritten(String(store.config.path));
      const st = await control(`${info.MC_AUTH_BASE_URL}/_emulator/stats`, 'GET');
      return TRANSACTIONAL ? { ...st, entries: st.sends, duplicates: st.messageKeyReused } : st;
    };
    // The bridge's CPU when the first entries reached Marketing Cloud: its start-up (loading,
    // type stripping, opening the store, subscribing), which the floor's figure never counts.
    const { first: atFirst, last: running, stats: s } = await follow(bridge, mcStats, 'the bridge');
    // CPU per event of each process over the throughput phase (the bridge's includes its start-up).
    const dbCpuAfter = store.serverCpuMs?.();
    const cpu = {
      bridge: running.cpuMs,
      emulators: emu.cpuMs() - emuCpuBefore,
      database: dbCpuBefore === undefined || dbCpuAfter === undefined ? undefined : dbCpuAfter - dbCpuBefore,
    };
    const eventsPerSec = N / ((s.lastReceivedAt - s.firstReceivedAt) / 1000);
    log(`bridge: ${Math.round(eventsPerSec)} events/s (${N} ${TRANSACTIONAL ? 'transactional sends' : 'entries'})`);

    // Latency: events published one by one at a steady rate, well under saturation.
    await control(`${info.MC_AUTH_BASE_URL}/_emulator/reset`, 'POST', {});
    const latencyEvents = Number(args['latency-events']);
    const gapMs = 1000 / Number(args['latency-rate']);
    const publishedAt = new Map<string, number>();
    const t0 = Date.now();
    for (let i = 0; i < latencyEvents; i++) {
      const id = contactId(i);
      const due = t0 + i * gapMs;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      publishedAt.set(id, Date.now());
      await control(`${info.SF_INSTANCE_URL}/_emulator/publish`, 'POST', {
        change: {
          entityName: 'Contact',
          changeType: 'CREATE',
          recordIds: [id],
          fields: { Email: `lat${i}@example.com`, Name: { FirstName: 'L', LastName: `T${i}` } },
        },
      });
    }
    const deadline = Date.now() + 60_000;
    while ((await mcStats()).entries < latencyEvents && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (DATA_EXT) while ((await mcStats()).entries < N + latencyEvents && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const received: { contactKey: string; receivedAt: number }[] = DATA_EXT
      ? deliveredAt(String(store.config.path))
      : await control(`${info.MC_AUTH_BASE_URL}/_emulator/${TRANSACTIONAL ? 'sends' : 'received'}`, 'GET');
    const latencies = received
      .filter((e) => publishedAt.has(e.contactKey))
      .map((e) => e.receivedAt - publishedAt.get(e.contactKey)!)
      .sort((a, b) => a - b);
    // Feedback: every settled action's status published, and the REST calls that took.
    let feedback: { statuses: number; sfRestCalls: number; restCallsPer1000Settled: number } | undefined;
    if (FEEDBACK) {
      const settled = N + latencyEvents;
      const fbDeadline = Date.now() + 120_000;
      let sf = await control(`${info.SF_INSTANCE_URL}/_emulator/stats`, 'GET');
      while (sf.publishedOverRest < settled && Date.now() < fbDeadline) {
        await new Promise((r) => setTimeout(r, 200));
        sf = await control(`${info.SF_INSTANCE_URL}/_emulator/stats`, 'GET');
      }
      const calls = ((await control(`${info.SF_INSTANCE_URL}/_emulator/rest-calls`, 'GET')) as { path: string }[]).filter((c) =>
        c.path.endsWith('/composite/sobjects'),
      ).length;
      feedback = { statuses: sf.publishedOverRest, sfRestCalls: calls, restCallsPer1000Settled: Math.round((calls / settled) * 1000 * 100) / 100 };
      log(`feedback: ${sf.publishedOverRest} statuses in ${calls} calls`);
    }
    const peakRssMb = bridge.peakRssMb();
    await bridge.stop();
    // CPU per event by stage while running (from the first entries to the last), as cpuUsPerEvent.bridgeRunning.
    const stages = PROFILE ? stagesBetween(profileDir, atFirst, running) : undefined;
    if (stages && floor.stages)
      log(`CPU µs per event by stage, from the first entry in Marketing Cloud to the last:\n${stageTable(stages, floor.stages)}`);

    const naive = await measureNaive(info, CHANNEL, KEY, 8_000);
    log(`naive subscriber: ${Math.round(naive.eventsPerSec)} events/s`);

    const result = {
      scenario: args.scenario,
      store: args.store,
      transport: TRANSPORT,
      events: N,
      ...(feedback ? { feedback } : {}),
      eventsPerSec: Math.round(eventsPerSec),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      latencySamples: latencies.length,
      peakRssMb: Math.round(peakRssMb * 10) / 10,
      naiveEventsPerSec: Math.round(naive.eventsPerSec),
      rawEventsPerSec: Math.round(raw.eventsPerSec),
      floorEventsPerSec: Math.round(floor.eventsPerSec),
      ofFloor: Math.round((eventsPerSec / floor.eventsPerSec) * 100) / 100,
      ofRaw: Math.round((eventsPerSec / raw.eventsPerSec) * 100) / 100,
      timesNaive: Math.round((eventsPerSec / naive.eventsPerSec) * 10) / 10,
      // Where the two cores go: CPU microseconds per event, per process.
      cpuUsPerEvent: {
        bridge: Math.round((cpu.bridge * 1000) / N),
        // Per event once running: from the first entries in Marketing Cloud to the last.
        bridgeRunning: Math.round(((cpu.bridge - atFirst.cpuMs) * 1000) / (N - atFirst.entries)),
        // Its CPU milliseconds until then (start-up), outside the per-event figure above.
        bridgeStartupMs: Math.round(atFirst.cpuMs),
        emulators: Math.round((cpu.emulators * 1000) / N),
        // Postgres: the database server's CPU over the same phase (store.ts, postgresCpuMs).
        ...(cpu.database === undefined ? {} : { database: Math.round((cpu.database * 1000) / N) }),
        rawSubscriber: Math.round((rawCpu.subscriber * 1000) / N),
        rawEmulator: Math.round((rawCpu.emulator * 1000) / N),
        floor: Math.round((floorCpu.floor * 1000) / N),
        floorEmulator: Math.round((floorCpu.emulator * 1000) / N),
      },
      ...(stages ? { stagesUsPerEvent: stages } : {}),
      ...(floor.stages ? { floorStagesUsPerEvent: floor.stages } : {}),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await emu.stop();
    await store.cleanup();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

/** What Marketing Cloud (or, for data extensions, the bridge's store) holds so far. */
interface McStats {
  entries: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  duplicates: number;
}

/**
 * Polls `stats` until Marketing Cloud holds N entries: the CPU of `proc` at the first entries and
 * once all N are in (CPU marks, stages.ts), and the stats read after.
 */
async function follow(
  proc: ProcessCpu & { readonly exited: boolean; stderr(): string },
  stats: () => Promise<McStats>,
  what: string,
): Promise<{ first: CpuMark; last: CpuMark; stats: McStats }> {
  const started = Date.now();
  let first: CpuMark | undefined;
  for (;;) {
    const s = await stats();
    if (s.entries > 0) {
      first ??= markOf(proc, s.entries);
      if (s.entries >= N) {
        const after = await stats();
        return { first, last: markOf(proc, N), stats: after };
      }
    }
    if (proc.exited) throw new Error(`${what} exited early: ${proc.stderr()}`);
    if (Date.now() - started > 600_000) throw new Error(`${what}: only ${s.entries} of ${N} entries after 10 minutes`);
    await new Promise((r) => setTimeout(r, first === undefined ? 10 : 100));
  }
}

/**
 * The floor in a process of its own under V8's profiler (floor-process.ts): its rate from the
 * first entry to the last and its CPU, both as measureFloor counts them, and its CPU per event
 * by stage over the same window as the bridge's.
 */
async function profiledFloor(info: EmulatorInfo, dir: string): Promise<{ eventsPerSec: number; cpuMs: number; stages: Record<string, number> }> {
  const profileDir = join(dir, 'floor-profile');
  const floor = await spawnFloor(info, dir, profileDir);
  const { first, last, stats } = await follow(floor, () => control(`${info.MC_AUTH_BASE_URL}/_emulator/stats`, 'GET'), "the floor's process");
  const { cpuMs, typeStripper } = await floor.finish();
  if (typeStripper) log("the floor's process had Node's type stripper loaded (a cold compile cache?): ~5 MB more heap than the service's");
  return { eventsPerSec: N / ((stats.lastReceivedAt - stats.firstReceivedAt) / 1000), cpuMs, stages: stagesBetween(profileDir, first, last) };
}

/**
 * Rows the bridge knows are written (delivered data extension actions) and when, read from the
 * running bridge's SQLite store: first and last delivery times.
 */
function rowsKnownWritten(path: string): { entries: number; firstReceivedAt: number; lastReceivedAt: number; duplicates: number } {
  // Not there until the bridge has opened it.
  if (!existsSync(path)) return { entries: 0, firstReceivedAt: 0, lastReceivedAt: 0, duplicates: 0 };
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    // From the bridge's receipt of the first event: rows are confirmed in bursts, so the span of
    // delivery times alone would flatter the rate.
    // Both kinds of delivered rows (src/outbox/sqlite/schema.ts, ACTION_ROWS), each through its index.
    const r = db
      .prepare(`SELECT count(*) AS n, min(received_at) AS f, max(delivered_at) AS l FROM (
        SELECT received_at, delivered_at FROM actions WHERE status = 'delivered'
        UNION ALL SELECT a.received_at, d.delivered_at FROM deliveries d JOIN actions a ON a.id = d.action_id)`)
      .get() as {
      n: number;
      f: number | null;
      l: number | null;
    };
    return { entries: r.n, firstReceivedAt: r.f ?? 0, lastReceivedAt: r.l ?? 0, duplicates: 0 };
  } catch {
    return { entries: 0, firstReceivedAt: 0, lastReceivedAt: 0, duplicates: 0 };
  } finally {
    db.close();
  }
}

/** When each record's row became known written. */
function deliveredAt(path: string): { contactKey: string; receivedAt: number }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(`SELECT record_id AS contactKey, delivered_at AS receivedAt FROM action_rows WHERE status = 'delivered'`).all() as {
      contactKey: string;
      receivedAt: number;
    }[];
  } finally {
    db.close();
  }
}

/** 18-character Contact IDs for the latency phase, apart from the generator's. */
function contactId(n: number): string {
  return to18(`0035g0000L${String(n).padStart(5, '0')}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
