/**
 * Micro-measure of the pure planner (normalize + route + map + keys): events per second on
 * one core for Contact change events shaped as CometD delivers them. Not a test; run with
 * `node bench/planner.ts [events]`.
 */
import { createPlanner } from '../src/pipeline/planner.ts';
import { builtinMappers } from '../src/route/mapper-loader.ts';
import { parseConfig } from '../src/config/load.ts';
import { checksumOf } from '../src/normalize/ids.ts';
import type { RawEvent } from '../src/core/model.ts';
import type { BridgeConfig } from '../src/config/schema.ts';

const total = Number(process.argv[2] ?? 200_000);
const config = parseConfig({
  channels: [{ name: '/data/ContactChangeEvent' }],
  routes: [
    {
      name: 'contact-welcome',
      channel: '/data/ContactChangeEvent',
      changeTypes: ['CREATE', 'UPDATE'],
      changedFields: ['Email'],
      target: { type: 'journey', eventDefinitionKey: 'APIEvent-welcome' },
      mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'Name.LastName' }, required: ['Email'] },
    },
  ],
}) as unknown as BridgeConfig;
const planner = createPlanner(config, builtinMappers());

function id15(n: number): string {
  const id = `0035g${n.toString(36).padStart(10, '0')}`;
  return id;
}
// Serialized once and parsed per message, as the subscriber does: no object is shared between events.
const texts: string[] = [];
for (let n = 0; n < 1000; n++) {
  const id = id15(n);
  texts.push(
    JSON.stringify({
      schema: 'x1Hb2bM1Zb0NS1gJYkKF7w',
      event: { replayId: 1000 + n },
      payload: {
        ChangeEventHeader: {
          entityName: 'Contact',
          recordIds: [id + checksumOf(id)],
          changeType: n % 5 === 0 ? 'CREATE' : 'UPDATE',
          changeOrigin: 'com/salesforce/api/soap/62.0;client=SomeApp',
          transactionKey: `0002a1b2-${n}`,
          sequenceNumber: 1,
          commitTimestamp: 1714156685000,
          commitNumber: 11657372702432,
          commitUser: '0055g00000AbCdEAAV',
          changedFields: ['Email', 'Name.LastName', 'LastModifiedDate'],
        },
        Email: `c${n}@example.com`,
        Name: { FirstName: 'Jane', LastName: `Doe${n}` },
        LastModifiedDate: '2026-04-09T20:26:27.000Z',
      },
    }),
  );
}
const batches: RawEvent[][] = [];
for (let b = 0; b < total / 100; b++) {
  const batch: RawEvent[] = [];
  for (let i = 0; i < 100; i++) {
    const n = (b * 100 + i) % texts.length;
    batch.push({ channel: '/data/ContactChangeEvent', replayId: String(b * 100 + i), data: JSON.parse(texts[n]!), receivedAt: Date.now() });
  }
  batches.push(batch);
}
for (let w = 0; w < 100; w++) planner(batches[w % batches.length]!); // warm up
const start = process.hrtime.bigint();
let actions = 0;
let dead = 0;
for (const batch of batches) {
  const out = planner(batch);
  actions += out.actions.length;
  dead += out.deadLetters.length;
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const events = batches.length * 100;
console.log(JSON.stringify({ events, actions, deadLetters: dead, seconds: +seconds.toFixed(3), eventsPerSecond: Math.round(events / seconds) }));
