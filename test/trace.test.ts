/**
 * Support can follow one record: every log line about a record carries the correlation fields
 * and no e-mail address or phone number, and `sfmc-bridge trace` prints the record's timeline
 * (text and --json, 15- or 18-character ID) from a real end-to-end run.
 */
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../src/core/log.ts';
import type { RecordTrace } from '../src/operations/trace.ts';
import { bridgeConfig, contactId, useHarness, waitFor, WELCOME_KEY } from './helpers/harness.ts';

const BIN = fileURLToPath(new URL('../bin/sfmc-bridge.js', import.meta.url));
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const PHONE = /555[ -.]?0100/;
const CORRELATION = ['correlationId', 'channel', 'replayId', 'recordId', 'contactKey', 'route'];

const h = useHarness({}, { scope: 'all' });
let logText = '';
let configPath: string;
const retried = contactId(1);
const refused = contactId(2);
const ok = contactId(3);

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', pretty: false, destination });
  const config = bridgeConfig(h.dir, { log: { level: 'debug', pretty: false } });
  configPath = h.writeConfig(config);
  // The first delivery request is rate limited (every action in it is retried); contact 2 is then
  // refused with a reason that quotes an e-mail address and a phone number.
  h.mc.injectFault({ kind: 'status', status: 429, retryAfterSec: 0, count: 1 });
  h.mc.injectFault({
    kind: 'member',
    contactKeys: [refused],
    errorcode: 30000,
    message: 'Subscriber jane.doe@example.com (+1 415 555 0100) is held',
  });
  // Published before the start, so they arrive (replayFrom -2) and are delivered in one batch.
  for (const [i, id] of [retried, refused, ok].entries()) {
    h.sf.publishChange({
      entityName: 'Contact',
      changeType: i === 2 ? 'UPDATE' : 'CREATE',
      recordIds: [id],
      fields: { Email: `person${i}@example.com`, Phone: '+1 415 555 0100', Name: { FirstName: 'Ada', LastName: 'Lovelace' } },
    });
  }
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-broken'], fields: { Email: 'broken@example.com' } });
  const service = await h.startService(config, { logger });
  await waitFor(
    async () => (await service.store.counts()).delivered >= 2 && (await service.store.counts()).dead >= 2,
    20_000,
    'two delivered, two dead letters',
  );
  await service.dispatcher.settled();
}, 30_000);

function lines(): Record<string, unknown>[] {
  return logText
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function trace(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'trace', ...args, '--config', configPath], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, SF_ACCESS_TOKEN: '', MC_CLIENT_SECRET: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('no log line of a real run contains an e-mail address or a phone number, not even an error quoted from Marketing Cloud', () => {
  const all = lines();
  expect(all.length).toBeGreaterThan(5);
  for (const [i, line] of logText.trim().split('\n').entries()) {
    expect({ i, line, email: EMAIL.test(line) }).toMatchObject({ email: false });
    expect(PHONE.test(line)).toBe(false);
  }
  // The refusal was logged, masked: the scan above looked at a line that had an address in it.
  expect(all.some((l) => String(l.reason ?? '').includes('j***@***') && String(l.reason).includes('***phone***'))).toBe(true);
});

test('every log line about a record carries all the correlation fields, and the delivered line the Marketing Cloud identifiers', () => {
  const perRecord = lines().filter((l) => 'recordId' in l);
  const kinds = new Set(perRecord.map((l) => l.event));
  expect([...kinds].sort()).toEqual(['action_routed', 'dead_lettered', 'delivered', 'delivery_retry']);
  for (const l of perRecord) {
    for (const key of CORRELATION) expect({ event: l.event, key, present: key in l }).toMatchObject({ present: true });
    if (l.event !== 'dead_lettered' || l.stage === 'delivery') {
      for (const key of CORRELATION) expect(typeof l[key] === 'string' && (l[key] as string).length > 0).toBe(true);
    }
  }
  const delivered = perRecord.filter((l) => l.event === 'delivered');
  expect(delivered.map((l) => l.recordId).sort()).toEqual([retried, ok].sort());
  for (const l of delivered) {
    expect(l.requestId).toEqual(expect.any(String));
    expect(l.eventInstanceId).toBe(h.mc.received({ contactKey: l.recordId as string })[0]!.eventInstanceId);
  }
  // One record keeps one correlation ID from routing to delivery.
  const ofRetried = perRecord.filter((l) => l.recordId === retried);
  expect(new Set(ofRetried.map((l) => l.correlationId)).size).toBe(1);
  expect(ofRetried.map((l) => l.event)).toEqual(['action_routed', 'delivery_retry', 'delivered']);
});

test('trace prints the timeline of a retried record: received, routed, the failed attempt, the delivery with its IDs', () => {
  const r = trace([retried.slice(0, 15)]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const eventInstanceId = h.mc.received({ contactKey: retried })[0]!.eventInstanceId;
  expect(r.stdout).toContain(`Timeline of ${retried}: 1 action`);
  expect(r.stdout).toMatch(/received +\/data\/ContactChangeEvent +replayId=\d+ +changeType=CREATE/);
  expect(r.stdout).toContain(`route=contact-welcome  action=journey ${WELCOME_KEY} (batch)  contactKey=${retried}`);
  expect(r.stdout).toMatch(/failed +attempt 1 +MC_RATE_LIMITED: .*429.*\(will retry\)/);
  expect(r.stdout).toMatch(new RegExp(`delivered +attempt 2 +requestId=\\S+ +eventInstanceId=${eventInstanceId}`));
  const order = ['received', 'routed', 'failed', 'delivered'].map((w) => r.stdout.search(new RegExp(`Z  ${w}`)));
  expect(order).toEqual([...order].sort((a, b) => a - b));
});

test('trace --json gives the same timeline to machines; a dead-lettered record shows its reason, masked', () => {
  const r = trace([refused, '--json']);
  expect(r.status).toBe(0);
  const t = JSON.parse(r.stdout) as RecordTrace;
  expect(t.key).toBe(refused);
  expect(t.entries).toHaveLength(1);
  const [e] = t.entries;
  expect(e).toMatchObject({
    status: 'dead',
    changeType: 'CREATE',
    route: 'contact-welcome',
    channel: '/data/ContactChangeEvent',
    errorCode: 'MC_MEMBER_REJECTED',
  });
  expect(e!.attempts.map((a) => a.outcome)).toEqual(['retry', 'dead']);
  expect(e!.error).toContain('j***@***');
  expect(r.stdout).not.toMatch(EMAIL);

  const text = trace([refused]).stdout;
  expect(text).toMatch(/dead-letter +after 2 attempts, route=contact-welcome +MC_MEMBER_REJECTED: Marketing Cloud refused contact/);
});

test('trace of an unknown record says there is no history; the 15- and 18-character forms find the same record', () => {
  const none = trace([contactId(999)]);
  expect(none.status).toBe(0);
  expect(none.stdout).toContain(`No history for ${contactId(999)}`);
  const by15 = JSON.parse(trace([ok.slice(0, 15), '--json']).stdout) as RecordTrace;
  const by18 = JSON.parse(trace([ok, '--json']).stdout) as RecordTrace;
  expect(by15.key).toBe(ok);
  expect(by15.entries).toEqual(by18.entries);
  expect(by18.entries[0]).toMatchObject({ changeType: 'UPDATE', status: 'delivered' });
});
