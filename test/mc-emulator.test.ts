// The Marketing Cloud emulator answers like Marketing Cloud where the bridge depends on it: token shape and lifetime, the 401 body, the 100-member cap, per-member errors in request order, faults, and a control API.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';

const ID = 'emu-client-id';
const SECRET = 'emu-client-secret-1234';
const KEY = 'APIEvent-welcome';

let emu: McEmulator;

beforeEach(async () => {
  emu = await startMcEmulator({ clientId: ID, clientSecret: SECRET, eventDefinitionKeys: [KEY] });
});
afterEach(async () => {
  await emu.close();
});

async function call(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function token(e: McEmulator = emu): Promise<string> {
  const res = await call('POST', `${e.authBaseUrl}/v2/token`, { grant_type: 'client_credentials', client_id: ID, client_secret: SECRET });
  return res.body.access_token as string;
}

function members(keys: string[]) {
  return keys.map((contactKey, i) => ({ contactKey, data: { n: i } }));
}

test("the token endpoint answers with Marketing Cloud's shape and a 1079-second lifetime", async () => {
  const res = await call('POST', `${emu.authBaseUrl}/v2/token`, {
    grant_type: 'client_credentials',
    client_id: ID,
    client_secret: SECRET,
    account_id: '514000123',
  });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    access_token: expect.any(String),
    token_type: 'Bearer',
    expires_in: 1079,
    scope: expect.any(String),
    soap_instance_url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\//),
    rest_instance_url: emu.restBaseUrl,
  });
  expect(emu.restBaseUrl).toBe(`${emu.authBaseUrl}/`);
  expect(emu.stats().tokensIssued).toBe(1);
});

test('bad credentials get 401 invalid_client and no token', async () => {
  const res = await call('POST', `${emu.authBaseUrl}/v2/token`, { grant_type: 'client_credentials', client_id: ID, client_secret: 'wrong' });
  expect(res.status).toBe(401);
  expect(res.body).toMatchObject({ error: 'invalid_client', error_description: expect.any(String) });
  expect(emu.stats()).toMatchObject({ tokensIssued: 0, tokenRejected: 1 });
});

test('a REST call without a valid token gets 401 {"errorcode":0,"message":"Not Authorized"}', async () => {
  const body = { ContactKey: 'c1', EventDefinitionKey: KEY, Data: {} };
  for (const auth of [undefined, 'Bearer not-a-token', 'Basic abc']) {
    const res = await call('POST', `${emu.restBaseUrl}interaction/v1/events`, body, auth ? { authorization: auth } : {});
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ errorcode: 0, message: 'Not Authorized' });
  }
  expect(emu.stats()).toMatchObject({ unauthorized: 3, entries: 0 });
});

test('tokens stop working after their lifetime and after expireTokens()', async () => {
  const short = await startMcEmulator({ clientId: ID, clientSecret: SECRET, tokenTtlSec: 1 });
  try {
    const t = await token(short);
    const send = () =>
      call('POST', `${short.restBaseUrl}interaction/v1/events`, { ContactKey: 'c1', EventDefinitionKey: KEY }, { authorization: `Bearer ${t}` });
    expect((await send()).status).toBe(201);
    await sleep(1100);
    expect((await send()).status).toBe(401);
  } finally {
    await short.close();
  }
  const t = await token();
  emu.expireTokens();
  const res = await call(
    'POST',
    `${emu.restBaseUrl}interaction/v1/events`,
    { ContactKey: 'c1', EventDefinitionKey: KEY },
    { authorization: `Bearer ${t}` },
  );
  expect(res.body).toEqual({ errorcode: 0, message: 'Not Authorized' });
});

