// Rule: `check` passes the shipped config and force-app, names the config key and the file of every inconsistency with exit code 1, and with credentials finds what the org and Marketing Cloud refuse.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { check, runCheck, type CheckReport } from '../src/commands/check.ts';
import { startMcEmulator } from '../src/emulators/mc/index.ts';
import type { McEmulator } from '../src/emulators/mc/types.ts';
import { runCli } from './helpers/bridge-process.ts';

// Each CLI run loads source-deploy-retrieve in a fresh process: seconds alone, more on a shared machine.
jest.setTimeout(120_000);

const CREDENTIAL_VARS = ['SF_INSTANCE_URL', 'SF_ACCESS_TOKEN', 'MC_AUTH_BASE_URL', 'MC_CLIENT_ID', 'MC_CLIENT_SECRET', 'SFMC_BRIDGE_CONFIG'];
const offlineEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CREDENTIAL_VARS.includes(k)));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'check-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));

function cli(args: string[], env: NodeJS.ProcessEnv = offlineEnv): ReturnType<typeof runCli> {
  return runCli(args, env);
}

function shipped(): Record<string, any> {
  return JSON.parse(readFileSync('config/bridge.json', 'utf8'));
}

function writeConfig(name: string, config: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ ...config, $schema: undefined }));
  return path;
}

/** The shipped config with several things force-app does not back. */
function inconsistent(): Record<string, any> {
  const config = shipped();
  config.channels.push(
    { name: '/event/Order_Shipped__e' },
    { name: '/data/AccountChangeEvent' },
    { name: '/data/Partners__chn' },
    { name: '/data/ChangeEvents' },
  );
  config.channels.find((c: { name: string }) => c.name === '/event/MC_Send__e').recordIdField = 'Contact_Id__c';
  config.routes.push(
    { name: 'shipped', channel: '/event/Order_Shipped__e', target: { type: 'journey', eventDefinitionKey: 'K' }, mapping: { data: { X: 'X__c' } } },
    {
      name: 'send-as-journey',
      channel: '/event/MC_Send__e',
      target: { type: 'journey', eventDefinitionKey: 'K' },
      mapping: { data: { Email: 'Email__c', Phone: 'Phone__c' } },
    },
    {
      name: 'all-changes',
      channel: '/data/ChangeEvents',
      entities: ['Contact', 'Opportunity'],
      target: { type: 'journey', eventDefinitionKey: 'K' },
      mapping: { data: { Email: 'Email' } },
    },
    { name: 'custom-mapper', channel: '/data/ChangeEvents', target: { type: 'journey', eventDefinitionKey: 'K' }, mapper: 'no-such-mapper' },
  );
  return config;
}

