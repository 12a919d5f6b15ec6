/**
 * `npm run bench -- --scenario burst`: N events published at once (1,000,000 by default) while
 * the Marketing Cloud emulator accepts only `--mc-rate` contacts per second (1,000); the bridge
 * is watched for `--duration` seconds (60), not run to completion. The question is memory:
 * `peakRssMb` (the bridge's VmHWM) must stay bounded whatever the burst, because the
 * subscriber stops asking for events while the outbox holds more than its bound.
 * Prints the same JSON object as the default scenario; the yardsticks (naive, raw) are not run
 * (they would read the whole burst), so those fields are null.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBridge, startEmulatorProcess } from './processes.ts';
import { BENCH_CHANNEL, benchRoute } from './route.ts';

type Control = (url: string, method: 'GET' | 'POST', body?: unknown) => Promise<any>;

/** A control call, tried again once: an emulator may close an idle keep-alive socket as we reuse it. */
async function retried(control: Control, url: string, method: 'GET' | 'POST', body?: unknown): Promise<any> {
  try {
    return await control(url, method, body);
  } catch {
    await new Promise((r) => setTimeout(r, 100));
    return control(url, method, body);
  }
}

/** Options of the burst scenario. */
export interface BurstOptions {
  events: number;
  durationSec: number;
  mcRate: number;
  control: Control;
  log(message: string): void;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs the burst scenario; returns the result object. */
export async function runBurst(o: BurstOptions): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'sfmc-burst-'));
  const emu = await startEmulatorProcess();
  const { info } = emu;
  try {
    await retried(o.control, `${info.MC_AUTH_BASE_URL}/_emulator/rate-limit`, 'POST', { perSecond: o.mcRate });
    const t0 = Date.now();
    await retried(o.control, `${info.SF_INSTANCE_URL}/_emulator/generate`, 'POST', { count: o.events });
    const publishedAt = Date.now();
    o.log(`published ${o.events} events in ${publishedAt - t0} ms; Marketing Cloud limited to ${o.mcRate}/s; watching for ${o.durationSec} s`);
    const CHANNEL = BENCH_CHANNEL;
    const config = {
      channels: [{ name: CHANNEL, replayFrom: -2 }],
      routes: [benchRoute()],
      store: { kind: 'sqlite', path: join(dir, 'burst.db') },
      log: { level: 'warn', pretty: false },
    };
    const configPath = join(dir, 'bridge.json');
    writeFileSync(configPath, JSON.stringify(config));
    const bridge = spawnBridge(configPath, info);
    const started = Date.now();
    let peak = 0;
    while (Date.now() - started < o.durationSec * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      if (bridge.exited) throw new Error(`the bridge exited early: ${bridge.stderr()}`);
      peak = Math.max(peak, bridge.peakRssMb());
      const s = await retried(o.control, `${info.MC_AUTH_BASE_URL}/_emulator/stats`, 'GET');
      const sf = await retried(o.control, `${info.SF_INSTANCE_URL}/_emulator/stats`, 'GET');
      const elapsed = Math.round((Date.now() - started) / 1000);
      if (elapsed % 5 === 0)
        o.log(
          `${elapsed} s: delivered ${s.entries} (429s: ${s.faulted}, requests ${s.requests}), streamed ${sf.delivered}, REST calls ${sf.restCalls}, RSS peak ${Math.round(peak)} MB`,
        );
    }
    peak = Math.max(peak, bridge.peakRssMb());
    const s = await retried(o.control, `${info.MC_AUTH_BASE_URL}/_emulator/stats`, 'GET');
    const sf = await retried(o.control, `${info.SF_INSTANCE_URL}/_emulator/stats`, 'GET');
    const received: { receivedAt: number }[] = await retried(o.control, `${info.MC_AUTH_BASE_URL}/_emulator/received`, 'GET');
    await bridge.stop();
    // Every event was published at once: its latency is its wait from the publish to Marketing Cloud.
    const latencies = received.map((e) => e.receivedAt - publishedAt).sort((a, b) => a - b);
    const span = (s.lastReceivedAt - s.firstReceivedAt) / 1000;
    o.log(`streamed to the bridge: ${sf.delivered} of ${o.events}; delivered: ${s.entries}; refused with 429: ${s.faulted}`);
    return {
      scenario: 'burst',
      events: o.events,
      durationSec: o.durationSec,
      mcRatePerSec: o.mcRate,
      eventsPerSec: span > 0 ? Math.round(s.entries / span) : 0,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      latencySamples: latencies.length,
      peakRssMb: Math.round(peak * 10) / 10,
      naiveEventsPerSec: null,
      rawEventsPerSec: null,
      ofRaw: null,
      timesNaive: null,
      delivered: s.entries,
      streamed: sf.delivered,
    };
  } finally {
    await emu.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}
