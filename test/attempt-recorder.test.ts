/**
 * Delivery outcomes answered in the same turn share one store transaction, and no request's
 * caller goes on before its own outcomes are committed (the crash bound rests on it).
 */
import type { AttemptRecord } from '../src/outbox/contract.ts';
import { AttemptRecorder } from '../src/delivery/attempt-recorder.ts';

const delivered = (id: number): AttemptRecord => ({ id, status: 'delivered', ids: { requestId: `r-${id}` } });

/** A store whose commits are held until released, recording what each transaction held. */
function heldStore() {
  const transactions: number[][] = [];
  const releases: (() => void)[] = [];
  let fail: Error | undefined;
  return {
    transactions,
    releaseAll: () => {
      for (const r of releases.splice(0)) r();
    },
    failNext: (e: Error) => {
      fail = e;
    },
    async recordAttempts(records: readonly AttemptRecord[]): Promise<void> {
      const error = fail;
      fail = undefined;
      if (error) throw error;
      await new Promise<void>((r) => releases.push(r));
      transactions.push(records.map((r) => r.id));
    },
  };
}

test('outcomes handed over in one turn are committed in one transaction, and each caller resumes only once it is committed', async () => {
  const store = heldStore();
  const recorder = new AttemptRecorder(store);
  let resumed = 0;
  const first = recorder.record([delivered(1), delivered(2)]).then(() => {
    resumed++;
  });
  const second = recorder.record([delivered(3)]).then(() => {
    resumed++;
  });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  expect(resumed).toBe(0); // the commit is not done: nobody may send more
  store.releaseAll();
  await Promise.all([first, second]);
  expect(store.transactions).toEqual([[1, 2, 3]]);
  expect(resumed).toBe(2);
});

test('outcomes handed over in a later turn go in a transaction of their own', async () => {
  const store = heldStore();
  const recorder = new AttemptRecorder(store);
  const first = recorder.record([delivered(1)]);
  await new Promise((r) => setImmediate(r));
  const second = recorder.record([delivered(2)]);
  await new Promise((r) => setImmediate(r));
  store.releaseAll();
  await Promise.all([first, second]);
  expect(store.transactions.sort()).toEqual([[1], [2]]);
});

test('a failed commit fails every caller whose outcomes it held, and the next turn commits afresh', async () => {
  const store = heldStore();
  const recorder = new AttemptRecorder(store);
  store.failNext(new Error('database is locked'));
  const a = recorder.record([delivered(1)]);
  const b = recorder.record([delivered(2)]);
  await expect(a).rejects.toThrow('database is locked');
  await expect(b).rejects.toThrow('database is locked');
  const c = recorder.record([delivered(3)]);
  await new Promise((r) => setImmediate(r));
  store.releaseAll();
  await c;
  expect(store.transactions).toEqual([[3]]);
});
