/**
 * An admin's own ID in `Correlation_Id__c` of MC_Journey_Entry__e and MC_Send__e can be found
 * again: it is in the log lines (as adminCorrelationId beside the bridge's correlationId) at the
 * default level, in `trace --json`, for delivered and dead-lettered events alike, and `trace`
 * finds the record by it.
 */
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { createLogger } from '../src/core/log.ts';
import { traceRecord, type RecordTrace } from '../src/operations/trace.ts';
import { BIN } from './helpers/bridge-process.ts';
import { contactId, useHarness, waitFor } from './helpers/harness.ts';

const h = useHarness({ mc: { sendDefinitionKeys: ['order-confirm'] } }, { scope: 'all' });
let logText = '';
let configPath: string;
const ids = {
  entered: { id: 'flow-7f3a2c19-entered', contact: contactId(1) },
  sent: { id: 'ORDER-000981', contact: contactId(2) },
  refusedAtDelivery: { id: 'ORDER-000982-refused', contact: contactId(3) },
  refusedAtMapping: { id: 'flow-bad-data-1', contact: contactId(4) },
};

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: 'info', pretty: false, destination });
  const config = {
    channels: [
      { name: '/event/MC_Journey_Entry__e', replayFrom: -2 },
      { name: '/event/MC_Send__e', replayFrom: -2 },
    ],
    routes: [
      {
        name: 'admin-journey',
        channel: '/event/MC_Journey_Entry__e',
        target: { type: 'journey', eventDefinitionKey: 'APIEvent-fallback' },
        mapper: 'journey-entry-event',
      },
      { name: 'admin-send', channel: '/event/MC_Send__e', target: { type: 'transactional' }, mapper: 'send-event' },
    ],
    store: { kind: 'sqlite', path: join(h.dir, 'bridge.db') },
    dispatcher: { pollIntervalMs: 20 },
    log: { level: 'info', pretty: false },
  };
  configPath = h.writeConfig(config);
  h.sf.publishPlatformEvent('MC_Journey_Entry__e', {
    Record_Id__c: ids.entered.contact,
    Event_Definition_Key__c: 'APIEvent-onboarding',
    Data__c: '{"Plan":"Gold"}',
    Correlation_Id__c: ids.entered.id,
  });
  h.sf.publishPlatformEvent('MC_Send__e', {
    Record_Id__c: ids.sent.contact,
    Definition_Key__c: 'order-confirm',
    Email__c: 'sent@example.com',
    Correlation_Id__c: ids.sent.id,
  });
  // Marketing Cloud does not know this definition: dead-lettered at delivery.
  h.sf.publishPlatformEvent('MC_Send__e', {
    Record_Id__c: ids.refusedAtDelivery.contact,
    Definition_Key__c: 'unknown-def',
    Email__c: 'refused@example.com',
    Correlation_Id__c: ids.refusedAtDelivery.id,
  });
  // Data__c is not a JSON object: dead-lettered by the mapper, before delivery.
  h.sf.publishPlatformEvent('MC_Journey_Entry__e', {
    Record_Id__c: ids.refusedAtMapping.contact,
    Data__c: '[1,2]',
    Correlation_Id__c: ids.refusedAtMapping.id,
  });
  const service = await h.startService(config, { logger });
  await waitFor(
    async () => {
      const c = await service.store.counts();
      return c.delivered >= 2 && c.dead >= 2;
    },
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

test("each admin correlation ID is in a log line at info level, beside the bridge's own correlationId and the record", () => {
  const expected: [keyof typeof ids, string][] = [
    ['entered', 'delivered'],
    ['sent', 'delivered'],
    ['refusedAtDelivery', 'dead_lettered'],
    ['refusedAtMapping', 'dead_lettered'],
  ];
  for (const [name, event] of expected) {
    const { id, contact } = ids[name];
    const line = lines().find((l) => l.adminCorrelationId === id);
    expect({ name, line }).toMatchObject({ name, line: { event, recordId: contact, contactKey: contact } });
    expect(line!.correlationId).toMatch(/^[0-9a-f]{16}$/);
  }
});

test('trace --json shows the admin correlation ID, and finds the record by it, delivered or dead-lettered', () => {
  const trace = (query: string): RecordTrace => {
    const r = spawnSync(process.execPath, [BIN, 'trace', query, '--config', configPath, '--json'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as RecordTrace;
  };
  const statuses = { entered: 'delivered', sent: 'delivered', refusedAtDelivery: 'dead', refusedAtMapping: 'dead' } as const;
  for (const [name, { id, contact }] of Object.entries(ids) as [keyof typeof ids, { id: string; contact: string }][]) {
    const byId = trace(id);
    expect({ name, entries: byId.entries.map((e) => [e.recordId, e.adminCorrelationId, e.status]) }).toEqual({
      name,
      entries: [[contact, id, statuses[name]]],
    });
    // And by the record, the same entry carries it.
    expect(trace(contact).entries.map((e) => e.adminCorrelationId)).toEqual([id]);
  }
});

test("the text timeline names the admin correlation ID next to the bridge's", async () => {
  const r = spawnSync(process.execPath, [BIN, 'trace', ids.refusedAtDelivery.id, '--config', configPath], { encoding: 'utf8', timeout: 30_000 });
  expect(r.stdout).toMatch(new RegExp(`correlationId=[0-9a-f]{16}  adminCorrelationId=${ids.refusedAtDelivery.id}  status=dead`));
  // Without a match it says so instead of printing an empty timeline.
  expect((await traceRecord(h.service!.store, 'no-such-correlation')).entries).toEqual([]);
});
