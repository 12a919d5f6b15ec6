/**
 * `sfmc-bridge demo`: the streaming and Marketing Cloud emulators, the bridge on the embedded
 * store, and a publisher of realistic Contact changes. Shows the journey entries arriving in
 * the Marketing Cloud emulator, with the bridge's correlation logs (debug level).
 */
import { rmSync } from 'node:fs';
import { load } from '../config/load.ts';
import { startMcEmulator } from '../emulators/mc/index.ts';
import { startStreamingEmulator } from '../emulators/streaming/index.ts';
import { to18 } from '../ids.ts';
import { createLogger, maskPersonal } from '../log.ts';
import { startService } from '../service.ts';
import { waitForShutdown } from './start.ts';

const FIRST = ['Ada', 'Grace', 'Alan', 'Katherine', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Radia'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Johnson', 'Torvalds', 'Hamilton', 'Ritchie', 'Liskov', 'Thompson', 'Perlman'];
const DEMO_KEY = 'APIEvent-contact-welcome';
const CHANNEL = '/data/ContactChangeEvent';

/** Options of the demo. */
export interface DemoOptions {
  /** Contact changes to publish. */
  events: number;
  /** Embedded store file (recreated on every run). */
  db: string;
  /** Keep running after the demo until SIGINT/SIGTERM. */
  keep: boolean;
  /** Salesforce transport the bridge uses. @default 'cometd' */
  transport?: 'cometd' | 'pubsub';
}

/** Runs the demo; resolves to the exit code. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const token = `00D000000000001!demo-${Math.random().toString(36).slice(2)}`;
  const sf = await startStreamingEmulator({ accessToken: token, pubsub: opts.transport === 'pubsub' });
  const secret = `demo-secret-${Math.random().toString(36).slice(2)}`;
  const mc = await startMcEmulator({ clientId: 'demo-client', clientSecret: secret, eventDefinitionKeys: [DEMO_KEY] });
  const env = { SF_INSTANCE_URL: sf.url, SF_ACCESS_TOKEN: token, MC_AUTH_BASE_URL: mc.authBaseUrl, MC_CLIENT_ID: 'demo-client', MC_CLIENT_SECRET: secret };
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${opts.db}${suffix}`, { force: true });
  const config = load({
    ...(sf.pubsub ? { salesforce: { transport: 'pubsub', pubsubUrl: sf.pubsub.address } } : {}),
    channels: [{ name: CHANNEL, replayFrom: -2 }],
    routes: [{
      name: 'contact-welcome', channel: CHANNEL, changeTypes: ['CREATE', 'UPDATE'], changedFields: ['Email'],
      target: { type: 'journey', eventDefinitionKey: DEMO_KEY, mode: 'batch' },
      mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'Name.LastName' }, required: ['Email'] },
    }],
    store: { kind: 'sqlite', path: opts.db },
    dispatcher: { pollIntervalMs: 20 },
    log: { level: 'debug', pretty: 'auto' },
  }, env);
  const logger = createLogger(config.log);
  logger.info({ streaming: sf.cometdUrl, pubsub: sf.pubsub?.address, marketingCloud: mc.authBaseUrl }, 'emulators started');
  const service = await startService(config, logger);

  const expected = await publish(sf, opts.events);
  const deadline = Date.now() + 30_000;
  while (mc.stats().entries < expected && Date.now() < deadline) await sleep(50);

  const entries = mc.received();
  const counts = await service.store.counts();
  process.stdout.write(`\nMarketing Cloud emulator received ${entries.length} journey entries (expected ${expected}):\n`);
  for (const e of entries.slice(0, 15)) {
    process.stdout.write(`  ${e.contactKey}  ${e.eventDefinitionKey}  ${maskPersonal(JSON.stringify(e.data))}  eventInstanceId=${e.eventInstanceId}\n`);
  }
  if (entries.length > 15) process.stdout.write(`  ... and ${entries.length - 15} more\n`);
  process.stdout.write(`Outbox: ${counts.delivered} delivered, ${counts.dead} dead-lettered (bad input on purpose), ${counts.pending + counts.inflight} pending.\n`);

  let code = entries.length >= expected ? 0 : 1;
  if (opts.keep) {
    process.stdout.write('Running; publish more through the streaming emulator, Ctrl-C to stop.\n');
    code = await waitForShutdown(service, logger);
  } else {
    await service.stop();
  }
  await Promise.all([sf.close(), mc.close()]);
  return code;
}

/** Publishes `count` realistic Contact changes (plus one with an invalid ID); returns the entries expected. */
async function publish(sf: Awaited<ReturnType<typeof startStreamingEmulator>>, count: number): Promise<number> {
  const ids: string[] = [];
  let expected = 0;
  for (let i = 0; i < count; i++) {
    const n = i % 10;
    if (i % 4 === 3 && ids.length >= 2) {
      // One event for two records: Salesforce merges identical changes of one transaction.
      const recordIds = [ids[i % ids.length]!, ids[(i + 1) % ids.length]!];
      sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds, fields: { Email: `team${i}@example.com` } });
      expected += 2;
    } else {
      const id = to18(`0035g0000${String(100000 + i)}`);
      ids.push(id);
      sf.publishChange({
        entityName: 'Contact', changeType: 'CREATE', recordIds: [id],
        fields: { Name: { FirstName: FIRST[n], LastName: LAST[(i * 7) % 10] }, Email: `${FIRST[n]!.toLowerCase()}.${i}@example.com`, Phone: '+1 415 555 0100' },
      });
      expected++;
    }
    // Bad input on purpose: it must land in the dead-letter queue while the stream goes on.
    if (i === Math.floor(count / 2)) sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-not-an-id'], fields: { Email: 'broken@example.com' } });
    await sleep(25);
  }
  return expected;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
