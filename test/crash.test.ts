/**
 * Nothing lost across crashes: the bridge runs as a real child process and is killed with
 * SIGKILL mid-stream (each time after it has delivered more since its start), again and
 * again; every event still reaches Marketing Cloud.
 */
import { crashLoop } from './helpers/bridge-process.ts';
import { bridgeConfig, startHarness, type Harness } from './helpers/harness.ts';

const TOTAL = 3000;
const KILLS = 4;
let h: Harness;

beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h.close(); });

test(`every one of ${TOTAL} events reaches Marketing Cloud although the bridge is SIGKILLed ${KILLS} times mid-stream`, async () => {
  const configPath = h.writeConfig(bridgeConfig(h.dir, { log: { level: 'info', pretty: false } }));
  const report = await crashLoop(h, configPath, { total: TOTAL, kills: KILLS });
  process.stdout.write(`crash test: ${TOTAL} events, ${KILLS} SIGKILLs (entries at start → at kill: ${report.runs.map((r) => `${r.atStart}→${r.atKill}`).join(', ')}), `
    + `${report.lost} lost, ${report.duplicates} duplicate journey entries (in flight at a kill, sent again)\n`);
  for (const run of report.runs) {
    expect(run.atKill).toBeGreaterThan(run.atStart); // delivering when killed
    expect(run.uniqueAtKill).toBeLessThan(TOTAL); // and not done yet
  }
  expect(report.lost).toBe(0);
  // At-least-once: a duplicate can only come from a batch in flight at a kill.
  expect(report.duplicates).toBeLessThanOrEqual(KILLS * 800);
}, 180_000);
