// The Marketing Cloud REST client retries a 401 exactly once with a fresh token and its new header, keeps path case, and turns every failure into the typed error `classify` expects.
import { AuthError, PermanentError, TransientError } from '../src/core/errors.ts';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { McTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient, joinRestUrl } from '../src/delivery/mc/http.ts';
import { retryAfterMs } from '../src/core/backoff.ts';
import { classify, retryAfterOf } from '../src/delivery/retry.ts';

const ID = 'http-client-id';
const SECRET = 'http-client-secret-9012';
const KEY = 'APIEvent-http';
const ENTRY = { ContactKey: '0035g00000XyZabAAB', EventDefinitionKey: KEY, Data: { Email: 'jane@example.com' } };

let emu: McEmulator;
let tokens: McTokenManager;
let client: McRestClient;

beforeEach(async () => {
  emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET, eventDefinitionKeys: [KEY] });
  tokens = new McTokenManager({ authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET });
  client = new McRestClient(tokens, { timeoutMs: 1000 });
});
afterEach(async () => {
  await client.close();
  await emu.close();
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: Error) => e,
  );
}

test('paths are joined to rest_instance_url as they are, case included', () => {
  expect(joinRestUrl('https://mcX.rest.marketingcloudapis.com/', '/interaction/v1/async/events')).toBe(
    'https://mcX.rest.marketingcloudapis.com/interaction/v1/async/events',
  );
  expect(joinRestUrl('https://mcX.rest.marketingcloudapis.com', 'messaging/v1/messageDefinitionSends/key:MyKey/send')).toBe(
    'https://mcX.rest.marketingcloudapis.com/messaging/v1/messageDefinitionSends/key:MyKey/send',
  );
});

test('a successful POST returns status and parsed body, with one token for many calls', async () => {
  for (let i = 0; i < 5; i++) {
    const res = await client.post<{ eventInstanceId: string }>('/interaction/v1/events', { ...ENTRY, ContactKey: `c${i}` });
    expect(res.status).toBe(201);
    expect(res.body?.eventInstanceId).toEqual(expect.any(String));
  }
  expect(emu.stats()).toMatchObject({ tokensIssued: 1, entries: 5 });
});

test('a 401 drops the token, fetches one, and retries once with the new header, then succeeds', async () => {
  await client.post('/interaction/v1/events', ENTRY);
  emu.expireTokens();
  const res = await client.post('/interaction/v1/events', ENTRY);
  expect(res.status).toBe(201);
  // The old token is revoked at the emulator: success proves the retry carried the new one.
  expect(emu.stats()).toMatchObject({ tokensIssued: 2, unauthorized: 1, entries: 2, requests: 3 });
});

test('a 401 after the refresh is an AuthError that is not retried, not a loop', async () => {
  emu.injectFault({ kind: 'status', status: 401, count: 5 });
  const err = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).code).toBe('MC_UNAUTHORIZED');
  expect(classify(err)).toBe('dead');
  expect(emu.stats()).toMatchObject({ tokensIssued: 2, requests: 2, entries: 0 });
});

test('a 429 50100 is transient and carries the Retry-After wait', async () => {
  emu.injectFault({ kind: 'status', status: 429, retryAfterSec: 7 });
  const err = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(err).toBeInstanceOf(TransientError);
  expect(err).toMatchObject({ code: 'MC_RATE_LIMITED', retryAfterMs: 7000 });
  expect(err.message).toContain('50100');
  expect(classify(err)).toBe('retry');
  expect(retryAfterOf(err)).toBe(7000);
});

test('a 429 50200 (temporarily blocked) is transient with a long default wait', async () => {
  emu.injectFault({ kind: 'status', status: 429, errorcode: 50200 });
  const err = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(err).toMatchObject({ code: 'MC_TEMPORARILY_BLOCKED', retryAfterMs: undefined });
  expect(classify(err)).toBe('retry');
  expect(retryAfterOf(err)).toBeGreaterThanOrEqual(60_000);
});

test('5xx answers are transient', async () => {
  for (const status of [500, 502, 503]) {
    emu.injectFault({ kind: 'status', status });
    const err = await failure(client.post('/interaction/v1/events', ENTRY));
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'MC_SERVER_ERROR' });
    expect(classify(err)).toBe('retry');
  }
});

test('a socket reset, a timeout and a refused connection are transient network errors', async () => {
  emu.injectFault({ kind: 'reset' });
  const reset = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(reset).toMatchObject({ code: 'MC_CONNECTION_LOST' });
  expect(classify(reset)).toBe('retry');

  emu.injectFault({ kind: 'delay', ms: 1500 });
  const timeout = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(timeout).toMatchObject({ code: 'MC_TIMEOUT' });
  expect(classify(timeout)).toBe('retry');

  await tokens.get();
  await emu.close();
  const refused = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(refused).toMatchObject({ code: 'MC_CONNECT_FAILED' });
  expect(classify(refused)).toBe('retry');
});

test("a 400 is a PermanentError with Marketing Cloud's errorcode and message, and dead", async () => {
  const err = await failure(client.post('/interaction/v1/events', { ...ENTRY, EventDefinitionKey: 'APIEvent-missing' }));
  expect(err).toBeInstanceOf(PermanentError);
  expect(err).toMatchObject({ code: 'MC_REJECTED', status: 400, mcErrorCode: 30002 });
  expect(err.message).toContain('APIEvent-missing');
  expect(classify(err)).toBe('dead');
});

test('a 403 is permanent too', async () => {
  emu.injectFault({ kind: 'status', status: 403, errorcode: 10005, message: 'Insufficient privileges' });
  const err = await failure(client.post('/interaction/v1/events', ENTRY));
  expect(err).toMatchObject({ code: 'MC_REJECTED', status: 403, mcErrorCode: 10005 });
  expect(classify(err)).toBe('dead');
});

test('no error message ever contains the access token', async () => {
  const { accessToken } = await tokens.get();
  const errs: Error[] = [];
  emu.injectFault({ kind: 'status', status: 401, count: 2 });
  errs.push(await failure(client.post('/interaction/v1/events', ENTRY)));
  emu.injectFault({ kind: 'reset' });
  errs.push(await failure(client.post('/interaction/v1/events', ENTRY)));
  errs.push(await failure(client.post('/interaction/v1/events', { ...ENTRY, EventDefinitionKey: 'x' })));
  const current = (await tokens.get()).accessToken;
  for (const e of errs) {
    expect(e.message).not.toContain(accessToken);
    expect(e.message).not.toContain(current);
  }
});

test("Retry-After is read as seconds or an HTTP date, else from the body's retryAfter", () => {
  expect(retryAfterMs('3', undefined)).toBe(3000);
  expect(retryAfterMs(undefined, 12)).toBe(12_000);
  expect(retryAfterMs(undefined, '2')).toBe(2000);
  const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
  expect(retryAfterMs(inTenSeconds, undefined)).toBeGreaterThan(8000);
  expect(retryAfterMs(undefined, undefined)).toBeUndefined();
  expect(retryAfterMs('soon', null)).toBeUndefined();
});
