// Rule: the batch planner accounts for every received message (as actions or dead letters), never throws, and gives the same output for the same batch.
import { createPlanner } from '../src/pipeline/planner.ts';
import { loadMappers } from '../src/route/mapper-loader.ts';
import { load } from '../src/config/load.ts';
import type { RawEvent } from '../src/core/model.ts';
import { changeEvent } from './helpers/cdc.ts';
import { Code } from '../src/core/errors.ts';

const ENV = {
  SF_INSTANCE_URL: 'http://127.0.0.1:4010',
  SF_ACCESS_TOKEN: 't',
  MC_AUTH_BASE_URL: 'http://127.0.0.1:4020',
  MC_CLIENT_ID: 'id',
  MC_CLIENT_SECRET: 's',
};
const config = load('config/bridge.json', ENV);
// The shipped config routes the generic admin event through a custom mapper, loaded as start-up does.
const mappers = await loadMappers(config);

describe('createPlanner with the shipped config', () => {
  const planner = createPlanner(config, mappers);

  it('turns a mixed batch into actions and dead letters, losing nothing', () => {
    const batch: RawEvent[] = [
      changeEvent({ replayId: '1', header: { recordIds: ['0035g00000XyZab', '0035g00000XyZac'] } }), // 2 actions
      changeEvent({ replayId: '2', header: { changedFields: ['Title'] }, fields: { Title: 'CEO' } }), // no route selected
      changeEvent({ replayId: '3', header: { changeType: 'SNAPSHOT' } }), // malformed header
      changeEvent({ replayId: '4', header: { recordIds: ['bogus'] } }), // invalid ID
      changeEvent({ replayId: '5', header: { changedFields: ['Email'] }, fields: {} }), // Email nulled: required missing
      { channel: '/data/LeadChangeEvent', replayId: '6', data: {}, receivedAt: 0 }, // undeclared channel
    ];
    const { actions, deadLetters } = planner(batch);
    expect(actions.map((a) => [a.replayId, a.route, a.contactKey, a.batchKey])).toEqual([
      ['1', 'contact-welcome', '0035g00000XyZabAAF', 'APIEvent-contact-welcome'],
      ['1', 'contact-welcome', '0035g00000XyZacAAF', 'APIEvent-contact-welcome'],
    ]);
    expect(deadLetters.map((d) => [d.replayId, d.code])).toEqual([
      ['3', Code.MALFORMED_HEADER],
      ['4', Code.INVALID_ID],
      ['5', Code.MAPPING_MISSING_FIELD],
      ['6', Code.UNKNOWN_CHANNEL],
    ]);
    expect(deadLetters[3]!.reason).toBe('channel "/data/LeadChangeEvent" is not declared in the config');
  });

  it('is deterministic: the same batch gives the same keys', () => {
    const batch = [changeEvent({ replayId: '10' }), changeEvent({ replayId: '11', header: { transactionKey: 'tx-11' } })];
    expect(planner(batch)).toEqual(planner(batch));
  });

  it('reports a message that breaks the planner itself as a dead letter, with nothing half-done', () => {
    const raw = changeEvent({ replayId: '12' });
    // A payload whose getter throws stands for any bug deeper down.
    Object.defineProperty((raw.data as { payload: object }).payload, 'Email', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const { actions, deadLetters } = planner([raw, changeEvent({ replayId: '13' })]);
    expect(deadLetters).toEqual([expect.objectContaining({ replayId: '12', code: Code.PLAN_FAILED, reason: 'planning failed: boom' })]);
    expect(actions.map((a) => a.replayId)).toEqual(['13']);
  });
});
