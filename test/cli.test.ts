/** The command line's contract: exit codes and messages that name what is wrong. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/bridge-process.ts';

const env = {
  ...process.env,
  SF_INSTANCE_URL: 'http://127.0.0.1:9',
  SF_ACCESS_TOKEN: 't',
  MC_AUTH_BASE_URL: 'http://127.0.0.1:9',
  MC_CLIENT_ID: 'c',
  MC_CLIENT_SECRET: 's',
};
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));

function run(args: string[], extraEnv: Record<string, string | undefined> = {}) {
  return runCli(args, { ...env, ...extraEnv }, 60_000);
}

test('an invalid config stops start-up with exit code 2 and a message naming the key and the value', async () => {
  const path = join(dir, 'bad.json');
  writeFileSync(
    path,
    JSON.stringify({
      channels: [{ name: '/data/ContactChangeEvent' }],
      routes: [
        { name: 'r', channel: '/data/LeadChangeEvent', target: { type: 'journey', eventDefinitionKey: 'K' }, mapping: { data: { Email: 'Email' } } },
      ],
    }),
  );
  const r = await run(['start', '--config', path]);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('routes[0].channel');
  expect(r.stderr).toContain('/data/LeadChangeEvent');
});

test('a secret written into the config file is refused with exit code 2, and the secret is not echoed', async () => {
  const path = join(dir, 'secret.json');
  writeFileSync(path, JSON.stringify({ marketingCloud: { clientSecret: 'hunter2-literal' } }));
  const r = await run(['start', '--config', path]);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('marketingCloud.clientSecret');
  expect(r.stderr).not.toContain('hunter2-literal');
});

test('a missing config file and a bad argument exit with code 2', async () => {
  const runs = await Promise.all([run(['start', '--config', join(dir, 'nope.json')]), run(['demo', '--events', 'many']), run(['no-such-command'])]);
  expect(runs.map((r) => r.status)).toEqual([2, 2, 2]);
}, 90_000);

test('SFMC_BRIDGE_CONFIG names the config when --config is absent', async () => {
  const r = await run(['start'], { SFMC_BRIDGE_CONFIG: join(dir, 'from-env.json') });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('from-env.json');
});

/** The environment without any Salesforce or Marketing Cloud credential. */
function withoutCredentials(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SF|MC)_/.test(k) && k !== 'SFMC_BRIDGE_CONFIG'));
}

test('demo runs the whole pipeline against the emulators and exits 0, showing journey entries, admin events and transactional sends', async () => {
  const r = await runCli(['demo', '--events', '8', '--db', join(dir, 'demo.db')], withoutCredentials(), 90_000);
  expect(r.stderr).not.toMatch(/"level":(50|60)/);
  expect(r.stdout).toContain('(route contact-welcome): 10 entries (expected 10)');
  expect(r.stdout).toContain('(route admin-journey-entry): 2 entries (expected 2)');
  expect(r.stdout).toContain('(route admin-send): 2 e-mails (expected 2)');
  expect(r.status).toBe(0);
}, 120_000);

test("start without any of the config's variables, outside production, says so in one line, runs the demo and exits 0", async () => {
  const r = await runCli(['start'], { ...withoutCredentials(), NODE_ENV: 'development' }, 90_000);
  const said = r.stderr.split('\n').filter((l) => l.startsWith('sfmc-bridge:'));
  expect(said).toEqual([expect.stringContaining('running the demo against the built-in emulators instead')]);
  expect(r.stdout).toContain('(route admin-send): 2 e-mails (expected 2)');
  expect(r.status).toBe(0);
}, 120_000);

test('start with one secret missing exits 2 naming the variable and the key that wants it, and runs no demo', async () => {
  const r = await runCli(['start'], { ...withoutCredentials(), ...env, MC_CLIENT_SECRET: undefined, NODE_ENV: 'development' }, 60_000);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('marketingCloud.clientSecret: environment variable MC_CLIENT_SECRET is not set');
  expect(r.stderr).not.toContain('running the demo');
  expect(r.stderr).toContain('no demo fallback');
  expect(r.stdout).toBe('');
}, 90_000);

test("start under NODE_ENV=production (the Dockerfile's) with no variables set exits 2 naming each of them, never the demo", async () => {
  const r = await runCli(['start'], { ...withoutCredentials(), NODE_ENV: 'production' }, 60_000);
  expect(r.status).toBe(2);
  for (const [key, variable] of [
    ['salesforce.instanceUrl', 'SF_INSTANCE_URL'],
    ['salesforce.auth.accessToken', 'SF_ACCESS_TOKEN'],
    ['marketingCloud.authBaseUrl', 'MC_AUTH_BASE_URL'],
    ['marketingCloud.clientId', 'MC_CLIENT_ID'],
    ['marketingCloud.clientSecret', 'MC_CLIENT_SECRET'],
  ]) {
    expect(r.stderr).toContain(`${key}: environment variable ${variable} is not set`);
  }
  expect(r.stderr).toContain('NODE_ENV is production');
  expect(r.stdout).toBe('');
}, 90_000);

test('an admin listener on 0.0.0.0 without admin.token stops start-up with exit code 2 naming admin.token', async () => {
  const path = join(dir, 'open-admin.json');
  writeFileSync(path, JSON.stringify({ admin: { enabled: true, host: '0.0.0.0' } }));
  const r = await run(['start', '--config', path]);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('admin.token: is required when admin.host is "0.0.0.0"');
});
