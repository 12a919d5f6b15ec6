// A Marketing Cloud client we did not write (sfmc-sdk) authenticates against the emulator, enters contacts and sends a transactional e-mail through it, so the emulator speaks Marketing Cloud's protocol and not just our own client's dialect.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';

const run = promisify(execFile);
const ID = 'sdk-client-id';
const SECRET = 'sdk-client-secret-7890';
const KEY = 'APIEvent-sdk';
const MID = '514000123';

/**
 * The client side runs in a plain Node process: jest's ESM resolver cannot load sfmc-sdk's
 * p-limit (`#async_hooks` → builtin), and a separate process is how a real client meets the
 * emulator anyway. sfmc-sdk refuses any auth_url but `https://<28 chars>.auth.marketingcloudapis.com/`
 * (and axios tunnels https through a proxy with CONNECT + TLS, so the proxy route is out). So the
 * SDK gets a real-looking auth_url, and the axios instance it exports (`sfmc-sdk/util`) gets a
 * request interceptor that sends that one origin to the emulator, like a hosts-file entry.
 * Everything else is the SDK's own code: its URL check, token request, token caching, Bearer
 * header, 401 refresh and error parsing. REST calls need no help: they follow rest_instance_url.
 */
const CLIENT = `
import SDK from 'sfmc-sdk';
import { axiosInstance } from 'sfmc-sdk/util';
const { EMU, ID, SECRET, MID, KEY } = process.env;
const authUrl = 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com/';
axiosInstance.interceptors.request.use((config) => {
  if (config.baseURL === authUrl) config.baseURL = EMU + '/';
  return config;
});
// requestAttempts 2: with its default of 1, sfmc-sdk does not refresh on a 401 at all.
const sdk = new SDK({ client_id: ID, client_secret: SECRET, auth_url: authUrl, account_id: MID }, { requestAttempts: 2 });
const out = {};
const auth = await sdk.auth.getAccessToken();
out.token = { token_type: auth.token_type, expires_in: auth.expires_in, rest_instance_url: auth.rest_instance_url, hasToken: typeof auth.access_token === 'string' };
out.single = await sdk.rest.post('/interaction/v1/events', { ContactKey: '0035g00000XyZabAAB', EventDefinitionKey: KEY, Data: { Email: 'jane@example.com' } });
out.batch = await sdk.rest.post('/interaction/v1/async/events', { eventDefinitionKey: KEY, members: [
  { contactKey: '0035g00000XyZacAAB', data: { Email: 'a@example.com' } },
  { contactKey: '0035g00000XyZadAAB', data: { Email: 'b@example.com' } } ] });
out.status = await sdk.rest.get('/interaction/v1/async/events/status?requestId=' + out.batch.requestId + '&type=processed');
await fetch(EMU + '/_emulator/expire-tokens', { method: 'POST' });
out.afterRevoke = await sdk.rest.post('/interaction/v1/events', { ContactKey: '0035g00000XyZaeAAB', EventDefinitionKey: KEY, Data: {} });
out.unknownKey = await sdk.rest.post('/interaction/v1/events', { ContactKey: 'c3', EventDefinitionKey: 'nope', Data: {} })
  .then(() => 'accepted', (e) => ({ name: e.name, code: e.code, message: e.message }));
out.send = await sdk.rest.post('/messaging/v1/email/messages/sdk-msg-1', { definitionKey: 'sdk-def', recipient: { contactKey: '0035g00000XyZafAAB', to: 'f@example.com', attributes: { A: '1' } } });
out.resend = await sdk.rest.post('/messaging/v1/email/messages/sdk-msg-1', { definitionKey: 'sdk-def', recipient: { contactKey: '0035g00000XyZafAAB', to: 'f@example.com' } })
  .then(() => 'accepted', (e) => ({ name: e.name, code: e.code }));
const wrongMid = new SDK({ client_id: ID, client_secret: SECRET, auth_url: authUrl, account_id: 999 }, { requestAttempts: 1 });
out.wrongMid = await wrongMid.auth.getAccessToken().then(() => 'accepted', (e) => ({ code: e.code }));
console.log(JSON.stringify(out));
`;

/** The data extension calls through the same SDK: async rows, their status and results, the sync rowset, Bulk Data Ingest and the SOAP field retrieve. */
const DE_CLIENT = `
import SDK from 'sfmc-sdk';
import { axiosInstance } from 'sfmc-sdk/util';
const { EMU, ID, SECRET, MID, DE } = process.env;
const authUrl = 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com/';
axiosInstance.interceptors.request.use((config) => {
  if (config.baseURL === authUrl) config.baseURL = EMU + '/';
  return config;
});
const sdk = new SDK({ client_id: ID, client_secret: SECRET, auth_url: authUrl, account_id: MID }, { requestAttempts: 2 });
const out = {};
out.put = await sdk.rest.put('/data/v1/async/dataextensions/key:' + DE + '/rows', { items: [
  { ContactKey: '0035g00000XyZagAAB', Email: 'g@example.com' }, { ContactKey: '0035g00000XyZahAAB', Email: 'not-an-address' } ] });
out.status = await sdk.rest.get('/data/v1/async/' + out.put.requestId + '/status');
out.results = await sdk.rest.get('/data/v1/async/' + out.put.requestId + '/results');
out.rowset = await sdk.rest.post('/hub/v1/dataevents/key:' + DE + '/rowset', [{ keys: { ContactKey: '0035g00000XyZaiAAB' }, values: { Email: 'i@example.com' } }]);
out.badRowset = await sdk.rest.post('/hub/v1/dataevents/key:' + DE + '/rowset', [{ keys: { ContactKey: '0035g00000XyZajAAB' }, values: { Nope: 1 } }])
  .then(() => 'accepted', (e) => ({ name: e.name, code: e.code, message: e.message }));
const job = await sdk.rest.post('/data/v1/bulk/ingest', { destinationCustomerKey: DE, updateType: 'Upsert', contentType: 'JSON' });
await sdk.rest.put('/data/v1/bulk/ingest/' + job.bulkApiDefinitionId + '/batches', { data: [{ ContactKey: '0035g00000XyZakAAB', Email: 'k@example.com' }] });
await sdk.rest.post('/data/v1/bulk/ingest/' + job.bulkApiDefinitionId + '/batches/complete', {});
out.summary = await sdk.rest.get('/data/v1/bulk/ingest/' + job.bulkApiDefinitionId + '/summary');
out.fields = await sdk.soap.retrieve('DataExtensionField', ['Name', 'FieldType', 'IsPrimaryKey'], {
  filter: { leftOperand: 'DataExtension.CustomerKey', operator: 'equals', rightOperand: DE } });
console.log(JSON.stringify(out));
`;

