// One Marketing Cloud token per credential set, shared by every caller, refreshed ahead of expiry one request at a time, and credentials or tokens never sent to a host that is not Marketing Cloud's.
import { MockAgent } from 'undici';
import { AuthError, ConfigError, TransientError } from '../src/core/errors.ts';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { McTokenManager, checkAuthBaseUrl, clearSharedTokenManagers, sharedTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient } from '../src/delivery/mc/http.ts';

const ID = 'auth-client-id';
const SECRET = 'auth-client-secret-5678';
const MC_AUTH = 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com';
const MC_REST = 'https://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com/';

let emu: McEmulator;

beforeEach(async () => {
  emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET });
});
afterEach(async () => {
  await emu.close();
  clearSharedTokenManagers();
});

function manager(
  extra: Partial<ConstructorParameters<typeof McTokenManager>[1]> = {},
  creds: Partial<ConstructorParameters<typeof McTokenManager>[0]> = {},
) {
  return new McTokenManager({ authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET, ...creds }, extra);
}

test('many calls share one token, counted at the emulator', async () => {
  const tokens = manager();
  const first = await tokens.get();
  for (let i = 0; i < 20; i++) expect((await tokens.get()).accessToken).toBe(first.accessToken);
  expect(first.restBaseUrl).toBe(emu.restBaseUrl);
  expect(emu.stats().tokensIssued).toBe(1);
  expect(tokens.tokenRequests).toBe(1);
});

test('concurrent callers with no token share a single token request', async () => {
  const tokens = manager();
  const got = await Promise.all(Array.from({ length: 25 }, () => tokens.get()));
  expect(new Set(got.map((t) => t.accessToken)).size).toBe(1);
  expect(emu.stats().tokensIssued).toBe(1);
});

test('the token is refreshed about five minutes before it expires, once for concurrent callers', async () => {
  let now = 1_000_000;
  const tokens = manager({ now: () => now });
  const first = await tokens.get();
  expect(first.expiresAt - now).toBe(1079_000);
  now += (1079 - 301) * 1000;
  expect((await tokens.get()).accessToken).toBe(first.accessToken);
  now += 2000;
  const refreshed = await Promise.all(Array.from({ length: 10 }, () => tokens.get()));
  expect(new Set(refreshed.map((t) => t.accessToken)).size).toBe(1);
  expect(refreshed[0]!.accessToken).not.toBe(first.accessToken);
  expect(emu.stats().tokensIssued).toBe(2);
});

test('a failed early refresh keeps the still-valid token and reports the failure', async () => {
  let now = 1_000_000;
  const errors: unknown[] = [];
  const tokens = manager({ now: () => now, onRefreshError: (e) => errors.push(e) });
  const first = await tokens.get();
  emu.injectFault({ kind: 'status', status: 503, scope: 'token' });
  now += 800_000;
  expect((await tokens.get()).accessToken).toBe(first.accessToken);
  expect(errors).toEqual([expect.any(TransientError)]);
  // Not hammered: the next call within the pause does not ask again.
  expect((await tokens.get()).accessToken).toBe(first.accessToken);
  expect(tokens.tokenRequests).toBe(2);
});

test('invalidate drops the token only while it is still the current one', async () => {
  const tokens = manager();
  const first = await tokens.get();
  tokens.invalidate(first.accessToken);
  const second = await tokens.get();
  expect(second.accessToken).not.toBe(first.accessToken);
  tokens.invalidate(first.accessToken);
  expect((await tokens.get()).accessToken).toBe(second.accessToken);
  expect(emu.stats().tokensIssued).toBe(2);
});

test('one manager per (auth host, client ID, account ID); a rotated secret gets a fresh one', () => {
  const creds = { authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET, accountId: '100' };
  const a = sharedTokenManager(creds);
  expect(sharedTokenManager({ ...creds, authBaseUrl: `${emu.authBaseUrl}/` })).toBe(a);
  expect(sharedTokenManager({ ...creds, accountId: '200' })).not.toBe(a);
  expect(sharedTokenManager({ ...creds, clientSecret: 'rotated-secret' })).not.toBe(a);
});

