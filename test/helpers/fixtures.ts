/** Small builders of pipeline values for unit tests. */
import type { NewAction, NewDeadLetter } from '../../src/core/model.ts';

/** A journey action for record `n` on the Contact channel. */
export function action(n: number, overrides: Partial<NewAction> = {}): NewAction {
  const recordId = `003000000000${String(n).padStart(3, '0')}AAA`;
  return {
    idempotencyKey: `key-${n}`,
    route: 'welcome',
    target: 'journey',
    mode: 'batch',
    batchKey: 'APIEvent-1',
    channel: '/data/ContactChangeEvent',
    replayId: String(100 + n),
    recordId,
    contactKey: recordId,
    correlationId: `corr-${n}`,
    payload: { eventDefinitionKey: 'APIEvent-1', contactKey: recordId, data: { Email: `c${n}@example.com` } },
    receivedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** A dead letter for a malformed event. */
export function deadLetter(n: number): NewDeadLetter {
  return {
    idempotencyKey: `dead-${n}`,
    channel: '/data/ContactChangeEvent',
    replayId: String(500 + n),
    route: '',
    recordId: '',
    contactKey: '',
    correlationId: `corr-dead-${n}`,
    code: 'INPUT_INVALID_ID',
    reason: 'ChangeEventHeader.recordIds[0]: "xyz" is not a Salesforce ID',
    source: { bad: n },
  };
}
