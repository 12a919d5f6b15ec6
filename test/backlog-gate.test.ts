// Events a subscriber holds uncommitted count against the backlog bound, so intake stops at the bound rather than a buffer past it.
import { createBacklogGate } from '../src/pipeline/sink.ts';
import type { Store } from '../src/outbox/contract.ts';

/** Resolves after every callback already queued has run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function storeWithBacklog(n: { value: number }): Store {
  return { backlog: async () => n.value } as unknown as Store;
}

test('the gate is open under the bound, closed once backlog plus held events reach it, and reopens when the dispatcher brings the backlog under', async () => {
  const backlog = { value: 900 };
  const { gate, release } = createBacklogGate(storeWithBacklog(backlog), 1000);
  await expect(gate()).resolves.toBeUndefined();
  await expect(gate(99)).resolves.toBeUndefined();
  let opened = false;
  const waiting = gate(100).then(() => { opened = true; });
  // The gate has no timer: only release() can open it, so once the pending promise callbacks
  // have run (one turn of the event loop) "still closed" is final, not a guess after a sleep.
  await turn();
  expect(opened).toBe(false);
  // The held events were committed meanwhile: the backlog is at the bound; still closed.
  backlog.value = 1000;
  await release();
  await turn();
  expect(opened).toBe(false);
  backlog.value = 999;
  await release();
  await waiting;
  expect(opened).toBe(true);
});