test("a single entry gets 201 {eventInstanceId}; an unknown key or an inactive contact gets 400 with MC's error body", async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  const ok = await call(
    'POST',
    `${emu.restBaseUrl}interaction/v1/events`,
    { ContactKey: '003A', EventDefinitionKey: KEY, Data: { Email: 'a@example.com' } },
    auth,
  );
  expect(ok).toMatchObject({ status: 201, body: { eventInstanceId: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
  const unknown = await call('POST', `${emu.restBaseUrl}interaction/v1/events`, { ContactKey: '003A', EventDefinitionKey: 'nope', Data: {} }, auth);
  expect(unknown.status).toBe(400);
  expect(unknown.body).toEqual({ message: expect.stringContaining('nope'), errorcode: expect.any(Number), documentation: expect.any(String) });
  emu.setInactiveContacts(['003B']);
  const inactive = await call('POST', `${emu.restBaseUrl}interaction/v1/events`, { ContactKey: '003B', EventDefinitionKey: KEY, Data: {} }, auth);
  expect(inactive.status).toBe(400);
  expect(emu.received()).toEqual([
    {
      contactKey: '003A',
      eventDefinitionKey: KEY,
      data: { Email: 'a@example.com' },
      via: 'single',
      eventInstanceId: ok.body.eventInstanceId,
      receivedAt: expect.any(Number),
    },
  ]);
  expect(emu.stats()).toMatchObject({ entries: 1, rejected: 2, requests: 3 });
});

test('an async batch answers per member, in request order, with errors only on the refused members', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  emu.setInactiveContacts(['c2']);
  emu.injectFault({ kind: 'member', contactKeys: ['c4'], errorcode: 12345, message: 'Refused by test' });
  const res = await call(
    'POST',
    `${emu.restBaseUrl}interaction/v1/async/events`,
    { eventDefinitionKey: KEY, members: members(['c1', 'c2', 'c3', 'c4', 'c1']) },
    auth,
  );
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ requestId: expect.any(String), count: 5, notQueuedCount: 2 });
  expect(res.body.members.map((m: { contactKey: string }) => m.contactKey)).toEqual(['c1', 'c2', 'c3', 'c4', 'c1']);
  expect(res.body.members[0]).toEqual({ contactKey: 'c1', eventInstanceId: expect.any(String) });
  expect(res.body.members[1]).toMatchObject({ errorcode: '30000', message: expect.any(String) }); // members.errorcode is a String (reference page)
  expect(res.body.members[3]).toMatchObject({ errorcode: '12345', message: 'Refused by test' });
  expect(emu.received().map((e) => [e.contactKey, e.via, e.requestId])).toEqual([
    ['c1', 'async', res.body.requestId],
    ['c3', 'async', res.body.requestId],
    ['c1', 'async', res.body.requestId],
  ]);
  expect(emu.stats()).toMatchObject({ entries: 3, uniqueContacts: 2, rejected: 2, batches: 1 });
  const status = await call(
    'GET',
    `${emu.restBaseUrl}interaction/v1/async/events/status?requestId=${res.body.requestId}&type=errored`,
    undefined,
    auth,
  );
  expect(status.body).toMatchObject({
    count: 2,
    items: [
      { contactKey: 'c2', status: 'errored' },
      { contactKey: 'c4', status: 'errored' },
    ],
  });
  const processed = await call(
    'GET',
    `${emu.restBaseUrl}interaction/v1/async/events/status?requestId=${res.body.requestId}&type=processed`,
    undefined,
    auth,
  );
  expect(processed.body.count).toBe(3);
  const noFilter = await call('GET', `${emu.restBaseUrl}interaction/v1/async/events/status`, undefined, auth);
  expect(noFilter.status).toBe(400);
});

test('more than 100 members is refused whole with 400 and nothing is recorded', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  const keys = Array.from({ length: 101 }, (_, i) => `c${i}`);
  const res = await call('POST', `${emu.restBaseUrl}interaction/v1/async/events`, { eventDefinitionKey: KEY, members: members(keys) }, auth);
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ message: expect.stringContaining('100'), errorcode: expect.any(Number), documentation: '' });
  expect(emu.stats()).toMatchObject({ entries: 0, rejected: 101 });
  const hundred = await call(
    'POST',
    `${emu.restBaseUrl}interaction/v1/async/events`,
    { eventDefinitionKey: KEY, members: members(keys.slice(0, 100)) },
    auth,
  );
  expect(hundred.status).toBe(202);
});

test('paths are matched with their case and PascalCase batch fields are not accepted', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  expect((await call('POST', `${emu.restBaseUrl}Interaction/V1/Events`, { ContactKey: 'c', EventDefinitionKey: KEY }, auth)).status).toBe(404);
  const pascal = await call('POST', `${emu.restBaseUrl}interaction/v1/async/events`, { EventDefinitionKey: KEY, Members: members(['c']) }, auth);
  expect(pascal.status).toBe(400);
});

test('status faults answer like Marketing Cloud: 429 50100 with Retry-After, 429 50200 without, 5xx, for `count` requests', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  const send = () => call('POST', `${emu.restBaseUrl}interaction/v1/async/events`, { eventDefinitionKey: KEY, members: members(['c1']) }, auth);
  emu.injectFault({ kind: 'status', status: 429, retryAfterSec: 7 });
  emu.injectFault({ kind: 'status', status: 429, errorcode: 50200 });
  emu.injectFault({ kind: 'status', status: 503, count: 2 });
  const limited = await send();
  expect(limited).toMatchObject({
    status: 429,
    headers: { 'retry-after': '7' },
    body: { errorcode: 50100, retryAfter: 7, message: expect.any(String), documentation: '' },
  });
  const blocked = await send();
  expect(blocked.status).toBe(429);
  expect(blocked.headers['retry-after']).toBeUndefined();
  expect(blocked.body).toMatchObject({ errorcode: 50200 });
  expect((await send()).status).toBe(503);
  expect((await send()).status).toBe(503);
  expect((await send()).status).toBe(202);
  expect(emu.stats()).toMatchObject({ faulted: 4, entries: 1 });
});

