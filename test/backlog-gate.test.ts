// Events a subscriber holds uncommitted count against the backlog bound, so intake stops at the bound rather than a buffer past it; the bound is checked without a store round trip only while what is known keeps the backlog under it.
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
  const waiting = gate(100).then(() => {
    opened = true;
  });
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

test("shortly after a count the gate opens without asking the store while that count plus this process's commits since stay under the bound, and counts again before closing", async () => {
  const backlog = { value: 100 };
  let asked = 0;
  const store = {
    backlog: async () => {
      asked++;
      return backlog.value;
    },
  } as unknown as Store;
  const { gate, committed } = createBacklogGate(store, 1000, 60_000);
  await gate();
  expect(asked).toBe(1);
  // 100 counted + 800 committed here since + 50 held: under 1000, no round trip.
  committed(800);
  await gate(50);
  expect(asked).toBe(1);
  // 100 + 800 + 100 reaches the bound: it counts (the dispatcher delivered meanwhile) and opens.
  backlog.value = 300;
  await gate(100);
  expect(asked).toBe(2);
  // The new count is the base now, commits since start again from zero.
  await gate(600);
  expect(asked).toBe(2);
  // Past the freshness window it counts even when the sum is small (other instances commit too).
  const stale = createBacklogGate(store, 1000, 0);
  await stale.gate();
  await stale.gate();
  expect(asked).toBe(4);
});
