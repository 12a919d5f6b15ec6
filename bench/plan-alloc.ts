/**
 * Micro-measure of the garbage the planning path makes: V8 heap bytes allocated per event by
 *  - `planner`: the pure planner (normalize + route + map + keys), as bench/planner.ts runs it;
 *  - `store`: the enriching planner (own-change check, fetch of what an UPDATE lacks from an
 *    in-memory REST stand-in through the real RecordFetcher and its cache) and the pipeline
 *    sink committing each batch with its checkpoint to a SQLite outbox in a temporary file.
 * Events are the default bench's: Contact changes from the emulator's generator (30% CREATEs,
 * 70% UPDATEs of one or two fields), serialized as CometD delivers them and parsed before the
 * timed part (parsing is the subscriber's). Each figure is measured in a child process run with
 * `--single-threaded` and semi-spaces large enough that no collection runs while it is timed
 * (checked: a run with a collection is refused), as heap used after minus before over events.
 * Not a test; `node bench/plan-alloc.ts [events]` prints one JSON line. To see who allocates,
 * `PLAN_ALLOC_HEAP_PROFILE=out.heapprofile node bench/plan-alloc.ts 20000 store` writes V8's
 * sampling heap profile of the timed part (every sample kept, collected or not); its figure is
 * then not the bare one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import pino from 'pino';
import { createPlanner } from '../src/pipeline/planner.ts';
import { createEnrichingPlanner } from '../src/pipeline/enriching-planner.ts';
import { createPipelineSink } from '../src/pipeline/sink.ts';
import { RecordFetcher, type SalesforceRest } from '../src/enrich/fetcher.ts';
import { builtinMappers } from '../src/route/mapper-loader.ts';
import { parseConfig } from '../src/config/load.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { generateContactChanges } from '../src/emulators/streaming/generate.ts';
import { changeEventData, type ChangeContext } from '../src/emulators/streaming/payloads.ts';
import type { RawEvent } from '../src/core/model.ts';
import type { BridgeConfig } from '../src/config/schema.ts';
import { BENCH_CHANNEL, benchRoute } from './route.ts';

const CHANNEL = BENCH_CHANNEL;
const BATCH = 500;
const WARMUP_BATCHES = 20;
const MODES = ['planner', 'store'] as const;
type Mode = (typeof MODES)[number];

const events = Number(process.argv[2] ?? 20_000);
const mode = process.argv[3] as Mode | undefined;

if (mode === undefined) {
  const out: Record<string, number> = { events };
  for (const m of MODES) {
    const child = spawnSync(
      process.execPath,
      [
        '--single-threaded',
        '--expose-gc',
        '--min-semi-space-size=512',
        '--max-semi-space-size=512',
        fileURLToPath(import.meta.url),
        String(events),
        m,
      ],
      { encoding: 'utf8' },
    );
    if (child.status !== 0) throw new Error(`plan-alloc ${m} failed: ${child.stderr}`);
    out[`${m}BytesPerEvent`] = JSON.parse(child.stdout.trim().split('\n').pop()!).bytesPerEvent;
  }
  console.log(JSON.stringify(out));
} else {
  console.log(JSON.stringify(await measure(mode)));
}

/** The default bench's events, in batches, parsed; the records the REST stand-in holds. */
function workload(total: number): { batches: RawEvent[][]; records: Map<string, Record<string, unknown>> } {
  const texts: string[] = [];
  const ctx: ChangeContext = { apiVersion: '62.0', nextCommitNumber: () => BigInt(texts.length + 1), lastTransaction: undefined };
  const records = new Map<string, Record<string, unknown>>();
  const pool = { ids: [] as string[], nextSerial: 1_000_000 };
  generateContactChanges(pool, total, { seed: 7 }, (spec) => {
    const replayId = texts.length + 1;
    texts.push(changeEventData({ ...spec, commitTimestamp: 1_765_000_000_000 + replayId }, replayId, ctx));
    const id = spec.recordIds[0]!;
    if (spec.changeType === 'CREATE') {
      const name = spec.fields!.Name as { FirstName: string; LastName: string };
      records.set(id, { Id: id, Email: spec.fields!.Email, FirstName: name.FirstName, LastName: name.LastName });
    }
    return replayId;
  });
  const batches: RawEvent[][] = [];
  for (let b = 0; b < texts.length; b += BATCH) {
    batches.push(
      texts
        .slice(b, b + BATCH)
        .map((text, i) => ({ channel: CHANNEL, replayId: String(b + i + 1), data: JSON.parse(text), receivedAt: 1_765_000_000_000 })),
    );
  }
  return { batches, records };
}

/** Answers `SELECT … WHERE Id IN ('…', …)` from `records` (IDs are the 18 characters between quotes). */
function restOver(records: Map<string, Record<string, unknown>>): SalesforceRest {
  return {
    describe: async () => ({ fields: ['Id', 'Email', 'FirstName', 'LastName', 'Phone', 'Title'].map((name) => ({ name })) }),
    queryMore: async () => ({ records: [], done: true }),
    query: async (soql) => {
      const found: Record<string, unknown>[] = [];
      for (let at = soql.indexOf("'"); at >= 0; at = soql.indexOf("'", at + 20)) {
        const r = records.get(soql.slice(at + 1, at + 19));
        if (r !== undefined) found.push(r);
      }
      return { records: found, done: true };
    },
  };
}

async function measure(which: Mode): Promise<{ mode: Mode; events: number; actions: number; bytesPerEvent: number }> {
  const config = parseConfig({
    channels: [{ name: CHANNEL }],
    routes: [benchRoute()],
  }) as unknown as BridgeConfig;
  const { batches, records } = workload(events + WARMUP_BATCHES * BATCH);
  let actions = 0;
  let run: (batch: RawEvent[]) => Promise<void> | void;
  let close = async (): Promise<void> => {};
  if (which === 'planner') {
    const planner = createPlanner(config, builtinMappers());
    run = (batch) => {
      actions += planner(batch).actions.length;
    };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'plan-alloc-'));
    const store = openSqliteStore({ path: join(dir, 'outbox.db') });
    const logger = pino({ level: 'silent' });
    const telemetry = new Telemetry(logger);
    const fetcher = new RecordFetcher(restOver(records), config.salesforce.enrichment);
    const planner = createEnrichingPlanner({ config, mappers: builtinMappers(), fetcher, telemetry: telemetry.salesforce, logger, marks: new Map() });
    const sink = createPipelineSink({ planner, store, telemetry, onCommitted: (n) => (actions += n) });
    run = (batch) => sink(batch, new Map([[CHANNEL, batch[batch.length - 1]!.replayId]]));
    close = async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  for (let w = 0; w < WARMUP_BATCHES; w++) await run(batches[w]!);
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, 10));
  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const profileTo = process.env.PLAN_ALLOC_HEAP_PROFILE;
  const session = profileTo ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  actions = 0;
  const before = process.memoryUsage().heapUsed;
  for (let b = WARMUP_BATCHES; b < batches.length; b++) await run(batches[b]!);
  const after = process.memoryUsage().heapUsed;
  if (session) writeFileSync(profileTo!, JSON.stringify((await session.post('HeapProfiler.stopSampling')).profile));
  await new Promise((resolve) => setTimeout(resolve, 10));
  observer.disconnect();
  await close();
  if (collections > 0 && !session)
    throw new Error(`${collections} collections ran while measuring: give the semi-spaces more room or measure fewer events`);
  return { mode: which, events, actions, bytesPerEvent: Math.round((after - before) / events) };
}
