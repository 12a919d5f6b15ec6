/**
 * Every Salesforce auth method against the emulator's token endpoint: a first token at start,
 * a new one when Salesforce refuses the current (one request however many callers), REST
 * calls through the jsforce connection, and a misconfiguration that stops start-up naming the
 * key to fix (exit code 2).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../src/config/load.ts';
import { ConfigError } from '../src/core/errors.ts';
import { openSalesforceSession, type SalesforceSession } from '../src/salesforce/auth.ts';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';
import { bridgeConfig, CHANNEL, contactId, MC_CLIENT_ID, MC_CLIENT_SECRET, startHarness, waitFor, type Harness } from './helpers/harness.ts';

const BIN = fileURLToPath(new URL('../bin/sfmc-bridge.js', import.meta.url));
const CONSUMER_KEY = '3MVG9test.consumer.key';
const CONSUMER_SECRET = 'test-consumer-secret';
const REFRESH = '5Aep861test.refresh.token';
const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const otherKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

let sf: StreamingEmulator;
beforeEach(async () => {
  sf = await startStreamingEmulator({
    accessToken: 'initial-token-never-used',
    oauth: {
      clientId: CONSUMER_KEY,
      clientSecret: CONSUMER_SECRET,
      refreshToken: REFRESH,
      jwtPublicKey: keys.publicKey,
      username: 'bridge@example.com',
    },
  });
  sf.upsertRecord('Contact', { Id: contactId(1), Email: 'one@example.com', LastName: 'One' });
});
afterEach(async () => {
  await sf.close();
});

function configWith(auth: Record<string, unknown>, env: Record<string, string>) {
  return load(
    {
      salesforce: { instanceUrl: sf.url, auth },
      marketingCloud: { authBaseUrl: 'http://127.0.0.1:9', clientId: 'c', clientSecret: { env: 'MC_SECRET' } },
    },
    { MC_SECRET: 's', ...env },
  );
}

const tokenCalls = () => sf.restCalls().filter((c) => c.path === '/services/oauth2/token');

/** The shared contract: a query works, a revoked token is replaced once, concurrent refusals share one refresh. */
async function exercise(session: SalesforceSession, requestsAtStart: number): Promise<void> {
  const first = await session.connection.query(`SELECT Id, Email FROM Contact WHERE Id IN ('${contactId(1)}')`);
  expect(first.records[0]).toMatchObject({ Id: contactId(1), Email: 'one@example.com' });
  expect(tokenCalls()).toHaveLength(requestsAtStart);
  const before = await session.auth.getAccessToken(false);
  sf.setAccessToken('someone-else'); // every issued token is now refused, as after a revoke
  // REST and streaming notice at once: one token request between them.
  const [fromRest, a, b] = await Promise.all([
    session.connection.query(`SELECT Id FROM Contact WHERE Id IN ('${contactId(1)}')`),
    session.auth.getAccessToken(true, before),
    session.auth.getAccessToken(true, before),
  ]);
  expect(fromRest.records).toHaveLength(1);
  expect(a).toBe(b);
  expect(a).not.toBe(before);
  expect(tokenCalls().filter((c) => c.status === 200)).toHaveLength(requestsAtStart + 1);
  // A caller late with the old token gets the new one without another request.
  expect(await session.auth.getAccessToken(true, before)).toBe(a);
  expect(tokenCalls()).toHaveLength(requestsAtStart + 1);
}

test('refresh_token: a token at start, a new one when Salesforce refuses it, one request for concurrent refusals', async () => {
  const config = configWith(
    { method: 'refresh_token', clientId: CONSUMER_KEY, clientSecret: { env: 'SECRET' }, refreshToken: { env: 'REFRESH' } },
    { SECRET: CONSUMER_SECRET, REFRESH },
  );
  const session = await openSalesforceSession(config.salesforce);
  await exercise(session, 1);
  expect(sf.restCalls().find((c) => c.soql)?.soql).toContain('FROM Contact');
});

test('client_credentials: the My Domain token endpoint with consumer key and secret', async () => {
  const config = configWith({ method: 'client_credentials', clientId: CONSUMER_KEY, clientSecret: { env: 'SECRET' } }, { SECRET: CONSUMER_SECRET });
  await exercise(await openSalesforceSession(config.salesforce), 1);
});

test("jwt_bearer: an RS256 assertion the emulator verifies against the connected app's certificate", async () => {
  const config = configWith(
    { method: 'jwt_bearer', clientId: CONSUMER_KEY, username: 'bridge@example.com', privateKey: { env: 'KEY' }, loginUrl: sf.url },
    { KEY: keys.privateKey },
  );
  await exercise(await openSalesforceSession(config.salesforce), 1);
});

test('access_token: the token from the environment serves REST calls', async () => {
  sf.addAccessToken('env-token');
  const config = configWith({ method: 'access_token', accessToken: { env: 'TOKEN' } }, { TOKEN: 'env-token' });
  const session = await openSalesforceSession(config.salesforce);
  const result = await session.connection.query(`SELECT Id FROM Contact WHERE Id IN ('${contactId(1)}')`);
  expect(result.records).toHaveLength(1);
  expect(tokenCalls()).toHaveLength(0);
});

