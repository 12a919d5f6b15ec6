/**
 * Nothing lost across crashes: the bridge runs as a real child process and is killed with
 * SIGKILL mid-stream (each time after it has delivered more since its start), again and
 * again; every event still reaches Marketing Cloud.
 */
import { join } from 'node:path';
import { crashLoop, expectCrashBounds } from './helpers/bridge-process.ts';
import { bridgeConfig, startHarness, type Harness } from './helpers/harness.ts';

const TOTAL = 3000;
const KILLS = 4;
/**
 * What can be in flight at a kill with the config used (bridgeConfig: batchSize 100,
 * concurrency 4): the dispatcher sends `concurrency` chunks of `batchSize` at once.
 */
const IN_FLIGHT = 100 * 4;
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

test(`every one of ${TOTAL} events reaches Marketing Cloud although the bridge is SIGKILLed ${KILLS} times mid-stream`, async () => {
  const configPath = h.writeConfig(bridgeConfig(h.dir, { log: { level: 'info', pretty: false } }));
  const report = await crashLoop(h, configPath, { total: TOTAL, kills: KILLS, dbPath: join(h.dir, 'bridge.db') });
  expectCrashBounds('crash test', report, TOTAL, IN_FLIGHT);
}, 180_000);