describe('offline, through the command line', () => {
  it('passes the shipped config against the shipped force-app with exit code 0', async () => {
    const r = await cli(['check']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('ok: no errors');
    expect(r.stdout).toContain('online checks skipped');
    expect(r.status).toBe(0);
  });

  it('reports every inconsistency with its config key and file, and exits 1', async () => {
    const path = writeConfig('inconsistent.json', inconsistent());
    const r = await cli(['check', '--config', path]);
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    const line = (fragment: string) => lines.find((l) => l.includes(fragment)) ?? `(no line with ${fragment})`;
    expect(line('Order_Shipped__e is not defined')).toMatch(/^error +\[config-event-defined\] .*inconsistent\.json channels\[3\]\.name: /);
    expect(line('Account is not selected')).toContain('channels[4].name');
    expect(line('Account is not selected')).toContain('ChangeEvents_AccountChangeEvent.platformEventChannelMember-meta.xml');
    expect(line('Partners__chn in force-app')).toContain('channels[5].name');
    expect(line('Contact_Id__c')).toMatch(
      /channels\[2\]\.recordIdField \| force-app\/main\/default\/objects\/MC_Send__e\/MC_Send__e\.object-meta\.xml: /,
    );
    expect(line('"Phone__c"')).toMatch(/routes\[4\]\.mapping\.data\.Phone \| force-app\/.*MC_Send__e/);
    expect(line('does not deliver Opportunity')).toContain('routes[5].entities[1]');
    expect(line('no-such-mapper')).toContain('routes[6].mapper');
    expect(line('View All Data')).toMatch(/^warning/);
    expect(r.stdout).toMatch(/failed: 7 error\(s\), 1 warning\(s\)/);
  });

  it('prints the same findings as JSON with --json', async () => {
    const path = writeConfig('inconsistent-json.json', inconsistent());
    const r = await cli(['check', '--config', path, '--json']);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.ok).toBe(false);
    expect(report.components).toBe(39);
    expect(report.findings.filter((f) => f.severity === 'error').map((f) => [f.rule, f.key])).toEqual([
      ['config-route-fields', 'channels[2].recordIdField'],
      ['config-event-defined', 'channels[3].name'],
      ['config-cdc-selected', 'channels[4].name'],
      ['config-channel-defined', 'channels[5].name'],
      ['config-route-fields', 'routes[4].mapping.data.Phone'],
      ['config-route-entities', 'routes[5].entities[1]'],
      ['config-mapper', 'routes[6].mapper'],
    ]);
  });

  it('checks the field list a mapper declares against the event (journey-entry-event and send-event)', async () => {
    const mappers = join(dir, 'mappers');
    const copy = (name: string, from: string, to: string) => {
      cpSync(`mappers/${name}.ts`, join(mappers, `${name}.ts`));
      const source = readFileSync(join(mappers, `${name}.ts`), 'utf8').replaceAll("'../src/", `'${process.cwd()}/src/`);
      writeFileSync(join(mappers, `${name}.ts`), source.replace(from, to));
    };
    copy('journey-entry-event', "'Data__c'", "'Payload__c'");
    copy('send-event', "'Api__c']", "'Api_Name__c']");
    const { crossCheckConfig } = await import('../src/metadata/cross-check.ts');
    const { readForceApp } = await import('../src/metadata/force-app.ts');
    const { parseConfig } = await import('../src/config/load.ts');
    const { findings } = await crossCheckConfig(parseConfig(shipped()), await readForceApp('force-app'), { mappersDir: mappers });
    expect(findings).toEqual([
      expect.objectContaining({
        rule: 'config-route-fields',
        key: 'routes[1].mapper',
        severity: 'error',
        message: expect.stringContaining('"Payload__c"'),
      }),
      expect.objectContaining({
        rule: 'config-route-fields',
        key: 'routes[2].mapper',
        severity: 'error',
        message: expect.stringContaining('"Api_Name__c"'),
      }),
    ]);
  });

  it('fails on a force-app that Salesforce would refuse, given with --force-app', async () => {
    const copy = join(dir, 'broken');
    cpSync('force-app', join(copy, 'force-app'), { recursive: true });
    cpSync('sfdx-project.json', join(copy, 'sfdx-project.json'));
    const object = join(copy, 'force-app/main/default/objects/MC_Journey_Entry__e/MC_Journey_Entry__e.object-meta.xml');
    writeFileSync(object, readFileSync(object, 'utf8').replace('HighVolume', 'StandardVolume'));
    const r = await cli(['check', '--force-app', join(copy, 'force-app')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/error +\[event-high-volume\] .*MC_Journey_Entry__e\.object-meta\.xml: MC_Journey_Entry__e: eventType "StandardVolume"/);
  });

  it('exits 2 on an invalid config, like start', async () => {
    const path = writeConfig('invalid.json', { channels: [{ name: 'not-a-channel' }] });
    const r = await cli(['check', '--config', path]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('channels[0].name');
  });
});

/** A stand-in for the org's REST describe (the streaming emulator has none): only what jsforce asks. */
function describeServer(token: string, objects: Record<string, string[]>): Promise<{ url: string; server: Server; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.statusCode = 401;
      res.end(JSON.stringify([{ errorCode: 'INVALID_SESSION_ID', message: 'Session expired or invalid' }]));
      return;
    }
    const m = /^\/services\/data\/v62\.0\/sobjects\/([A-Za-z0-9_]+)\/describe$/.exec(req.url ?? '');
    const fields = m ? objects[m[1]!] : undefined;
    if (!m || fields === undefined) {
      res.statusCode = 404;
      res.end(JSON.stringify([{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]));
      return;
    }
    res.end(JSON.stringify({ name: m[1], fields: ['Id', ...fields].map((name) => ({ name })) }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, calls });
    }),
  );
}

