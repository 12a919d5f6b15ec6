/**
 * The enriching planner keeps each message's outcome whole and in batch order: its dead letters
 * from normalizing, then what its events became; a message whose planning fails becomes one
 * dead letter and nothing else; an UPDATE is routed with the fetched fields under its own.
 */
import pino from 'pino';
import { createEnrichingPlanner } from '../src/pipeline/enriching-planner.ts';
import { builtinMappers } from '../src/route/mapper-loader.ts';
import { parseConfig } from '../src/config/load.ts';
import { SalesforceTelemetry } from '../src/telemetry/salesforce.ts';
import type { RecordFetcher } from '../src/enrich/fetcher.ts';
import type { BridgeConfig } from '../src/config/schema.ts';
import type { JourneyEntryPayload } from '../src/core/model.ts';
import { changeEvent } from './helpers/cdc.ts';

const A = '0035g00000XyZabAAF';
const B = '0035g00000XyZacAAF';
const BOOM = '0035g00000XyZadAAF';
const C = '0035g00000XyZaeAAF';

const config = parseConfig({
  channels: [{ name: '/data/ContactChangeEvent' }],
  routes: [
    {
      name: 'welcome',
      channel: '/data/ContactChangeEvent',
      changeTypes: ['CREATE', 'UPDATE'],
      target: { type: 'journey', eventDefinitionKey: 'APIEvent-welcome' },
      mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'LastName' } },
    },
  ],
}) as unknown as BridgeConfig;

/** Salesforce holds B's names; remembering BOOM's change throws (a failure inside planning). */
function fakeFetcher(): RecordFetcher {
  return {
    fieldsOf: async () => new Set(['Id', 'Email', 'FirstName', 'LastName']),
    fetch: async (_entity: string, ids: readonly string[]) =>
      new Map(ids.filter((id) => id === B).map((id) => [id, { Id: id, FirstName: 'Bo', LastName: 'Fetched', Email: 'old@example.com' }])),
    cachedCopy: () => undefined,
    remember: (id: string) => {
      if (id === BOOM) throw new Error('cache broke');
    },
  } as unknown as RecordFetcher;
}

const create = (replayId: string, id: string, email: string) =>
  changeEvent({
    replayId,
    header: { recordIds: [id], changeType: 'CREATE', changedFields: [], transactionKey: `tx-${replayId}` },
    fields: { Email: email, Name: { FirstName: 'Cy', LastName: 'Created' } },
  });
const update = (replayId: string, ids: string[]) =>
  changeEvent({ replayId, header: { recordIds: ids, transactionKey: `tx-${replayId}` }, fields: { Email: `new${replayId}@example.com` } });

test('each message comes out whole and in batch order; a failed one is one dead letter; an UPDATE gets the fetched fields under its own', async () => {
  const logger = pino({ level: 'silent' });
  const planner = createEnrichingPlanner({
    config,
    mappers: builtinMappers(),
    fetcher: fakeFetcher(),
    telemetry: new SalesforceTelemetry(logger),
    logger,
    marks: new Map(),
  });
  const batch = [
    create('1', A, 'a@example.com'),
    { ...create('2', A, 'lead@example.com'), channel: '/data/LeadChangeEvent' },
    update('3', ['not-an-id', B]),
    update('4', ['also-bad', BOOM]),
    create('5', C, 'c@example.com'),
  ];
  const { actions, deadLetters } = await planner(batch);
  expect(deadLetters.map((d) => [d.replayId, d.code])).toEqual([
    ['2', 'UNKNOWN_CHANNEL'],
    ['3', 'INVALID_ID'],
    ['4', 'PLAN_FAILED'],
  ]);
  expect(actions.map((a) => [a.replayId, a.recordId])).toEqual([
    ['1', A],
    ['3', B],
    ['5', C],
  ]);
  expect((actions[1]!.payload as JourneyEntryPayload).data).toEqual({ Email: 'new3@example.com', FirstName: 'Bo', LastName: 'Fetched' });
  // The same batch again: the same keys (the planner holds nothing over from the first).
  const again = await planner(batch);
  expect(again.actions.map((a) => a.idempotencyKey)).toEqual(actions.map((a) => a.idempotencyKey));
  expect(again.deadLetters.map((d) => d.idempotencyKey)).toEqual(deadLetters.map((d) => d.idempotencyKey));
});