test('a reset fault drops the connection before (nothing recorded) or after processing (recorded, answer lost)', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  const send = () => call('POST', `${emu.restBaseUrl}interaction/v1/async/events`, { eventDefinitionKey: KEY, members: members(['c1']) }, auth);
  emu.injectFault({ kind: 'reset' });
  await expect(send()).rejects.toThrow();
  expect(emu.stats().entries).toBe(0);
  emu.injectFault({ kind: 'reset', when: 'after' });
  await expect(send()).rejects.toThrow();
  expect(emu.stats().entries).toBe(1);
});

test('a delay fault holds the answer for the given time', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  emu.injectFault({ kind: 'delay', ms: 300 });
  const started = Date.now();
  const res = await call('POST', `${emu.restBaseUrl}interaction/v1/events`, { ContactKey: 'c', EventDefinitionKey: KEY }, auth);
  expect(res.status).toBe(201);
  expect(Date.now() - started).toBeGreaterThanOrEqual(280);
});

test('the same contact with the same data twice counts as a duplicate; other data does not', async () => {
  const auth = { authorization: `Bearer ${await token()}` };
  const body = {
    eventDefinitionKey: KEY,
    members: [
      { contactKey: 'c1', data: { a: 1 } },
      { contactKey: 'c1', data: { a: 1 } },
      { contactKey: 'c1', data: { a: 2 } },
    ],
  };
  await call('POST', `${emu.restBaseUrl}interaction/v1/async/events`, body, auth);
  expect(emu.stats()).toMatchObject({ entries: 3, uniqueContacts: 1, duplicates: 1 });
});

test('with recordBodies false the emulator keeps keys, IDs and receipt times but not the data', async () => {
  const lean = await startMcEmulator({ clientId: ID, clientSecret: SECRET, recordBodies: false });
  try {
    const auth = { authorization: `Bearer ${await token(lean)}` };
    await call('POST', `${lean.restBaseUrl}interaction/v1/async/events`, { eventDefinitionKey: KEY, members: members(['c1', 'c2']) }, auth);
    const [first] = lean.received();
    expect(first).toMatchObject({ contactKey: 'c1', eventDefinitionKey: KEY, via: 'async', receivedAt: expect.any(Number) });
    expect(first).not.toHaveProperty('data');
    expect(lean.stats()).toMatchObject({ entries: 2, uniqueContacts: 2 });
  } finally {
    await lean.close();
  }
});

test('the control API does over HTTP what the in-process object does', async () => {
  const ctl = `${emu.authBaseUrl}/_emulator`;
  const t = await token();
  const auth = { authorization: `Bearer ${t}` };
  await call('POST', `${emu.restBaseUrl}interaction/v1/async/events`, { eventDefinitionKey: KEY, members: members(['c1', 'c2']) }, auth);
  expect((await call('GET', `${ctl}/received?contactKey=c2`)).body).toEqual([expect.objectContaining({ contactKey: 'c2', data: { n: 1 } })]);
  expect((await call('GET', `${ctl}/stats`)).body).toMatchObject({ entries: 2, tokensIssued: 1 });
  expect((await call('POST', `${ctl}/fault`, { kind: 'status', status: 500 })).status).toBe(200);
  expect((await call('POST', `${ctl}/fault`, { kind: 'explode' })).status).toBe(400);
  expect((await call('POST', `${emu.restBaseUrl}interaction/v1/events`, { ContactKey: 'c3', EventDefinitionKey: KEY }, auth)).status).toBe(500);
  await call('POST', `${ctl}/inactive`, { contactKeys: ['c9'] });
  expect((await call('POST', `${emu.restBaseUrl}interaction/v1/events`, { ContactKey: 'c9', EventDefinitionKey: KEY }, auth)).status).toBe(400);
  await call('POST', `${ctl}/expire-tokens`);
  expect((await call('POST', `${emu.restBaseUrl}interaction/v1/events`, { ContactKey: 'c3', EventDefinitionKey: KEY }, auth)).status).toBe(401);
  await call('POST', `${ctl}/reset`);
  expect(emu.stats()).toMatchObject({ entries: 0, tokensIssued: 0, requests: 0 });
  expect(emu.received()).toEqual([]);
});
