/**
 * The floor yardstick: a forwarder that does the least any bridge keeping the outbox contract
 * must do per event, and nothing else. faye's client receives each long-poll answer; its
 * messages go to the outbox (floor-outbox.ts: a row per event under a unique key with the
 * replay checkpoint, one SQLite transaction); the rows go to the Marketing Cloud emulator in
 * async batches of 100, 4 requests in flight; each answer's requestId is written on its rows.
 * No normalization, routing, mapping checks, enrichment, record index, retries, backpressure,
 * telemetry or logs.
 *
 * Used by `npm run bench` (in the same invocation as the bridge, against the same emulator: in
 * the driver, or with `--profile` in a process of its own, floor-process.ts) and by `npm run
 * bench:floor`. Profiled, this file's frames are the floor's delivery stage (stages.ts): its
 * own work is the send loop; faye's, undici's and the outbox's frames are their own stages.
 */
import { Pool } from 'undici';
import type { FloorStore, Row } from './floor-outbox.ts';
import { control, mcToken, type EmulatorInfo } from './processes.ts';
import { subscribeAll } from './yardsticks.ts';

const CHANNEL = '/data/ContactChangeEvent';
const KEY = 'APIEvent-bench';

/** A floor forwarder at work. */
export interface RunningFloor {
  /** CPU time of this process since the forwarder started, ms. */
  cpuMs(): number;
  /** Disconnects from the emulators and closes the outbox. */
  stop(): Promise<void>;
}

/** Starts the floor forwarder on every retained event of the channel, storing them in `outbox`. */
export async function startFloor(info: EmulatorInfo, outbox: FloorStore): Promise<RunningFloor> {
  const cpu0 = process.cpuUsage();
  const token = await mcToken(info);
  const rest = new URL(token.rest_instance_url);
  const path = `${rest.pathname.replace(/\/$/, '')}/interaction/v1/async/events`;
  const pool = new Pool(rest.origin, { connections: 4 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token.access_token}` };

  let received: any[] = [];
  let storing = false;
  const queued: Row[] = [];
  let inFlight = 0;
  const send = (): void => {
    while (inFlight < 4 && queued.length > 0) {
      const chunk = queued.splice(0, 100);
      inFlight++;
      const body = JSON.stringify({ eventDefinitionKey: KEY, members: chunk.map((r) => ({ contactKey: r.contactKey, data: r.data })) });
      void pool.request({ path, method: 'POST', headers, body }).then(async (res) => {
        const answer = (await res.body.json()) as { requestId: string };
        outbox.delivered(chunk, answer.requestId);
        inFlight--;
        send();
      });
    }
  };
  const storeReceived = (): void => {
    storing = false;
    const batch = received;
    received = [];
    for (const row of outbox.store(batch)) queued.push(row);
    send();
  };
  // faye hands a long-poll answer's messages over one by one: store them once the answer is through.
  const client = subscribeAll(
    info,
    CHANNEL,
    (m) => {
      received.push(m);
    },
    (message) => {
      if (message.channel === CHANNEL && !storing) {
        storing = true;
        setImmediate(storeReceived);
      }
    },
  );
  return {
    cpuMs() {
      const used = process.cpuUsage(cpu0);
      return (used.user + used.system) / 1000;
    },
    async stop() {
      await client.disconnect();
      await pool.close();
      outbox.close();
    },
  };
}

/** Runs the floor forwarder until the emulator holds `n` entries; the rate from the first to the last entry received. */
export async function measureFloor(info: EmulatorInfo, n: number, outbox: FloorStore): Promise<{ eventsPerSec: number; cpuMs: number }> {
  const floor = await startFloor(info, outbox);
  try {
    for (;;) {
      const s = await control(`${info.MC_AUTH_BASE_URL}/_emulator/stats`, 'GET');
      if (s.entries >= n) return { eventsPerSec: n / ((s.lastReceivedAt - s.firstReceivedAt) / 1000), cpuMs: floor.cpuMs() };
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await floor.stop();
  }
}
