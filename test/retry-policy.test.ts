// One retry policy decides every wait: 50200 backs off long and capped, attempts are bounded, 109110 means accepted, and a per-host breaker stops a storm and probes before reopening traffic.
import { PermanentError, TransientError } from '../src/core/errors.ts';
import { BreakerRegistry, CircuitBreaker } from '../src/delivery/breaker.ts';
import { countsAgainstHost, isAlreadyAccepted, RetryPolicy } from '../src/delivery/retry.ts';

const noJitter = { random: () => 0 };

test('429 50200 waits blockedWaitMs, doubling per attempt up to blockedCapMs', () => {
  const p = new RetryPolicy(20, { ...noJitter, blockedWaitMs: 60_000, blockedCapMs: 300_000 });
  const blocked = new TransientError('MC_TEMPORARILY_BLOCKED', '429 50200');
  expect(p.decide(blocked, 1)).toEqual({ verdict: 'retry', delayMs: 60_000 });
  expect(p.decide(blocked, 2)).toEqual({ verdict: 'retry', delayMs: 120_000 });
  expect(p.decide(blocked, 3)).toEqual({ verdict: 'retry', delayMs: 240_000 });
  expect(p.decide(blocked, 9)).toEqual({ verdict: 'retry', delayMs: 300_000 });
});

test('429 50100 waits at least its Retry-After; 5xx uses jittered exponential backoff', () => {
  const p = new RetryPolicy(12, { ...noJitter, baseMs: 100 });
  expect(p.decide(new TransientError('MC_RATE_LIMITED', '429', { retryAfterMs: 5000 }), 1)).toEqual({ verdict: 'retry', delayMs: 5000 });
  expect(p.decide(new TransientError('MC_SERVER_ERROR', '503'), 1)).toEqual({ verdict: 'retry', delayMs: 50 });
  expect(p.decide(new TransientError('MC_SERVER_ERROR', '503'), 4)).toEqual({ verdict: 'retry', delayMs: 400 });
});

test('retries are bounded and permanent failures are dead at once', () => {
  const p = new RetryPolicy(3, noJitter);
  expect(p.decide(new TransientError('MC_CONNECTION_LOST', 'reset'), 2).verdict).toBe('retry');
  expect(p.decide(new TransientError('MC_CONNECTION_LOST', 'reset'), 3)).toEqual({ verdict: 'dead', reason: 'exhausted' });
  expect(p.decide(new PermanentError('MC_REJECTED', '400', { status: 400 }), 1)).toEqual({ verdict: 'dead', reason: 'permanent' });
});

test('109110 (messageKey already used) counts as accepted, other codes do not', () => {
  expect(isAlreadyAccepted(109110)).toBe(true);
  expect(isAlreadyAccepted('109110')).toBe(true);
  expect(isAlreadyAccepted(109104)).toBe(false);
  expect(isAlreadyAccepted(undefined)).toBe(false);
});

test('the breaker counts 5xx, timeouts and resets against the host; 429s pause it; 4xx do not count', () => {
  expect(countsAgainstHost(new TransientError('MC_SERVER_ERROR', '500'))).toEqual({ failure: true });
  expect(countsAgainstHost(new TransientError('MC_TIMEOUT', 't'))).toEqual({ failure: true });
  expect(countsAgainstHost(new TransientError('MC_RATE_LIMITED', '429', { retryAfterMs: 2000 }))).toEqual({ failure: false, pauseMs: 2000 });
  expect(countsAgainstHost(new TransientError('MC_TEMPORARILY_BLOCKED', '429'), 7000)).toEqual({ failure: false, pauseMs: 7000 });
  expect(countsAgainstHost(new PermanentError('MC_REJECTED', '400'))).toEqual({ failure: false });
});

test('the breaker opens after N consecutive failures, refuses calls, then lets one probe through while others wait', async () => {
  let now = 1_000_000;
  const b = new CircuitBreaker('mc.example', { threshold: 3, openMs: 1000, maxOpenMs: 4000, now: () => now });
  const fail = new TransientError('MC_SERVER_ERROR', '503');
  for (let i = 0; i < 2; i++) b.report(fail, await b.acquire());
  b.report(undefined, await b.acquire()); // a success resets the count
  for (let i = 0; i < 3; i++) b.report(fail, await b.acquire());
  expect(b.state).toBe('open');
  await expect(b.acquire()).rejects.toMatchObject({ code: 'MC_CIRCUIT_OPEN', retryAfterMs: 1000 });
  now += 1000;
  expect(await b.acquire()).toBe(true); // the probe
  let waiterDone = false;
  const waiter = b.acquire().then((probe) => {
    waiterDone = true;
    return probe;
  });
  // The breaker keeps no timer (its clock is injected): a turn of the event loop settles all it could.
  await new Promise((r) => setImmediate(r));
  expect(waiterDone).toBe(false);
  b.report(fail, true); // probe failed: open again, twice as long
  await expect(waiter).rejects.toMatchObject({ code: 'MC_CIRCUIT_OPEN', retryAfterMs: 2000 });
  now += 2000;
  expect(await b.acquire()).toBe(true);
  b.report(undefined, true);
  expect(b.state).toBe('closed');
  expect(await b.acquire()).toBe(false);
  expect(b.opened).toBe(2);
});

test('a 429 pauses the host for the advised time, and the registry reports the latest block', async () => {
  let now = 5000;
  const reg = new BreakerRegistry({ now: () => now });
  const b = reg.for('h1');
  b.report(new TransientError('MC_RATE_LIMITED', '429', { retryAfterMs: 3000 }), await b.acquire());
  expect(reg.blockedUntil()).toBe(8000);
  now = 8000;
  expect(reg.blockedUntil()).toBe(0);
  expect(await b.acquire()).toBe(true);
  b.report(undefined, true);
  expect(b.state).toBe('closed');
});
