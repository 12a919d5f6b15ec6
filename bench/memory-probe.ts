/**
 * Memory probe for the burst scenario: the bridge in this process (emulators in a child), its
 * heap and RSS printed every 3 s. `N=100000 D=30 RATE=1000 node bench/memory-probe.ts`
 * (RATE=0: no Marketing Cloud rate limit). Add V8 flags to the node command to compare.
 */
import { tmpdir } from 'node:os';
import { startEmulatorProcess } from './processes.ts';
import { BENCH_CHANNEL, benchRoute, JOURNEY_TARGET } from './route.ts';
import { load } from '../src/config/load.ts';
import { createLogger } from '../src/core/log.ts';
import { startService } from '../src/service.ts';
import { request } from 'undici';
const emu = await startEmulatorProcess();
const info = emu.info;
const post = async (url: string, body: unknown) =>
  (await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).body.text();
if (process.env.RATE !== '0') await post(`${info.MC_AUTH_BASE_URL}/_emulator/rate-limit`, { perSecond: Number(process.env.RATE ?? 1000) });
await post(`${info.SF_INSTANCE_URL}/_emulator/generate`, { count: Number(process.env.N ?? 100000) });
const CHANNEL = BENCH_CHANNEL;
const config = load(
  {
    channels: [{ name: CHANNEL, replayFrom: -2 }],
    routes: [benchRoute({ ...JOURNEY_TARGET, eventDefinitionKey: 'K' })],
    store: { kind: 'sqlite', path: `${tmpdir()}/burst-probe-${process.pid}.db` },
  },
  { ...process.env, ...info },
);
const s = await startService(config, createLogger({ level: 'warn', pretty: false }));
const t0 = Date.now();
const timer = setInterval(async () => {
  const m = process.memoryUsage();
  const mb = (x: number) => Math.round(x / 1e6);
  console.log(
    `${Math.round((Date.now() - t0) / 1000)}s rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} ext ${mb(m.external)} ab ${mb(m.arrayBuffers)} backlog ${await s.store.backlog()} events ${s.telemetry.counters.eventsReceived} delivered ${s.telemetry.counters.delivered} retried ${s.telemetry.counters.retried} enriched ${s.salesforce.telemetry.counters.enrichedEvents}`,
  );
}, 3000);
await new Promise((r) => setTimeout(r, Number(process.env.D ?? 30) * 1000));
clearInterval(timer);
await s.stop();
await emu.stop();
