// Our HTTP clients understand Marketing Cloud's and Salesforce's answers as the vendors document them: every reply here is a fixture taken from the vendor's published documentation (test/fixtures/vendor/, each naming its page), served by nock, so ground truth is not our own emulator.
import nock from 'nock';
import { clearSharedTokenManagers } from '../src/delivery/mc/auth.ts';
import { McClients } from '../src/delivery/mc/clients.ts';
import { createJourneyTarget, type DeliveryItem as JourneyItem } from '../src/delivery/targets/journey.ts';
import { createTransactionalTarget } from '../src/delivery/targets/transactional.ts';
import { createTriggeredSendTarget } from '../src/delivery/targets/triggered-send.ts';
import type { DeliveryItem } from '../src/delivery/target.ts';
import type { SendPayload } from '../src/core/model.ts';
import { RecordFetcher, restOf } from '../src/enrich/fetcher.ts';
import { accessTokenAuth, connectionFor } from '../src/salesforce/auth.ts';
import { clientCredentialsFlow } from '../src/salesforce/oauth-flows.ts';
import { vendorFixture } from './helpers/vendor.ts';

const SUBDOMAIN = 'mc563885gzs27c5t9-63k636ttgm';
const AUTH = `https://${SUBDOMAIN}.auth.marketingcloudapis.com`;
const REST = `https://${SUBDOMAIN}.rest.marketingcloudapis.com`;
const SF = 'https://acme.my.salesforce.com';
const CLIENT_ID = 'vendor-contract-client';
const CLIENT_SECRET = 'vendor-contract-secret-0000';

let clients: McClients;