let emu: McEmulator;

beforeAll(async () => {
  emu = await startMcEmulator({
    clientId: ID,
    clientSecret: SECRET,
    accountId: MID,
    eventDefinitionKeys: [KEY],
    dataExtensions: [
      {
        key: 'SDK_DE',
        fields: [
          { name: 'ContactKey', type: 'Text', isPrimaryKey: true },
          { name: 'Email', type: 'EmailAddress' },
        ],
      },
    ],
  });
});
afterAll(async () => {
  await emu.close();
});

test('sfmc-sdk gets a token, enters contacts one by one and in a batch, refreshes after a revoke, and sees MC-shaped errors', async () => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CLIENT], {
    cwd: process.cwd(),
    env: { ...process.env, EMU: emu.authBaseUrl, ID, SECRET, MID, KEY },
    timeout: 20_000,
  });
  const out = JSON.parse(stdout.trim().split('\n').pop()!);
  expect(out.token).toEqual({ token_type: 'Bearer', expires_in: 1079, rest_instance_url: emu.restBaseUrl, hasToken: true });
  expect(out.single).toEqual({ eventInstanceId: expect.any(String) });
  expect(out.batch).toMatchObject({
    requestId: expect.any(String),
    count: 2,
    notQueuedCount: 0,
    members: [{ contactKey: '0035g00000XyZacAAB' }, { contactKey: '0035g00000XyZadAAB' }],
  });
  expect(out.status).toMatchObject({ count: 2 });
  expect(out.afterRevoke).toEqual({ eventInstanceId: expect.any(String) });
  expect(out.unknownKey).toMatchObject({ name: 'RestError', code: 30002, message: expect.stringContaining('nope') });
  expect(out.wrongMid).toEqual({ code: 'invalid_client' });
  expect(out.send).toEqual({ requestId: expect.any(String), errorcode: 0, responses: [{ messageKey: 'sdk-msg-1' }] });
  expect(out.resend).toMatchObject({ name: 'RestError', code: 109110 });
  expect(emu.sends()).toEqual([expect.objectContaining({ api: 'transactional', messageKey: 'sdk-msg-1', to: 'f@example.com' })]);
  expect(emu.received().map((e) => [e.contactKey, e.via])).toEqual([
    ['0035g00000XyZabAAB', 'single'],
    ['0035g00000XyZacAAB', 'async'],
    ['0035g00000XyZadAAB', 'async'],
    ['0035g00000XyZaeAAB', 'single'],
  ]);
  // One token, then exactly one more after the revoke: the SDK's 401 path met our 401 body.
  expect(emu.stats()).toMatchObject({ tokensIssued: 2, unauthorized: 1, tokenRejected: 1 });
});

test('sfmc-sdk upserts data extension rows (async with status and results, sync rowset, Bulk Data Ingest) and retrieves the fields over SOAP', async () => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', DE_CLIENT], {
    cwd: process.cwd(),
    env: { ...process.env, EMU: emu.authBaseUrl, ID, SECRET, MID, DE: 'SDK_DE' },
    timeout: 20_000,
  });
  const out = JSON.parse(stdout.trim().split('\n').pop()!);
  expect(out.put).toMatchObject({ requestId: expect.any(String) });
  expect(out.status.status).toMatchObject({ requestStatus: 'Complete', hasErrors: true, requestId: out.put.requestId });
  expect(out.results.items).toEqual([{ status: 'OK' }, expect.objectContaining({ status: 'Error', message: expect.stringContaining("'Email'") })]);
  expect(out.rowset).toEqual([{ keys: { ContactKey: '0035g00000XyZaiAAB' }, values: { Email: 'i@example.com' } }]);
  expect(out.badRowset).toMatchObject({ name: 'RestError', code: 10006, message: expect.stringContaining("'Nope'") });
  expect(out.summary).toMatchObject({ status: 'Completed', totalRows: 1, successCount: 1, errorCount: 0 });
  const results = [out.fields.Results]
    .flat()
    .map((r: { Name: string; FieldType: string; IsPrimaryKey: unknown }) => [r.Name, r.FieldType, String(r.IsPrimaryKey)]);
  expect(results).toEqual([
    ['ContactKey', 'Text', 'true'],
    ['Email', 'EmailAddress', 'false'],
  ]);
  expect(
    emu
      .rows('SDK_DE')
      .map((r) => r.ContactKey)
      .sort(),
  ).toEqual(['0035g00000XyZagAAB', '0035g00000XyZaiAAB', '0035g00000XyZakAAB']);
});
