/**
 * Nothing lost across crashes over the Pub/Sub API: the bridge (`transport: "pubsub"`) runs as
 * a real child process and is killed with SIGKILL mid-stream, again and again; every event
 * still reaches Marketing Cloud, resuming from the base64 replay ID it committed.
 */
import { crashLoop } from './helpers/bridge-process.ts';
import { bridgeConfig, startHarness, type Harness } from './helpers/harness.ts';

const TOTAL = 3000;
const KILLS = 4;
let h: Harness;

beforeAll(async () => { h = await startHarness({ sf: { pubsub: true } }); });
afterAll(async () => { await h.close(); });

test(`every one of ${TOTAL} events reaches Marketing Cloud although the bridge is SIGKILLed ${KILLS} times mid-stream`, async () => {
  const configPath = h.writeConfig(bridgeConfig(h.dir, {
    salesforce: { transport: 'pubsub', pubsubUrl: h.sf.pubsub!.address },
    log: { level: 'info', pretty: false },
  }));
  const report = await crashLoop(h, configPath, { total: TOTAL, kills: KILLS });
  process.stdout.write(`pubsub crash test: ${TOTAL} events, ${KILLS} SIGKILLs (entries at start → at kill: ${report.runs.map((r) => `${r.atStart}→${r.atKill}`).join(', ')}), `
    + `${report.lost} lost, ${report.duplicates} duplicate journey entries (in flight at a kill, sent again)\n`);
  for (const run of report.runs) {
    expect(run.atKill).toBeGreaterThan(run.atStart);
    expect(run.uniqueAtKill).toBeLessThan(TOTAL);
  }
  expect(report.lost).toBe(0);
  // At-least-once: a duplicate can only come from a batch in flight at a kill.
  expect(report.duplicates).toBeLessThanOrEqual(KILLS * 800);
  expect(h.sf.pubsub!.stats().subscribes).toBeGreaterThanOrEqual(KILLS + 1);
}, 180_000);
