// The dispatcher's chunks: what goes out in one request. Actions of one definition (target,
// mode, batch key) and one pending asynchronous request share chunks, in outbox order, each at
// most its target's batch size; interleaved definitions never share a request.
import { chunkByBatchKey } from '../src/delivery/dispatcher.ts';
import type { StoredAction } from '../src/core/model.ts';
import { action } from './helpers/fixtures.ts';

function stored(n: number, overrides: Partial<StoredAction> = {}): StoredAction {
  return { ...action(n), id: n, attempts: 0, ...overrides };
}

const ids = (chunks: StoredAction[][]): number[][] => chunks.map((c) => c.map((a) => a.id));

describe('chunkByBatchKey', () => {
  it('splits one definition into chunks of the batch size, in order', () => {
    const actions = Array.from({ length: 7 }, (_, i) => stored(i + 1));
    expect(ids(chunkByBatchKey(actions, 3))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('keeps interleaved definitions, modes and targets apart, each group in outbox order', () => {
    const actions = [
      stored(1),
      stored(2, { batchKey: 'APIEvent-2' }),
      stored(3),
      stored(4, { batchKey: 'APIEvent-2' }),
      stored(5, { mode: 'single' }),
      stored(6, { target: 'transactional', batchKey: 'APIEvent-1' }),
      stored(7),
    ];
    expect(ids(chunkByBatchKey(actions, 10))).toEqual([[1, 3, 7], [2, 4], [5], [6]]);
  });

  it('puts actions waiting on one asynchronous request together, apart from new ones of the same definition', () => {
    const actions = [
      stored(1, { target: 'dataExtension', confirm: { requestId: 'r-1', row: 0 } }),
      stored(2, { target: 'dataExtension', confirm: { requestId: 'r-2', row: 0 } }),
      stored(3, { target: 'dataExtension', confirm: { requestId: 'r-1', row: 1 } }),
      stored(4, { target: 'dataExtension' }),
      stored(5, { target: 'dataExtension', confirm: { requestId: 'r-1', row: 2 } }),
    ];
    expect(ids(chunkByBatchKey(actions, 10))).toEqual([[1, 3, 5], [2], [4]]);
  });

  it("uses a target's own batch size where one is set", () => {
    const actions = [...Array.from({ length: 5 }, (_, i) => stored(i + 1, { target: 'transactional' })), stored(6), stored(7)];
    expect(ids(chunkByBatchKey(actions, 10, { transactional: 2 }))).toEqual([[1, 2], [3, 4], [5], [6, 7]]);
  });
});