test("bad credentials give an AuthError carrying MC's error and never the secret", async () => {
  const tokens = manager({}, { clientSecret: 'the-wrong-secret-value' });
  const err = await tokens.get().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).code).toBe('MC_AUTH_REFUSED');
  expect((err as AuthError).message).toContain('invalid_client');
  expect((err as AuthError).message).not.toContain('the-wrong-secret-value');
  expect(emu.stats().tokenRejected).toBe(1);
});

test('an unreachable auth host is a TransientError', async () => {
  const url = emu.authBaseUrl;
  await emu.close();
  const err = await new McTokenManager({ authBaseUrl: url, clientId: ID, clientSecret: SECRET }).get().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TransientError);
  expect((err as TransientError).code).toBe('MC_AUTH_UNREACHABLE');
});

test('auth URLs that are not a Marketing Cloud auth host or loopback are refused before any request', async () => {
  const agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  const bad = [
    'https://evil.example.com',
    'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com.evil.com',
    'https://mc563885gzs27c5t9-63k636tt.auth.marketingcloudapis.com', // 26 characters
    'https://xx563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com', // not mc…
    'http://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com', // not https
    'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com:8443',
    'https://user:pw@mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com',
    'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com/v2/token?x=1',
    'http://10.0.0.5:8080',
    'http://127.0.0.2:8080',
    'not a url',
  ];
  for (const url of bad) {
    expect(() => new McTokenManager({ authBaseUrl: url, clientId: ID, clientSecret: SECRET }, { dispatcher: agent })).toThrow(ConfigError);
  }
  expect(() => checkAuthBaseUrl('https://evil.example.com', 'mc.auth')).toThrow(/^mc\.auth: /);
  for (const url of [MC_AUTH, `${MC_AUTH}/`, 'http://127.0.0.1:9', 'http://localhost:9/']) expect(checkAuthBaseUrl(url)).toBeInstanceOf(URL);
  expect(agent.getCallHistory()!.calls()).toHaveLength(0);
  await agent.close();
});

test('a token whose rest_instance_url is not a Marketing Cloud REST host is refused and never sent anywhere', async () => {
  const agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  const auth = agent.get(MC_AUTH);
  auth
    .intercept({ path: '/v2/token', method: 'POST' })
    .reply(200, { access_token: 'leak-me-not', token_type: 'Bearer', expires_in: 1079, rest_instance_url: 'https://evil.example.com/' })
    .times(1);
  auth
    .intercept({ path: '/v2/token', method: 'POST' })
    .reply(200, { access_token: 'leak-me-not', token_type: 'Bearer', expires_in: 1079, rest_instance_url: 'http://127.0.0.1:1/' })
    .times(1);
  auth
    .intercept({ path: '/v2/token', method: 'POST' })
    .reply(200, { access_token: 'good', token_type: 'Bearer', expires_in: 1079, rest_instance_url: MC_REST })
    .times(1);
  const evil = agent.get('https://evil.example.com');
  evil.intercept({ path: /.*/, method: /.*/ }).reply(200, {}).persist();
  const tokens = new McTokenManager({ authBaseUrl: MC_AUTH, clientId: ID, clientSecret: SECRET }, { dispatcher: agent });
  const client = new McRestClient(tokens, { dispatcher: agent });
  for (let i = 0; i < 2; i++) {
    const err = await client.post('/interaction/v1/events', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe('MC_UNSAFE_REST_URL');
    expect((err as AuthError).message).not.toContain('leak-me-not');
  }
  expect((await tokens.get()).restBaseUrl).toBe(MC_REST);
  const hosts = agent
    .getCallHistory()!
    .calls()
    .map((c) => c.origin);
  expect(hosts).toEqual([MC_AUTH, MC_AUTH, MC_AUTH]);
  await agent.close();
});
