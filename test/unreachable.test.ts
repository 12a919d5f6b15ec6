// A Salesforce or Marketing Cloud that cannot be reached is loud: a warning per host and cause (rate-limited), an error after connectivity.alertAfterMs, and /readyz names the host and the cause.
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../src/core/log.ts';
import { selfSignedCertificate } from '../src/emulators/pubsub/tls.ts';
import { connectionCause } from '../src/telemetry/reachability.ts';
import { bridgeConfig, contactId, useHarness, waitFor } from './helpers/harness.ts';

const h = useHarness();
let extra: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (extra ? extra.close(r) : r(undefined)));
  extra = undefined;
});

type Line = Record<string, unknown> & { level: number; event?: string; msg: string };

/** A logger that keeps its lines, as the production logger writes them. */
function capture(): { logger: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', pretty: false, destination }), lines };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const config = (dir: string) =>
  bridgeConfig(dir, {
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    connectivity: { alertAfterMs: 2500, warnIntervalMs: 60_000 },
    log: { level: 'info', pretty: false },
  });

async function readyz(url: string): Promise<{ status: number; body: { checks: Record<string, { ok: boolean; error?: string }> } }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

const of = (lines: Line[], event: string, host: string) => lines.filter((l) => l.event === event && l.host === host);

test('Salesforce instance URL on a closed port: a warning naming host and ECONNREFUSED, once per interval however often faye retries, then an error; /readyz says why', async () => {
  const port = await closedPort();
  const host = `127.0.0.1:${port}`;
  const { logger, lines } = capture();
  const service = await h.startService(config(h.dir), { env: { SF_INSTANCE_URL: `http://${host}` }, logger });
  expect(lines.some((l) => l.event === 'started')).toBe(true);

  await waitFor(() => of(lines, 'remote_unreachable', host).length > 0, 15_000, 'the unreachable alert');
  const warnings = of(lines, 'connect_failed', host);
  expect(warnings[0]).toMatchObject({ level: 40, remote: 'salesforce', cause: 'ECONNREFUSED' });
  expect(warnings[0]!.msg).toContain(`Salesforce at ${host}: ECONNREFUSED`);
  const alert = of(lines, 'remote_unreachable', host)[0]!;
  expect(alert).toMatchObject({ level: 50, remote: 'salesforce', cause: 'ECONNREFUSED' });
  // faye retried meanwhile, but within warnIntervalMs one warning stands for them all.
  expect(alert.attempts as number).toBeGreaterThan(1);
  expect(warnings).toHaveLength(1);

  const r = await readyz(service.admin!.url);
  expect(r.status).toBe(503);
  expect(r.body.checks.connections).toEqual({
    ok: false,
    error: expect.stringMatching(new RegExp(`Salesforce at ${host} unreachable for \\d+ s \\(\\d+ failed attempts\\): ECONNREFUSED`)),
  });
}, 30_000);

test('Salesforce instance host that does not resolve: the warning names the host and ENOTFOUND (or EAI_AGAIN without DNS)', async () => {
  const { logger, lines } = capture();
  const service = await h.startService(config(h.dir), { env: { SF_INSTANCE_URL: 'https://nonexistent.invalid' }, logger });
  const host = 'nonexistent.invalid:443';
  await waitFor(() => of(lines, 'connect_failed', host).length > 0, 15_000, 'a connect_failed warning');
  expect(of(lines, 'connect_failed', host)[0]).toMatchObject({
    level: 40,
    remote: 'salesforce',
    cause: expect.stringMatching(/^(ENOTFOUND|EAI_AGAIN)$/),
  });
  expect((await readyz(service.admin!.url)).body.checks.connections!.error).toContain('Salesforce at nonexistent.invalid:443');
}, 30_000);

test('Salesforce OAuth login host on a closed port: the token request is a warning naming the login host and ECONNREFUSED', async () => {
  const port = await closedPort();
  const host = `127.0.0.1:${port}`;
  const { logger, lines } = capture();
  const auth = { method: 'refresh_token', clientId: 'emulator-consumer-key', refreshToken: { env: 'SF_REFRESH_TOKEN' }, loginUrl: `http://${host}` };
  // Start-up may fail on the token (a fatal error of its own); the attempt is logged either way.
  const started = h
    .startService({ ...config(h.dir), salesforce: { auth } }, { env: { SF_REFRESH_TOKEN: 'emulator-refresh-token' }, logger })
    .catch((err: unknown) => err);
  await waitFor(() => of(lines, 'connect_failed', host).length > 0, 15_000, 'a connect_failed warning');
  expect(of(lines, 'connect_failed', host)[0]).toMatchObject({ level: 40, remote: 'salesforce', cause: 'ECONNREFUSED' });
  await started;
}, 30_000);

test('Pub/Sub endpoint on a closed port: the gRPC failure is a warning naming the endpoint and ECONNREFUSED, then an error', async () => {
  const port = await closedPort();
  const host = `127.0.0.1:${port}`;
  const { logger, lines } = capture();
  const service = await h.startService({ ...config(h.dir), salesforce: { transport: 'pubsub', pubsubUrl: host } }, { logger });
  await waitFor(() => of(lines, 'remote_unreachable', host).length > 0, 15_000, 'the unreachable alert');
  expect(of(lines, 'connect_failed', host)[0]).toMatchObject({ level: 40, remote: 'salesforce', cause: 'ECONNREFUSED' });
  expect((await readyz(service.admin!.url)).body.checks.connections!.error).toContain(`Salesforce at ${host}`);
}, 30_000);

test('Marketing Cloud auth on a closed port: deliveries wait, and the warning, the error and /readyz name the host and ECONNREFUSED', async () => {
  const port = await closedPort();
  const host = `127.0.0.1:${port}`;
  const { logger, lines } = capture();
  const service = await h.startService(config(h.dir), { env: { MC_AUTH_BASE_URL: `http://${host}` }, logger });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(1)], fields: { Email: 'u1@example.com' } });
  await waitFor(() => of(lines, 'remote_unreachable', host).length > 0, 15_000, 'the unreachable alert');
  expect(of(lines, 'connect_failed', host)[0]).toMatchObject({ level: 40, remote: 'marketingCloud', cause: 'ECONNREFUSED' });
  expect(of(lines, 'remote_unreachable', host)[0]!.msg).toContain(`Marketing Cloud at ${host}`);
  const r = await readyz(service.admin!.url);
  expect(r.status).toBe(503);
  expect(r.body.checks.connections!.error).toMatch(new RegExp(`Marketing Cloud at ${host} .*ECONNREFUSED`));
  // Salesforce is fine: only Marketing Cloud is named.
  expect(r.body.checks.connections!.error).not.toContain('Salesforce');
  expect(r.body.checks.subscribed!.ok).toBe(true);
}, 30_000);

