/**
 * Nothing lost across crashes over the Pub/Sub API: the bridge (`transport: "pubsub"`) runs as
 * a real child process and is killed with SIGKILL mid-stream, again and again; every event
 * still reaches Marketing Cloud, resuming from the base64 replay ID it committed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bridgeConfig, contactId, startHarness, waitFor, type Harness } from './helpers/harness.ts';

const BIN = fileURLToPath(new URL('../bin/sfmc-bridge.js', import.meta.url));
const TOTAL = 3000;
const KILLS = 4;
let h: Harness;
let child: ChildProcess | undefined;

beforeAll(async () => { h = await startHarness({ sf: { pubsub: true } }); });
afterAll(async () => {
  child?.kill('SIGKILL');
  await h.close();
});

function startBridge(configPath: string): ChildProcess & { started: Promise<void> } {
  const c = spawn(process.execPath, [BIN, 'start', '--config', configPath], { env: { ...process.env, ...h.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  c.stderr!.on('data', (d: Buffer) => process.stderr.write(`[bridge ${c.pid}] ${d}`));
  const started = new Promise<void>((resolve) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"started"')) resolve();
    });
  });
  return Object.assign(c, { started });
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })));
}

test(`every one of ${TOTAL} events reaches Marketing Cloud although the bridge is SIGKILLed ${KILLS} times mid-stream`, async () => {
  const configPath = h.writeConfig(bridgeConfig(h.dir, {
    salesforce: { transport: 'pubsub', pubsubUrl: h.sf.pubsub!.address },
    log: { level: 'info', pretty: false },
  }));
  let published = 0;
  const publisher = (async () => {
    while (published < TOTAL) {
      for (let i = 0; i < 10 && published < TOTAL; i++, published++) {
        h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(published)], fields: { Email: `k${published}@example.com` } });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  const entriesAtKill: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    child = startBridge(configPath);
    const before = h.mc.stats().entries;
    // Kill only once this run has delivered something (whether or not publishing is over), so
    // every kill lands mid-stream.
    await waitFor(() => h.mc.stats().entries > before + 50 || h.mc.stats().uniqueContacts >= TOTAL, 20_000, 'progress before the kill');
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
    child.kill('SIGKILL');
    expect((await exited(child)).signal).toBe('SIGKILL');
    entriesAtKill.push(h.mc.stats().entries);
  }
  await publisher;
  const last = startBridge(configPath);
  child = last;
  await last.started;
  await waitFor(() => h.mc.stats().uniqueContacts >= TOTAL, 60_000, `all ${TOTAL} contacts`);
  child.kill('SIGTERM');
  expect((await exited(child)).code).toBe(0);

  const stats = h.mc.stats();
  const lost = TOTAL - stats.uniqueContacts;
  process.stdout.write(`pubsub crash test: ${TOTAL} events, ${KILLS} SIGKILLs (entries at each kill: ${entriesAtKill.join(', ')}), `
    + `${lost} lost, ${stats.duplicates} duplicate journey entries (in flight at a kill, sent again)\n`);
  expect(lost).toBe(0);
  expect(stats.uniqueContacts).toBe(TOTAL);
  // At-least-once: a duplicate can only come from a batch in flight at a kill.
  expect(stats.duplicates).toBeLessThanOrEqual(KILLS * 800);
  expect(h.sf.pubsub!.stats().subscribes).toBeGreaterThanOrEqual(2);
}, 120_000);
