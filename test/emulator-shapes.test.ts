// Our emulators answer the same requests with the same shapes (keys and JSON types) as the vendors' documented responses in test/fixtures/vendor/, so tests run against them meet what production sends.
import { request } from 'undici';
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';
import { shapeOf, vendorFixture } from './helpers/vendor.ts';

const ID = 'shape-client';
const SECRET = 'shape-client-secret-0000';
const SF_TOKEN = '00Dxx0000001gPF!AQ4AQShapeTestToken';
let mc: McEmulator;
let sf: StreamingEmulator;
let token: string;

beforeAll(async () => {
  mc = await startMcEmulator({ clientId: ID, clientSecret: SECRET });
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, queryBatchSize: 2, oauth: { clientId: ID, clientSecret: SECRET } });
  for (const [i, name] of ['John Smith', 'Jane Doe', 'Ada Lovelace'].entries()) {
    sf.publishChange({
      entityName: 'Contact',
      changeType: 'CREATE',
      recordIds: [`003RO0000035WQ${'ghi'[i]}YAM`],
      fields: { Name: { LastName: name }, Email: `c${i}@example.com` },
    });
  }
});
afterAll(async () => {
  await Promise.all([mc.close(), sf.close()]);
});

async function call(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const res = await request(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: await res.body.json() };
}

const rest = (path: string, body: unknown) => call('POST', `${mc.restBaseUrl}${path.replace(/^\//, '')}`, body, { authorization: `Bearer ${token}` });

/** The documented shape of `fixture`'s answer, and its status. */
function documented(fixture: string): { status: number; shape: unknown } {
  const f = vendorFixture(fixture);
  return { status: f.status, shape: shapeOf(f.body) };
}

describe('Marketing Cloud emulator', () => {
  test('token', async () => {
    const res = await call('POST', `${mc.authBaseUrl}/v2/token`, { grant_type: 'client_credentials', client_id: ID, client_secret: SECRET });
    token = (res.body as { access_token: string }).access_token;
    expect({ status: res.status, shape: shapeOf(res.body) }).toEqual(documented('mc-token.json'));
  });

  test('journey entry, one contact', async () => {
    const res = await rest('/interaction/v1/events', {
      ContactKey: '0035g00000XyZabAAF',
      EventDefinitionKey: 'APIEvent-welcome',
      Data: { Email: 'a@example.com' },
    });
    expect({ status: res.status, shape: shapeOf(res.body) }).toEqual(documented('mc-journey-single.json'));
  });

  test('journey entry, async batch with one member refused', async () => {
    mc.setInactiveContacts(['0035g00000XyZacAAF']);
    const res = await rest('/interaction/v1/async/events', {
      eventDefinitionKey: 'APIEvent-welcome',
      members: [
        { contactKey: '0035g00000XyZabAAF', data: {} },
        { contactKey: '0035g00000XyZacAAF', data: {} },
      ],
    });
    mc.setInactiveContacts([]);
    expect({ status: res.status, shape: shapeOf(res.body) }).toEqual(documented('mc-journey-async.json'));
  });

  test('triggered send', async () => {
    const res = await rest('/messaging/v1/messageDefinitionSends/key:welcome-ts/send', {
      To: { Address: 'a@example.com', SubscriberKey: '0035g00000XyZabAAF' },
    });
    expect({ status: res.status, shape: shapeOf(res.body) }).toEqual(documented('mc-triggered-send.json'));
  });

  test('transactional, one recipient; the same messageKey again is 109110', async () => {
    const send = () =>
      rest('/messaging/v1/email/messages/shape-key-1', {
        definitionKey: 'order-confirmation',
        recipient: { contactKey: '0035g00000XyZabAAF', to: 'a@example.com' },
      });
    const first = await send();
    expect({ status: first.status, shape: shapeOf(first.body) }).toEqual(documented('mc-transactional-single.json'));
    const again = await send();
    expect({ status: again.status, shape: shapeOf(again.body) }).toEqual(documented('mc-transactional-109110.json'));
    expect(again.body).toMatchObject({ errorcode: 109110 });
  });

  test('transactional, batch; and a batch with one recipient refused (109001)', async () => {
    const batch = (keys: string[]) =>
      rest('/messaging/v1/email/messages', {
        definitionKey: 'order-confirmation',
        recipients: keys.map((k, i) => ({ contactKey: `0035g00000XyZa${i}AAF`, to: `b${i}@example.com`, messageKey: k })),
      });
    const ok = await batch(['shape-b1', 'shape-b2']);
    expect({ status: ok.status, shape: shapeOf(ok.body) }).toEqual(documented('mc-transactional-batch.json'));
    mc.injectFault({ kind: 'member', contactKeys: ['0035g00000XyZa1AAF'], errorcode: 1, message: 'Unsubscribed' });
    const partial = await batch(['shape-b3', 'shape-b4']);
    expect({ status: partial.status, shape: shapeOf(partial.body) }).toEqual(documented('mc-transactional-partial.json'));
    expect(partial.body).toMatchObject({ errorcode: 109001 });
  });
});

describe('Salesforce emulator (REST)', () => {
  test('token (client credentials)', async () => {
    const res = await request(`${sf.url}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: ID, client_secret: SECRET }).toString(),
    });
    expect({ status: res.statusCode, shape: shapeOf(await res.body.json()) }).toEqual(documented('sf-token.json'));
  });

  test('query, first page and the page behind nextRecordsUrl', async () => {
    const auth = { authorization: `Bearer ${SF_TOKEN}` };
    const first = await call('GET', `${sf.url}/services/data/v60.0/query?q=${encodeURIComponent('SELECT Id, Name FROM Contact')}`, undefined, auth);
    const page = first.body as { nextRecordsUrl: string; records: { Name: unknown }[] };
    // Name is a compound on change events but a plain string on a record: compare the documented string.
    expect({ status: first.status, shape: shapeOf(first.body) }).toEqual(documented('sf-query-page1.json'));
    const second = await call('GET', `${sf.url}${page.nextRecordsUrl}`, undefined, auth);
    expect({ status: second.status, shape: shapeOf(second.body) }).toEqual(documented('sf-query-page2.json'));
  });

  test('describe', async () => {
    const res = await call('GET', `${sf.url}/services/data/v60.0/sobjects/Contact/describe`, undefined, { authorization: `Bearer ${SF_TOKEN}` });
    const body = res.body as { fields: unknown[] };
    // The documented example keeps three fields; the emulator describes all of Contact's: compare one field's shape.
    const doc = vendorFixture('sf-describe.json').body as { fields: unknown[] };
    expect({ status: res.status, shape: shapeOf({ ...body, fields: body.fields.slice(0, 1) }) }).toEqual({
      status: 200,
      shape: shapeOf({ ...doc, fields: doc.fields.slice(0, 1) }),
    });
  });
});
