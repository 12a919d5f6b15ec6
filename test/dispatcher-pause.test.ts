// A rate limit is honoured by pausing claims: chunks the circuit kept from leaving are not attempts, are not written back as retries, and go out first once the pause ends.
import pino from 'pino';
import { Dispatcher } from '../src/delivery/dispatcher.ts';
import type { DeliveryItem, DeliveryOutcome, Target } from '../src/delivery/target.ts';
import { TransientError } from '../src/core/errors.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import type { Store } from '../src/outbox/contract.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { action } from './helpers/fixtures.ts';
import { waitFor } from './helpers/harness.ts';

const PAUSE_MS = 400;
const RETRY_MS = 3 * PAUSE_MS;
let store: Store;
let dispatcher: Dispatcher | undefined;

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  // Three chunks of 100, all claimed in the first round (batchSize 100, concurrency 2: up to 400).
  await store.commitBatch(
    Array.from({ length: 300 }, (_, i) => action(i + 1)),
    [],
    new Map(),
  );
});

afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  await store.close();
});

function start(target: Target, pausedUntil?: () => number): Dispatcher {
  dispatcher = new Dispatcher({
    store,
    telemetry: new Telemetry(pino({ level: 'silent' })),
    targets: { journey: target },
    batchSize: 100,
    concurrency: 2,
    pollIntervalMs: 20,
    ...(pausedUntil ? { pausedUntil } : {}),
  });
  dispatcher.start();
  return dispatcher;
}

async function attemptsOf(n: number): Promise<number> {
  const [row] = await store.actionsFor(action(n).recordId);
  return row!.attempts;
}

test('after a 429 the rest of the round waits out the pause unsent, then goes first; only the refused chunk counts an attempt', async () => {
  let pauseUntil = 0;
  const calls: { at: number; first: number; size: number }[] = [];
  const target: Target = {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      calls.push({ at: Date.now(), first: items[0]!.id, size: items.length });
      if (calls.length === 2) {
        // Marketing Cloud refuses the second request; the breaker pauses the host. Its items
        // are due again well after the pause, so the held chunk is the only one due when it
        // ends, however late this machine wakes the dispatcher (equal waits made that a race).
        pauseUntil = Date.now() + PAUSE_MS;
        const error = new TransientError('MC_RATE_LIMITED', '429 50100', { retryAfterMs: RETRY_MS });
        return items.map((i) => ({ id: i.id, status: 'retry', error, retryAfterMs: RETRY_MS }));
      }
      return items.map((i) => ({ id: i.id, status: 'delivered', ids: { requestId: `r${calls.length}` } }));
    },
  };
  start(target, () => pauseUntil);
  await waitFor(async () => (await store.backlog()) === 0, 15_000, 'every action delivered');

  const refusedAt = calls[1]!.at;
  // Nothing left during the pause.
  for (const c of calls.slice(2)) expect(c.at).toBeGreaterThanOrEqual(refusedAt + PAUSE_MS - 5);
  // The chunk that was never sent went out first after the pause (outbox order), before the retried one was due again.
  expect(calls[2]!.first).toBe(calls[0]!.first + 200);
  expect(await attemptsOf(1)).toBe(1); // delivered at once
  expect(await attemptsOf(101)).toBe(2); // refused with 429, then delivered
  expect(await attemptsOf(201)).toBe(1); // held through the pause: one attempt, the one that delivered it
  expect((await store.trace(action(201).recordId))[0]!.attempts.map((a) => a.outcome)).toEqual(['delivered']);
});

test('a call the open circuit refused before sending is held until the wait it names, not recorded as a failed attempt', async () => {
  let circuitOpenUntil = 0;
  // What the target saw, checked after the run: an expect thrown inside deliver() would only
  // become a retry outcome, which the dispatcher absorbs.
  const calls: { at: number; refused: boolean }[] = [];
  const target: Target = {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      if (calls.length === 0) {
        calls.push({ at: Date.now(), refused: true });
        circuitOpenUntil = Date.now() + PAUSE_MS;
        const error = new TransientError('MC_CIRCUIT_OPEN', 'circuit open', { retryAfterMs: PAUSE_MS });
        return items.map((i) => ({ id: i.id, status: 'retry', error, retryAfterMs: PAUSE_MS }));
      }
      calls.push({ at: Date.now(), refused: false });
      return items.map((i) => ({ id: i.id, status: 'delivered', ids: {} }));
    },
  };
  // No pausedUntil hook: the wait comes from the refusal itself.
  start(target);
  await waitFor(async () => (await store.backlog()) === 0, 15_000, 'every action delivered');
  expect(calls[0]!.refused).toBe(true);
  expect(calls.length).toBeGreaterThan(1);
  // Before the wait the refusal named was over, only the one call already in flight beside the
  // refused one went out (concurrency 2); every later call waited.
  const early = calls.slice(1).filter((c) => c.at < circuitOpenUntil - 5);
  expect(early.length).toBeLessThanOrEqual(1);
  expect(calls.length - 1 - early.length).toBeGreaterThanOrEqual(2);
  expect(await attemptsOf(1)).toBe(1);
  expect((await store.trace(action(1).recordId))[0]!.attempts.map((a) => a.outcome)).toEqual(['delivered']);
});
