// One function decides retry or dead-letter, and retries wait a jittered, capped, exponential time that never undercuts the server's Retry-After.
import { AuthError, ConfigError, InputError, MappingError, PermanentError, TransientError } from '../src/core/errors.ts';
import { backoffMs, classify, retryAfterOf, TEMPORARILY_BLOCKED_WAIT_MS } from '../src/delivery/retry.ts';

test('transient failures are retried; permanent, mapping, input and config failures are dead', () => {
  expect(classify(new TransientError('MC_SERVER_ERROR', '503'))).toBe('retry');
  expect(classify(new TransientError('MC_CONNECTION_LOST', 'reset'))).toBe('retry');
  expect(classify(new PermanentError('MC_REJECTED', '400', { status: 400 }))).toBe('dead');
  expect(classify(new PermanentError('MC_MEMBER_REJECTED', 'inactive'))).toBe('dead');
  expect(classify(new MappingError('MAPPING_MISSING_FIELD', 'Email', 'missing'))).toBe('dead');
  expect(classify(new InputError('INVALID_ID', 'recordIds', 'bad'))).toBe('dead');
  expect(classify(new ConfigError('mc.authBaseUrl', 'bad'))).toBe('dead');
});

test('a 401 that survived a refresh is dead, but failing to get a token parks the action for retry', () => {
  expect(classify(new AuthError('MC_UNAUTHORIZED', '401 twice'))).toBe('dead');
  expect(classify(new AuthError('MC_AUTH_REFUSED', 'invalid_client'))).toBe('retry');
  expect(classify(new AuthError('MC_UNSAFE_REST_URL', 'bad host'))).toBe('retry');
});

test("an unexpected non-BridgeError is retried (the dispatcher's attempt cap ends it)", () => {
  expect(classify(new TypeError('boom'))).toBe('retry');
  expect(classify('weird')).toBe('retry');
});

test('backoff grows exponentially with jitter between half and the whole step, and is capped', () => {
  const low = { random: () => 0 };
  const high = { random: () => 0.999999 };
  expect(backoffMs(1, undefined, low)).toBe(500);
  expect(backoffMs(1, undefined, high)).toBe(1000);
  expect(backoffMs(2, undefined, low)).toBe(1000);
  expect(backoffMs(5, undefined, low)).toBe(8000);
  expect(backoffMs(5, undefined, high)).toBe(16_000);
  expect(backoffMs(40, undefined, high)).toBe(300_000);
  expect(backoffMs(40, undefined, low)).toBe(150_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffMs(3);
    expect(d).toBeGreaterThanOrEqual(2000);
    expect(d).toBeLessThanOrEqual(4000);
  }
});

test('a server-advised wait is honoured as a floor, jittered up to 10%, and capped at 15 minutes', () => {
  expect(backoffMs(1, 7000, { random: () => 0 })).toBe(7000);
  expect(backoffMs(1, 7000, { random: () => 0.5 })).toBe(7350);
  expect(backoffMs(10, 1000, { random: () => 0 })).toBe(150_000);
  expect(backoffMs(1, 86_400_000, { random: () => 0 })).toBe(900_000);
});

test('the wait an error asks for: its Retry-After, or a long floor when temporarily blocked', () => {
  expect(retryAfterOf(new TransientError('MC_RATE_LIMITED', '429', { retryAfterMs: 3000 }))).toBe(3000);
  expect(retryAfterOf(new TransientError('MC_TEMPORARILY_BLOCKED', '429 50200'))).toBe(TEMPORARILY_BLOCKED_WAIT_MS);
  expect(retryAfterOf(new TransientError('MC_SERVER_ERROR', '500'))).toBeUndefined();
  expect(retryAfterOf(new PermanentError('MC_REJECTED', '400'))).toBeUndefined();
});
