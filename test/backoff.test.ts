// Rule: every wait-and-try-again in the bridge grows exponentially to a cap, is jittered, honours a server's Retry-After as a floor (itself capped), and gives up after its attempt bound.
import { backoffDelay, GaveUp, retrying, retryAfterMs } from '../src/core/backoff.ts';

const low = () => 0;
const high = () => 0.999999;

test('full jitter by default: uniform between 0 and the doubling ceiling, capped', () => {
  const b = { baseMs: 100, capMs: 1000 };
  expect(backoffDelay(1, { ...b, random: low })).toBe(0);
  expect(backoffDelay(1, { ...b, random: high })).toBe(100);
  expect(backoffDelay(3, { ...b, random: high })).toBe(400);
  expect(backoffDelay(30, { ...b, random: high })).toBe(1000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(4, b);
    expect(d).toBeGreaterThanOrEqual(0);
    expect(d).toBeLessThanOrEqual(800);
  }
});

test('a smaller spread keeps a fixed part of the ceiling', () => {
  expect(backoffDelay(2, { baseMs: 100, capMs: 1000, spread: 0.5, random: low })).toBe(100);
  expect(backoffDelay(2, { baseMs: 100, capMs: 1000, spread: 0, random: high })).toBe(200);
});

test('a Retry-After is a floor, cut to maxAdvisedMs', () => {
  expect(backoffDelay(1, { baseMs: 100, capMs: 1000, random: low }, 5000)).toBe(1000);
  expect(backoffDelay(1, { baseMs: 100, capMs: 1000, maxAdvisedMs: 10_000, random: low }, 5000)).toBe(5000);
  expect(backoffDelay(1, { baseMs: 100, capMs: 1000, maxAdvisedMs: 10_000, random: () => 0.5 }, 5000)).toBe(5250);
  expect(retryAfterMs('7')).toBe(7000);
  expect(retryAfterMs(undefined, 3)).toBe(3000);
  expect(retryAfterMs('')).toBeUndefined();
});

test('retrying stops at success, at a refused error, or after maxAttempts, with waits between', async () => {
  let calls = 0;
  const ok = await retrying(
    async () => {
      if (++calls < 3) throw new Error('flaky');
      return 'done';
    },
    { maxAttempts: 5, baseMs: 1, capMs: 5 },
  );
  expect([ok, calls]).toEqual(['done', 3]);

  calls = 0;
  const refused = await retrying(
    async () => {
      calls++;
      throw new Error('fatal');
    },
    { maxAttempts: 5, baseMs: 1, capMs: 5, shouldRetry: () => false },
  ).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(GaveUp);
  expect(refused).toMatchObject({ attempts: 1, cause: expect.objectContaining({ message: 'fatal' }) });

  calls = 0;
  const started = Date.now();
  const exhausted = await retrying(
    async () => {
      calls++;
      throw new Error('down');
    },
    { maxAttempts: 3, baseMs: 40, capMs: 40, spread: 0 },
  ).catch((e: unknown) => e);
  expect(exhausted).toMatchObject({ attempts: 3 });
  expect(calls).toBe(3);
  expect(Date.now() - started).toBeGreaterThanOrEqual(75); // two waits of 40 ms
});

test('retrying tells onRetry of each wait: the error, the failures so far and the wait, never after the last try', async () => {
  const told: [string, number, number][] = [];
  await retrying(
    async () => {
      throw new Error(`down ${told.length + 1}`);
    },
    { maxAttempts: 3, baseMs: 10, capMs: 20, spread: 0, onRetry: (err, failures, delayMs) => told.push([(err as Error).message, failures, delayMs]) },
  ).catch(() => undefined);
  expect(told).toEqual([
    ['down 1', 1, 10],
    ['down 2', 2, 20],
  ]);
});