beforeEach(() => {
  nock.disableNetConnect();
  clearSharedTokenManagers();
  clients = new McClients({ credentials: { authBaseUrl: AUTH, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, timeoutMs: 2000 });
});
afterEach(async () => {
  await clients.close();
  const unused = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(unused).toEqual([]); // every documented exchange took place
});
// nock patches node:http and fetch for the whole process: a later test file in the same jest
// worker (CI runs one) would otherwise see its real connection errors swallowed.
afterAll(() => {
  nock.restore();
});

/** The documented token answer, for a request carrying our client credentials. */
function tokenEndpoint(): void {
  const token = vendorFixture('mc-token.json');
  nock(AUTH)
    .post('/v2/token', { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
    .reply(token.status, token.body);
}

function send(n: number, mode: 'single' | 'batch', over: Partial<SendPayload> = {}): DeliveryItem<SendPayload> {
  return {
    id: n,
    idempotencyKey: `order-${n}-${'k'.repeat(30)}`,
    mode,
    payload: {
      definitionKey: 'order-confirmation',
      contactKey: `0035g0000000000${n}AAA`,
      address: `c${n}@example.com`,
      attributes: { Order: `ORD-${n}` },
      ...over,
    },
  };
}

function entry(n: number, contactKey: string, mode: 'single' | 'batch'): JourneyItem {
  return {
    id: n,
    idempotencyKey: `entry-${n}`,
    mode,
    payload: { contactKey, eventDefinitionKey: 'APIEvent-welcome', data: { Email: `e${n}@example.com` } },
  };
}

describe('Marketing Cloud', () => {
  test('token: the documented answer gives the access token, its REST base and a lifetime of expires_in seconds', async () => {
    tokenEndpoint();
    const before = Date.now();
    const token = await clients.clientFor(undefined).tokens.get();
    const doc = vendorFixture('mc-token.json').body as { access_token: string; expires_in: number; rest_instance_url: string };
    expect(token.accessToken).toBe(doc.access_token);
    expect(token.restBaseUrl).toBe(doc.rest_instance_url);
    expect(token.expiresAt - before).toBeGreaterThan((doc.expires_in - 5) * 1000);
    expect(token.expiresAt - Date.now()).toBeLessThanOrEqual(doc.expires_in * 1000);
  });

  test("journey, one contact: the 201 answer's eventInstanceId is recorded", async () => {
    tokenEndpoint();
    const doc = vendorFixture('mc-journey-single.json');
    nock(REST)
      .post('/interaction/v1/events', { ContactKey: '0035g00000XyZabAAF', EventDefinitionKey: 'APIEvent-welcome', Data: { Email: 'e1@example.com' } })
      .reply(doc.status, doc.body);
    const [outcome] = await createJourneyTarget(clients.clientFor).deliver([entry(1, '0035g00000XyZabAAF', 'single')]);
    expect(outcome).toEqual({ id: 1, status: 'delivered', ids: { eventInstanceId: (doc.body as { eventInstanceId: string }).eventInstanceId } });
  });

  test('journey, async batch: members map back in request order; a member with an errorcode (a string, as documented) is dead with it, the others delivered', async () => {
    tokenEndpoint();
    const doc = vendorFixture('mc-journey-async.json');
    const body = doc.body as { requestId: string; members: { contactKey: string; eventInstanceId: string; errorcode?: string; message?: string }[] };
    nock(REST)
      .post(
        '/interaction/v1/async/events',
        (b: { eventDefinitionKey?: string; members?: unknown[] }) => b.eventDefinitionKey === 'APIEvent-welcome' && b.members?.length === 2,
      )
      .reply(doc.status, doc.body);
    const outcomes = await createJourneyTarget(clients.clientFor).deliver(body.members.map((m, i) => entry(i + 1, m.contactKey, 'batch')));
    expect(outcomes[0]).toEqual({
      id: 1,
      status: 'delivered',
      ids: { requestId: body.requestId, eventInstanceId: body.members[0]!.eventInstanceId },
    });
    expect(outcomes[1]).toMatchObject({ id: 2, status: 'dead', error: { code: 'MC_MEMBER_REJECTED', mcErrorCode: body.members[1]!.errorcode } });
    expect((outcomes[1] as { error: Error }).error.message).toContain(body.members[1]!.message!);
  });

  test("triggered send: the 202 answer's recipientSendId and requestId are recorded", async () => {
    tokenEndpoint();
    const doc = vendorFixture('mc-triggered-send.json');
    const body = doc.body as { requestId: string; responses: { recipientSendId: string }[] };
    nock(REST)
      .post(
        '/messaging/v1/messageDefinitionSends/key:welcome-ts/send',
        (b: { To?: { Address?: string; SubscriberKey?: string } }) =>
          b.To?.Address === 'c1@example.com' && b.To.SubscriberKey === send(1, 'single').payload.contactKey,
      )
      .reply(doc.status, doc.body);
    const [outcome] = await createTriggeredSendTarget(clients.clientFor).deliver([send(1, 'single', { definitionKey: 'welcome-ts' })]);
    expect(outcome).toEqual({ id: 1, status: 'delivered', ids: { requestId: body.requestId, recipientSendId: body.responses[0]!.recipientSendId } });
  });

  test('transactional, one recipient: sent under its messageKey; the 202 answer is delivered', async () => {
    tokenEndpoint();
    const item = send(1, 'single');
    const doc = vendorFixture('mc-transactional-single.json', { messageKey: item.idempotencyKey });
    nock(REST)
      .post(`/messaging/v1/email/messages/${item.idempotencyKey}`, {
        definitionKey: 'order-confirmation',
        recipient: { contactKey: item.payload.contactKey, to: 'c1@example.com', attributes: { Order: 'ORD-1' } },
      })
      .reply(doc.status, doc.body);
    const [outcome] = await createTransactionalTarget(clients.clientFor).deliver([item]);
    expect(outcome).toMatchObject({ id: 1, status: 'delivered', ids: { messageKey: item.idempotencyKey } });
  });

  test('transactional, batch: each recipient carries its messageKey; the 202 answer delivers each', async () => {
    tokenEndpoint();
    const items = [send(1, 'batch'), send(2, 'batch')];
    const doc = vendorFixture('mc-transactional-batch.json', { messageKey0: items[0]!.idempotencyKey, messageKey1: items[1]!.idempotencyKey });
    nock(REST)
      .post(
        '/messaging/v1/email/messages',
        (b: { recipients?: { messageKey?: string }[] }) =>
          b.recipients?.map((r) => r.messageKey).join() === items.map((i) => i.idempotencyKey).join(),
      )
      .reply(doc.status, doc.body);
    const outcomes = await createTransactionalTarget(clients.clientFor).deliver(items);
    expect(outcomes.map((o) => [o.id, o.status, o.status === 'delivered' ? o.ids.messageKey : undefined])).toEqual([
      [1, 'delivered', items[0]!.idempotencyKey],
      [2, 'delivered', items[1]!.idempotencyKey],
    ]);
  });

  test('transactional, partial success (109001): the refused recipient is dead with its own errorcode and message, the other delivered', async () => {
    tokenEndpoint();
    const items = [send(1, 'batch'), send(2, 'batch')];
    const doc = vendorFixture('mc-transactional-partial.json', { messageKey0: items[0]!.idempotencyKey, messageKey1: items[1]!.idempotencyKey });
    nock(REST).post('/messaging/v1/email/messages').reply(doc.status, doc.body);
    const outcomes = await createTransactionalTarget(clients.clientFor).deliver(items);
    expect(outcomes[0]).toMatchObject({ id: 1, status: 'delivered' });
    expect(outcomes[1]).toMatchObject({ id: 2, status: 'dead', error: { code: 'MC_RECIPIENT_REJECTED', mcErrorCode: 1 } });
    expect((outcomes[1] as { error: Error }).error.message).toContain('Unsubscribed');
  });

  test('transactional: 109110 (messageKey already used) on a resend counts as delivered, nothing is dead-lettered', async () => {
    tokenEndpoint();
    const item = send(1, 'single');
    const doc = vendorFixture('mc-transactional-109110.json', { messageKey: item.idempotencyKey });
    nock(REST).post(`/messaging/v1/email/messages/${item.idempotencyKey}`).reply(doc.status, doc.body);
    const [outcome] = await createTransactionalTarget(clients.clientFor).deliver([item]);
    expect(outcome).toMatchObject({ id: 1, status: 'delivered', ids: { messageKey: item.idempotencyKey } });
  });
});

describe('Salesforce', () => {
  test("token (client credentials): the form carries the grant and the documented answer's access_token is returned", async () => {
    const doc = vendorFixture('sf-token.json');
    nock(SF)
      .post(
        '/services/oauth2/token',
        (form: Record<string, string>) =>
          form.grant_type === 'client_credentials' && form.client_id === CLIENT_ID && form.client_secret === CLIENT_SECRET,
      )
      .reply(doc.status, doc.body);
    const token = await clientCredentialsFlow({ base: SF, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })();
    expect(token).toBe((doc.body as { access_token: string }).access_token);
  });

  function fetcher(): RecordFetcher {
    const token = (vendorFixture('sf-token.json').body as { access_token: string }).access_token;
    const conn = connectionFor(
      accessTokenAuth(SF, () => token),
      '60.0',
      token,
    );
    return new RecordFetcher(restOf(conn), { idsPerQuery: 200, cacheTtlMs: 0, cacheMax: 0, maxAttempts: 1 });
  }

  test('query: a page with done false is followed through nextRecordsUrl until done, records without their attributes', async () => {
    const first = vendorFixture('sf-query-page1.json');
    const second = vendorFixture('sf-query-page2.json');
    nock(SF)
      .get('/services/data/v60.0/query')
      .query((q) => String(q.q).startsWith('SELECT Id, CreatedDate, LastModifiedDate, Name FROM Contact WHERE LastModifiedDate >= '))
      .reply(first.status, first.body);
    nock(SF)
      .get((first.body as { nextRecordsUrl: string }).nextRecordsUrl)
      .reply(second.status, second.body);
    const pages: Record<string, unknown>[][] = [];
    for await (const page of fetcher().modifiedSince('Contact', Date.UTC(2026, 0, 1), ['Name'])) pages.push(page);
    expect(pages.map((p) => p.map((r) => r.Id))).toEqual([['003RO0000035WQgYAM', '003RO0000035WQhYAM'], ['003RO0000035WQiYAM']]);
    expect(pages[0]![0]).toEqual({ Id: '003RO0000035WQgYAM', Name: 'John Smith' });
  });

  test("describe: the field names come from the answer's fields[].name", async () => {
    const doc = vendorFixture('sf-describe.json');
    nock(SF).get('/services/data/v60.0/sobjects/Contact/describe').reply(doc.status, doc.body);
    expect([...(await fetcher().fieldsOf('Contact'))]).toEqual(['Id', 'Email', 'LastName']);
  });
});