describe('online, with credentials', () => {
  const TOKEN = '00Dxx0000001gPF!CheckTestToken';
  let mc: McEmulator;
  beforeAll(async () => {
    mc = await startMcEmulator({ clientId: 'check-client', clientSecret: 'check-secret' });
  });
  afterAll(() => mc.close());

  async function online(objects: Record<string, string[]>, secret = 'check-secret') {
    const sf = await describeServer(TOKEN, objects);
    try {
      const out: string[] = [];
      const env = {
        SF_INSTANCE_URL: sf.url,
        SF_ACCESS_TOKEN: TOKEN,
        MC_AUTH_BASE_URL: mc.authBaseUrl,
        MC_CLIENT_ID: 'check-client',
        MC_CLIENT_SECRET: secret,
      };
      const code = await runCheck({ config: 'config/bridge.json', env, out: { write: (t: string) => out.push(t) } });
      const report = await check({ config: 'config/bridge.json', env });
      return { code, text: out.join(''), report, calls: sf.calls };
    } finally {
      await new Promise((resolve) => sf.server.close(resolve));
    }
  }

  it('describes every object the config relies on and gets a Marketing Cloud token', async () => {
    const { code, text, report, calls } = await online({
      Contact: ['Email', 'FirstName', 'LastName', 'Name'],
      MC_Journey_Entry__e: ['Record_Id__c', 'Event_Definition_Key__c', 'Data__c', 'Correlation_Id__c'],
      MC_Send__e: ['Record_Id__c', 'Definition_Key__c', 'Email__c', 'Attributes__c', 'Api__c'],
    });
    expect(code).toBe(0);
    expect(report.online).toBe(true);
    expect(report.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(report.findings.map((f) => f.rule)).toEqual(expect.arrayContaining(['org-describe', 'mc-token']));
    expect(calls).toContain('GET /services/data/v62.0/sobjects/Contact/describe');
    expect(calls).toContain('GET /services/data/v62.0/sobjects/MC_Journey_Entry__e/describe');
    expect(calls).toContain('GET /services/data/v62.0/sobjects/MC_Send__e/describe');
    expect(text).toContain('ok: no errors');
    expect(text).not.toContain(TOKEN);
  });

  it('names the key of a field the org lacks, an event not deployed, and refused Marketing Cloud credentials', async () => {
    const { code, report, text } = await online({ Contact: ['Email', 'LastName', 'Name'] }, 'wrong-secret');
    expect(code).toBe(1);
    const errors = report.findings.filter((f) => f.severity === 'error');
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          rule: 'org-describe',
          key: 'routes[0].mapping.data.FirstName',
          message: expect.stringContaining('Contact.FirstName does not exist'),
        }),
        expect.objectContaining({
          rule: 'org-describe',
          key: 'channels[1].name',
          message: expect.stringContaining('MC_Journey_Entry__e does not exist in the org'),
        }),
        expect.objectContaining({
          rule: 'org-describe',
          key: 'channels[2].name',
          message: expect.stringContaining('MC_Send__e does not exist in the org'),
        }),
        expect.objectContaining({ rule: 'mc-token', key: 'marketingCloud.clientId', message: expect.stringContaining('MC_AUTH_REFUSED') }),
      ]),
    );
    expect(errors).toHaveLength(4);
    expect(text).not.toContain('wrong-secret');
  });
});
