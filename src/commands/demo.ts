/**
 * `sfmc-bridge demo`: the streaming and Marketing Cloud emulators, the bridge on the embedded
 * store with the shipped routes, and a publisher of realistic Contact changes plus the admin's
 * platform events (`MC_Journey_Entry__e`, `MC_Send__e`, as a Flow publishes them). Shows the
 * journey entries and transactional sends arriving in the Marketing Cloud emulator, with the
 * bridge's correlation logs (debug level).
 */
import { rmSync } from 'node:fs';
import { load } from '../config/load.ts';
import { startMcEmulator } from '../emulators/mc/index.ts';
import { startStreamingEmulator } from '../emulators/streaming/index.ts';
import { to18 } from '../normalize/ids.ts';
import { createLogger, maskPersonal } from '../core/log.ts';
import { startService } from '../service.ts';
import { waitForShutdown } from './start.ts';

const FIRST = ['Ada', 'Grace', 'Alan', 'Katherine', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Radia'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Johnson', 'Torvalds', 'Hamilton', 'Ritchie', 'Liskov', 'Thompson', 'Perlman'];
const DEMO_KEY = 'APIEvent-contact-welcome';
const ADMIN_KEY = 'APIEvent-admin-default';
const RENEWAL_KEY = 'APIEvent-renewal-reminder';
const SEND_KEY = 'order-confirmation';
const CHANNEL = '/data/ContactChangeEvent';
/** The sendable data extension the demo keeps current (config/examples/sendable-data-extension.json). */
const DE_KEY = 'Contacts_Sendable';
const JOURNEY_EVENT = 'MC_Journey_Entry__e';
const SEND_EVENT = 'MC_Send__e';
type Emulator = Awaited<ReturnType<typeof startStreamingEmulator>>;

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
  const mc = await startMcEmulator({
    clientId: 'demo-client',
    clientSecret: secret,
    eventDefinitionKeys: [DEMO_KEY, ADMIN_KEY, RENEWAL_KEY],
    sendDefinitionKeys: [SEND_KEY],
    dataExtensions: [
      {
        key: DE_KEY,
        fields: [
          { name: 'ContactKey', type: 'Text', isPrimaryKey: true, maxLength: 18 },
          { name: 'Email', type: 'EmailAddress', maxLength: 254 },
          { name: 'FirstName', type: 'Text', maxLength: 40 },
          { name: 'LastName', type: 'Text', maxLength: 80 },
          { name: 'IsDeleted', type: 'Boolean' },
        ],
      },
    ],
  });
  const env = {
    SF_INSTANCE_URL: sf.url,
    SF_ACCESS_TOKEN: token,
    MC_AUTH_BASE_URL: mc.authBaseUrl,
    MC_CLIENT_ID: 'demo-client',
    MC_CLIENT_SECRET: secret,
  };
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${opts.db}${suffix}`, { force: true });
  const config = load(
    {
      ...(sf.pubsub ? { salesforce: { transport: 'pubsub', pubsubUrl: sf.pubsub.address } } : {}),
      // The shipped routes (config/bridge.json): Contact changes and the admin's two events.
      channels: [
        { name: CHANNEL, replayFrom: -2 },
        { name: `/event/${JOURNEY_EVENT}`, replayFrom: -2 },
        { name: `/event/${SEND_EVENT}`, replayFrom: -2 },
      ],
      routes: [
        {
          name: 'contact-welcome',
          channel: CHANNEL,
          changeTypes: ['CREATE', 'UPDATE'],
          changedFields: ['Email'],
          target: { type: 'journey', eventDefinitionKey: DEMO_KEY, mode: 'batch' },
          mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'Name.LastName' }, required: ['Email'] },
        },
        {
          name: 'admin-journey-entry',
          channel: `/event/${JOURNEY_EVENT}`,
          mapper: 'journey-entry-event',
          target: { type: 'journey', eventDefinitionKey: ADMIN_KEY, mode: 'batch' },
        },
        {
          name: 'admin-send',
          channel: `/event/${SEND_EVENT}`,
          mapper: 'send-event',
          target: { type: 'transactional', mode: 'batch' },
        },
        {
          // A sendable data extension kept current (config/examples/sendable-data-extension.json, trimmed).
          name: 'contacts-sendable',
          channel: CHANNEL,
          changeTypes: ['CREATE', 'UPDATE', 'DELETE'],
          target: { type: 'dataExtension', key: DE_KEY, fieldTypes: { Email: 'EmailAddress' }, deletes: 'softDelete' },
          mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'Name.LastName' } },
        },
      ],
      store: { kind: 'sqlite', path: opts.db },
      dispatcher: { pollIntervalMs: 20, targets: { dataExtension: { confirmAfterMs: 100 } } },
      log: { level: 'debug', pretty: 'auto' },
    },
    env,
  );
  const logger = createLogger(config.log);
  logger.info({ streaming: sf.cometdUrl, pubsub: sf.pubsub?.address, marketingCloud: mc.authBaseUrl }, 'emulators started');
  const service = await startService(config, logger);

  const { ids, entries: expected } = await publish(sf, opts.events);
  const admin = publishAdminEvents(sf, ids);
  const deadline = Date.now() + 30_000;
  while (
    (mc.stats().entries < expected + admin.entries || mc.stats().sends < admin.sends || mc.rows(DE_KEY).length < ids.length) &&
    Date.now() < deadline
  )
    await sleep(50);
  await service.dispatcher.settled();

  const entries = mc.received();
  const sends = mc.sends();
  const counts = await service.store.counts();
  const out = (line = ''): void => {
    process.stdout.write(`${line}\n`);
  };
  const contactEntries = entries.filter((e) => e.eventDefinitionKey === DEMO_KEY);
  out();
  out(`Contact changes → journey ${DEMO_KEY} (route contact-welcome): ${contactEntries.length} entries (expected ${expected})`);
  for (const e of contactEntries.slice(0, 8)) out(`  ${e.contactKey}  ${maskPersonal(JSON.stringify(e.data))}  eventInstanceId=${e.eventInstanceId}`);
  if (contactEntries.length > 8) out(`  ... and ${contactEntries.length - 8} more`);
  const adminEntries = entries.filter((e) => e.eventDefinitionKey !== DEMO_KEY);
  out(`${JOURNEY_EVENT} → the journey the event names (route admin-journey-entry): ${adminEntries.length} entries (expected ${admin.entries})`);
  for (const e of adminEntries) out(`  ${e.contactKey}  ${e.eventDefinitionKey}  ${maskPersonal(JSON.stringify(e.data))}`);
  out(`${SEND_EVENT} → Transactional Messaging API (route admin-send): ${sends.length} e-mails (expected ${admin.sends})`);
  for (const m of sends)
    out(
      `  ${m.contactKey}  ${m.definitionKey}  to=${maskPersonal(m.to)}  messageKey=${m.messageKey ?? '-'}  ${maskPersonal(JSON.stringify(m.attributes ?? {}))}`,
    );
  const rows = mc.rows(DE_KEY);
  out(
    `Contact changes → data extension ${DE_KEY} (route contacts-sendable): ${rows.length} rows, newest change per contact (expected ${ids.length})`,
  );
  for (const r of rows.slice(0, 5))
    out(`  ${String(r.ContactKey)}  ${maskPersonal(JSON.stringify({ Email: r.Email, FirstName: r.FirstName, LastName: r.LastName }))}`);
  if (rows.length > 5) out(`  ... and ${rows.length - 5} more`);
  out(`Outbox: ${counts.delivered} delivered, ${counts.dead} dead-lettered (bad input on purpose), ${counts.pending + counts.inflight} pending.`);

  const complete =
    contactEntries.length >= expected && adminEntries.length >= admin.entries && sends.length >= admin.sends && rows.length >= ids.length;
  let code = complete ? 0 : 1;
  if (opts.keep) {
    process.stdout.write('Running; publish more through the streaming emulator, Ctrl-C to stop.\n');
    code = await waitForShutdown(service, logger);
  } else {
    await service.stop();
  }
  await Promise.all([sf.close(), mc.close()]);
  return code;
}

/** Publishes `count` realistic Contact changes (plus one with an invalid ID); returns the created IDs and the entries expected. */
async function publish(sf: Emulator, count: number): Promise<{ ids: string[]; entries: number }> {
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
        entityName: 'Contact',
        changeType: 'CREATE',
        recordIds: [id],
        fields: {
          Name: { FirstName: FIRST[n], LastName: LAST[(i * 7) % 10] },
          Email: `${FIRST[n]!.toLowerCase()}.${i}@example.com`,
          Phone: '+1 415 555 0100',
        },
      });
      expected++;
    }
    // Bad input on purpose: it must land in the dead-letter queue while the stream goes on.
    if (i === Math.floor(count / 2))
      sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-not-an-id'], fields: { Email: 'broken@example.com' } });
    await sleep(25);
  }
  return { ids, entries: expected };
}

/**
 * Publishes what an admin's Flow would: two `MC_Journey_Entry__e` (one naming its journey,
 * one falling back to the route's) and two `MC_Send__e` (transactional e-mails); returns what
 * Marketing Cloud should receive.
 */
function publishAdminEvents(sf: Emulator, ids: readonly string[]): { entries: number; sends: number } {
  const [a, b] = [ids[0] ?? to18('0035g0000100000'), ids[1] ?? to18('0035g0000100001')];
  sf.publishPlatformEvent(JOURNEY_EVENT, {
    Record_Id__c: a,
    Event_Definition_Key__c: RENEWAL_KEY,
    Data__c: JSON.stringify({ Plan: 'Gold', Term: 'annual' }),
    Correlation_Id__c: 'flow-renewal-1',
  });
  sf.publishPlatformEvent(JOURNEY_EVENT, { Record_Id__c: b.slice(0, 15), Data__c: JSON.stringify({ Source: 'Screen Flow' }) });
  sf.publishPlatformEvent(SEND_EVENT, {
    Record_Id__c: a,
    Definition_Key__c: SEND_KEY,
    Email__c: 'ada.0@example.com',
    Attributes__c: JSON.stringify({ OrderNumber: 'ORD-1001' }),
    Api__c: 'transactional',
  });
  sf.publishPlatformEvent(SEND_EVENT, {
    Record_Id__c: b,
    Definition_Key__c: SEND_KEY,
    Email__c: 'grace.1@example.com',
    Attributes__c: JSON.stringify({ OrderNumber: 'ORD-1002' }),
  });
  return { entries: 2, sends: 2 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