test('Marketing Cloud auth behind a certificate nobody signed: the warning names the certificate error', async () => {
  const { cert, key } = selfSignedCertificate();
  const tls = createHttpsServer({ cert, key }, (_req, res) => res.end('{}'));
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  extra = tls;
  const host = `127.0.0.1:${(tls.address() as { port: number }).port}`;
  const { logger, lines } = capture();
  await h.startService(config(h.dir), { env: { MC_AUTH_BASE_URL: `https://${host}` }, logger });
  h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(2)], fields: { Email: 'u2@example.com' } });
  await waitFor(() => of(lines, 'connect_failed', host).length > 0, 15_000, 'a connect_failed warning');
  expect(of(lines, 'connect_failed', host)[0]).toMatchObject({ remote: 'marketingCloud', cause: expect.stringMatching(/SELF_SIGNED|CERT/) });
}, 30_000);

test('the cause is read through the chain: an undici-style wrapper, an AggregateError, gRPC details, faye text', () => {
  expect(connectionCause(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }))).toBe('ECONNREFUSED');
  expect(connectionCause(new Error('outer', { cause: new AggregateError([Object.assign(new Error('v6'), { code: 'ENETUNREACH' })]) }))).toBe(
    'ENETUNREACH',
  );
  expect(connectionCause(Object.assign(new Error('tls'), { code: 'CERT_HAS_EXPIRED' }))).toBe('CERT_HAS_EXPIRED');
  expect(connectionCause({ code: 14, details: 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:7443' })).toBe('ECONNREFUSED');
  expect(connectionCause({ code: 14, details: 'Name resolution failed for target dns:nonexistent.invalid:443' })).toBe('ENOTFOUND');
  expect(connectionCause(new Error('HTTP error: getaddrinfo ENOTFOUND nonexistent.invalid'))).toBe('ENOTFOUND');
});