test.each([
  [
    'client_credentials with a wrong secret',
    { method: 'client_credentials', clientId: CONSUMER_KEY, clientSecret: { env: 'SECRET' } },
    { SECRET: 'wrong' },
    'salesforce.auth.clientSecret',
    'invalid_client',
  ],
  [
    'refresh_token with a revoked refresh token',
    { method: 'refresh_token', clientId: CONSUMER_KEY, refreshToken: { env: 'REFRESH' } },
    { REFRESH: 'revoked' },
    'salesforce.auth.refreshToken',
    'invalid_grant',
  ],
  [
    'jwt_bearer signed with a key the app does not know',
    { method: 'jwt_bearer', clientId: CONSUMER_KEY, username: 'bridge@example.com', privateKey: { env: 'KEY' }, loginUrl: 'LOGIN' },
    { KEY: otherKey.privateKey },
    'salesforce.auth.username',
    'signature',
  ],
  [
    'jwt_bearer with a private key that is no PEM',
    { method: 'jwt_bearer', clientId: CONSUMER_KEY, username: 'bridge@example.com', privateKey: { env: 'KEY' }, loginUrl: 'LOGIN' },
    { KEY: 'not a key' },
    'salesforce.auth.privateKey',
    'PEM',
  ],
])('a misconfigured method stops start-up naming the key to fix: %s', async (_name, auth, env, key, words) => {
  const a = { ...auth } as Record<string, unknown>;
  if (a.loginUrl === 'LOGIN') a.loginUrl = sf.url;
  const err = await openSalesforceSession(configWith(a, env).salesforce).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).key).toBe(key);
  expect((err as Error).message).toContain(words);
  expect((err as Error).message).not.toContain(CONSUMER_SECRET);
});

describe('sf CLI alias through @salesforce/core', () => {
  // Node reads HOME from the real environment, which jest's sandbox does not change: the login
  // is written and the bridge run in child processes with a temporary HOME.
  let home: string;
  let h: Harness;
  const children: ChildProcess[] = [];
  const childEnv = () => ({
    ...process.env,
    HOME: home,
    SF_USE_GENERIC_UNIX_KEYCHAIN: 'true',
    SFDX_DISABLE_TELEMETRY: 'true',
    SF_DISABLE_TELEMETRY: 'true',
  });

  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'sf-home-'));
    h = await startHarness({ sf: { oauth: { clientId: 'PlatformCLI', refreshToken: REFRESH } } });
    // What `sf org login web --alias bridge-org` leaves behind, written by the same library
    // (tokens encrypted with the CLI's key in ~/.sfdx/key.json, as on a machine without a keychain).
    const script = `
      const core = await import('@salesforce/core');
      const info = await core.AuthInfo.create({ username: 'admin@bridge.example', oauth2Options: {
        loginUrl: ${JSON.stringify(h.sf.url)}, refreshToken: ${JSON.stringify(REFRESH)} } });
      await info.save();
      await info.setAlias('bridge-org');`;
    const writer = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: childEnv(),
      cwd: process.cwd(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    writer.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => writer.once('exit', resolve));
    if (code !== 0) throw new Error(`writing the auth file failed: ${err}`);
    // The token stored at login has expired since: the bridge must refresh it.
    h.sf.setAccessToken('valid-for-no-one');
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null) {
        c.kill('SIGTERM');
        await new Promise((resolve) => c.once('exit', resolve));
      }
    }
    await h.close();
    rmSync(home, { recursive: true, force: true });
  });

  function startBridge(alias: string): { child: ChildProcess; stderr: () => string } {
    const path = h.writeConfig(bridgeConfig(h.dir, { salesforce: { auth: { method: 'sf_alias', alias } } }));
    // No SF_INSTANCE_URL: the auth file supplies it.
    const child = spawn(process.execPath, [BIN, 'start', '--config', path], {
      env: { ...childEnv(), SF_INSTANCE_URL: '', MC_AUTH_BASE_URL: h.mc.authBaseUrl, MC_CLIENT_ID, MC_CLIENT_SECRET },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    return { child, stderr: () => stderr };
  }

  test("the alias's auth file (~/.sfdx/<username>.json + alias.json) is used, refreshed through the stored refresh token, and the stream flows", async () => {
    expect(existsSync(join(home, '.sfdx', 'admin@bridge.example.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(home, '.sfdx', 'alias.json'), 'utf8'))).toEqual({ orgs: { 'bridge-org': 'admin@bridge.example' } });
    const bridge = startBridge('bridge-org');
    await waitFor(() => (h.sf.stats().subscriptions[CHANNEL] ?? 0) >= 1 || bridge.child.exitCode !== null, 30_000, 'the bridge to subscribe');
    expect(bridge.child.exitCode).toBeNull();
    // The login's own grant, then the refresh of the expired stored token through core.
    expect(h.sf.restCalls().filter((c) => c.path === '/services/oauth2/token' && c.status === 200).length).toBeGreaterThanOrEqual(2);
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(5)], fields: { Email: 'five@example.com' } });
    await waitFor(() => h.mc.stats().entries >= 1, 20_000, 'the first entry');
    // Salesforce revokes the session mid-stream: the bridge gets a new token through core and goes on.
    const grants = h.sf.restCalls().filter((c) => c.path === '/services/oauth2/token').length;
    h.sf.setAccessToken('revoked-for-everyone');
    h.sf.injectFault({ type: 'connect-401' });
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(6)], fields: { Email: 'six@example.com' } });
    await waitFor(() => h.mc.stats().entries >= 2, 30_000, 'the entry after the revoke');
    expect(h.sf.restCalls().filter((c) => c.path === '/services/oauth2/token').length).toBeGreaterThan(grants);
    expect(
      h.mc
        .received()
        .map((e) => e.contactKey)
        .sort(),
    ).toEqual([contactId(5), contactId(6)]);
  }, 60_000);

  test('an alias the CLI does not know stops start-up with exit code 2 and says how to log in', async () => {
    const bridge = startBridge('no-such-org');
    const code = await new Promise<number | null>((resolve) => bridge.child.once('exit', resolve));
    expect(code).toBe(2);
    expect(bridge.stderr()).toContain('salesforce.auth.alias');
    expect(bridge.stderr()).toContain('sf org login web --alias no-such-org');
  }, 60_000);
});
