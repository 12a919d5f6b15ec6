/**
 * Personal data is masked wherever output leaves the process: log lines, `dlq list` (text and
 * --json), `trace` (text and --json), the admin listener's status and trace answers, error
 * messages and the demo's output all show no e-mail address or phone number of the same data,
 * and `log.allowPersonalData` unmasks them.
 */
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { createLogger } from '../src/core/log.ts';
import { runCli } from './helpers/bridge-process.ts';
import { bridgeConfig, contactId, useHarness, waitFor } from './helpers/harness.ts';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const PHONE = /555[ -.]?0100/;
const TOKEN = 'admin-token-personal-data-9c1e';
const h = useHarness({}, { scope: 'all' });
const refused = contactId(2);
const ok = contactId(3);
let logText = '';
let configPath: string;
let allowedPath: string;
let adminUrl: string;
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SF|MC)_/.test(k) && k !== 'SFMC_BRIDGE_CONFIG'));

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', pretty: false, destination });
  const config = bridgeConfig(h.dir, {
    admin: { enabled: true, port: 0, token: { env: 'ADMIN_TOKEN' } },
    log: { level: 'debug', pretty: false },
  });
  configPath = h.writeConfig(config, 'bridge.json');
  allowedPath = h.writeConfig({ ...config, log: { level: 'debug', pretty: false, allowPersonalData: true } }, 'allowed.json');
  // Marketing Cloud refuses contact 2 with a reason quoting its address and phone number.
  h.mc.injectFault({
    kind: 'member',
    contactKeys: [refused],
    errorcode: 30000,
    message: 'Subscriber jane.doe@example.com (+1 415 555 0100) is held',
  });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [refused],
    fields: { Email: 'jane.doe@example.com', Phone: '+1 415 555 0100', Name: { FirstName: 'Jane', LastName: 'Doe' } },
  });
  h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [ok],
    fields: { Email: 'ok.person@example.com', Phone: '+1 415 555 0100' },
  });
  // Unreadable ID: a dead letter at intake whose stored source carries the address.
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-broken'], fields: { Email: 'broken.person@example.com' } });
  const service = await h.startService(config, { logger, env: { ADMIN_TOKEN: TOKEN } });
  adminUrl = service.admin!.url;
  await waitFor(
    async () => {
      const c = await service.store.counts();
      return c.delivered >= 1 && c.dead >= 2;
    },
    20_000,
    'one delivered, two dead letters',
  );
  await service.dispatcher.settled();
}, 30_000);

async function cli(args: string[]): Promise<string> {
  const r = await runCli(args, env, 90_000);
  return r.stdout + r.stderr;
}

async function admin(path: string): Promise<string> {
  const res = await fetch(adminUrl + path, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

test('no surface shows an e-mail address or phone number of the data', async () => {
  const badConfig = h.writeConfig({ channels: [{ name: 'jane.doe@example.com' }] }, 'bad.json');
  const surfaces: Record<string, string> = {
    logs: logText,
    'dlq list': await cli(['dlq', 'list', '--config', configPath]),
    'dlq list --json': await cli(['dlq', 'list', '--config', configPath, '--json']),
    trace: await cli(['trace', refused, '--config', configPath]),
    'trace --json': await cli(['trace', refused, '--config', configPath, '--json']),
    '/api/status': await admin('/api/status'),
    '/api/trace': await admin(`/api/trace/${refused}`),
    'error message': await cli(['check', '--config', badConfig, '--offline']),
    'error message --json': await cli(['check', '--config', badConfig, '--offline', '--json']),
    demo: await cli(['demo', '--events', '3', '--db', join(h.dir, 'demo.db')]),
  };
  // The surfaces did show the records: an empty answer would pass for the wrong reason.
  expect(surfaces['dlq list --json']).toContain('"errorCode":"MC_MEMBER_REJECTED"');
  expect(surfaces['dlq list --json']).toContain('j***@***');
  expect(surfaces.trace).toContain(refused);
  expect(surfaces['/api/status']).toContain('dead_lettered');
  expect(surfaces['error message']).toContain('channels[0].name');
  expect(surfaces.demo).toContain('(route admin-send)');
  const leaks = Object.entries(surfaces).flatMap(([name, text]) =>
    [EMAIL.exec(text)?.[0], PHONE.exec(text)?.[0]].filter(Boolean).map((m) => `${name}: ${m}`),
  );
  expect(leaks).toEqual([]);
}, 180_000);

test('with log.allowPersonalData the dead-letter queue shows the addresses as they are', async () => {
  const listed = await cli(['dlq', 'list', '--config', allowedPath, '--json']);
  expect(listed).toContain('jane.doe@example.com');
  expect(listed).toContain('broken.person@example.com');
}, 60_000);
