/**
 * The Pub/Sub emulator behaves as Salesforce's Pub/Sub API (docs/protocols.md §2): a client we did
 * not write (salesforce-pubsub-api-client) subscribes over TLS and decodes our Avro and
 * bitmaps; flow control never sends more than was requested; idle streams get keepalives with
 * the latest replay ID; replay presets and error trailers are Salesforce's.
 */
import * as grpc from '@grpc/grpc-js';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';
import { pubSubPackage, REPLAY_PRESET, type FetchRequest, type FetchResponse, type PubSubClient } from '../subscribers/pubsub/proto.ts';
import { PubSubErrorCode } from '../src/core/errors.ts';
import { replayIdBytesOf } from '../subscribers/pubsub/replay-id.ts';
import { contactId, SF_TOKEN, waitFor } from './helpers/harness.ts';

const { default: PubSubApiClient } = await import('salesforce-pubsub-api-client');

const ORG_ID = SF_TOKEN.split('!')[0]!;
let sf: StreamingEmulator;
const open: { close(): void }[] = [];

afterEach(async () => {
  // The emulator first: the public client's close() detaches its stream listeners before
  // closing the channel, and the stream's last error would then go unhandled.
  await sf?.close();
  for (const c of open.splice(0)) c.close();
});

function metadata(token = SF_TOKEN): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('accesstoken', token);
  md.set('instanceurl', sf.url);
  md.set('tenantid', ORG_ID);
  return md;
}

function client(): PubSubClient {
  const { client: Client } = pubSubPackage();
  const c = new Client(sf.pubsub!.address, grpc.credentials.createInsecure());
  open.push(c);
  return c;
}

/** A raw Subscribe call that records every response and the final error. */
function subscribe(first: FetchRequest, md = metadata()) {
  const call = client().Subscribe(md);
  const responses: FetchResponse[] = [];
  const result = { responses, error: undefined as grpc.ServiceError | undefined, call };
  call.on('data', (r: FetchResponse) => responses.push(r));
  call.on('error', (e: grpc.ServiceError) => {
    result.error = e;
  });
  call.write(first);
  return result;
}

const eventsIn = (rs: FetchResponse[]) => rs.reduce((n, r) => n + (r.events?.length ?? 0), 0);

test('a client we did not write (salesforce-pubsub-api-client, over TLS) receives change and platform events with decoded bitmaps', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: { tls: true } });
  const id = contactId(1);
  const created = sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [id],
    fields: { Name: { FirstName: 'Jane', LastName: 'Doe' }, Email: 'jane@example.com' },
  });
  const updated = sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [id],
    fields: { Name: { LastName: 'Roe' }, Phone: null, Email: 'roe@example.com' },
  });
  sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: id, Order_Number__c: 'ORD-1' });

  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const psc = new PubSubApiClient(
    {
      authType: 'user-supplied',
      accessToken: SF_TOKEN,
      instanceUrl: 'https://emulator.my.salesforce.com',
      organizationId: ORG_ID,
      pubSubEndpoint: sf.pubsub!.address,
      rejectUnauthorizedSsl: false,
    },
    logger,
  );
  await psc.connect();
  open.push({
    close() {
      // Its close() detaches the stream listeners first; wait for the streams to end (the
      // emulator closes first) so their last status has a listener.
      void waitFor(() => ended.size === 2, 5_000, 'client streams closed').finally(() => psc.close());
    },
  });
  const received: { topic: string; replayId: number; payload: any; id: string }[] = [];
  const ended = new Set<string>();
  const callback = (sub: { topicName: string }, type: string, data: any) => {
    if (type === 'event') received.push({ topic: sub.topicName, replayId: data.replayId, payload: data.payload, id: data.id });
    if (type === 'error' || type === 'end') ended.add(sub.topicName);
  };
  psc.subscribeFromEarliestEvent('/data/ContactChangeEvent', callback, 2);
  psc.subscribeFromEarliestEvent('/event/Order_Confirmed__e', callback, 1);
  await waitFor(() => received.length >= 3, 15_000, 'three events through the public client');

  const changes = received.filter((e) => e.topic === '/data/ContactChangeEvent');
  expect(changes.map((e) => e.replayId)).toEqual([created.replayId, updated.replayId]);
  expect(changes[0]!.payload.Email).toBe('jane@example.com');
  expect(changes[0]!.payload.ChangeEventHeader).toMatchObject({ entityName: 'Contact', changeType: 'CREATE', recordIds: [id] });
  const header = changes[1]!.payload.ChangeEventHeader;
  expect([...header.changedFields].sort()).toEqual(['Email', 'LastModifiedDate', 'Name.LastName', 'Phone']);
  expect(header.nulledFields).toEqual(['Phone']);
  expect(typeof changes[1]!.payload.LastModifiedDate).toBe('number'); // epoch ms on Pub/Sub, not CometD's ISO text
  const platform = received.find((e) => e.topic === '/event/Order_Confirmed__e')!;
  expect(platform.payload).toMatchObject({ Contact_Id__c: id, Order_Number__c: 'ORD-1' });
  expect(platform.id).toMatch(/^[0-9a-f-]{36}$/);
});

test('flow control: never more events than requested, and more only after the next FetchRequest', async () => {
  // Keepalives every 100 ms: one after the last event shows the server had its chance to send
  // more and did not (a condition to wait on instead of a fixed sleep).
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: { keepaliveMs: 100 } });
  sf.generateContactChanges(250);
  const s = subscribe({ topicName: '/data/ContactChangeEvent', replayPreset: REPLAY_PRESET.EARLIEST, numRequested: 40 });
  const keepaliveAfterEvents = () =>
    s.responses.findLastIndex((r) => (r.events?.length ?? 0) === 0) > s.responses.findLastIndex((r) => (r.events?.length ?? 0) > 0);
  await waitFor(() => eventsIn(s.responses) >= 40, 10_000, 'the first 40');
  await waitFor(keepaliveAfterEvents, 10_000, 'a keepalive after the first 40');
  expect(eventsIn(s.responses)).toBe(40);
  expect(s.responses.at(-1)!.pendingNumRequested).toBe(0);
  s.call.write({ numRequested: 500 }); // more than 100 outstanding is not granted
  await waitFor(() => eventsIn(s.responses) >= 140, 10_000, '100 more');
  await waitFor(keepaliveAfterEvents, 10_000, 'a keepalive after the next 100');
  expect(eventsIn(s.responses)).toBe(140);
  expect(sf.pubsub!.stats().maxOutstanding).toBe(100);
  // Replay IDs rise and the response's latest_replay_id is its last event's.
  const ids = s.responses.flatMap((r) => (r.events ?? []).map((e) => e.replayId.readBigUInt64BE()));
  expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  expect(s.responses[0]!.latestReplayId.equals(s.responses[0]!.events.at(-1)!.replayId)).toBe(true);
});

test('an idle stream gets keepalives carrying the latest replay ID, and CUSTOM resumes right after a replay ID', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: { keepaliveMs: 150 } });
  const ids = Array.from(
    { length: 5 },
    (_, i) =>
      sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `k${i}@example.com` } }).replayId,
  );
  const s = subscribe({ topicName: '/data/ContactChangeEvent', replayPreset: REPLAY_PRESET.EARLIEST, numRequested: 100 });
  await waitFor(() => s.responses.some((r) => (r.events?.length ?? 0) === 0), 5_000, 'a keepalive');
  const keepalive = s.responses.find((r) => (r.events?.length ?? 0) === 0)!;
  expect(keepalive.latestReplayId.readBigUInt64BE()).toBe(BigInt(ids[4]!));

  const custom = subscribe({
    topicName: '/data/ContactChangeEvent',
    replayPreset: REPLAY_PRESET.CUSTOM,
    replayId: replayIdBytesOf(BigInt(ids[2]!)),
    numRequested: 100,
  });
  await waitFor(() => eventsIn(custom.responses) >= 2, 5_000, 'events after the third');
  expect(custom.responses.flatMap((r) => r.events.map((e) => Number(e.replayId.readBigUInt64BE())))).toEqual([ids[3], ids[4]]);
  const latest = subscribe({ topicName: '/data/ContactChangeEvent', replayPreset: REPLAY_PRESET.LATEST, numRequested: 100 });
  await waitFor(() => sf.pubsub!.stats().subscribes >= 3, 5_000, 'third subscription');
  const fresh = sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [contactId(9)],
    fields: { Email: 'n@example.com' },
  }).replayId;
  await waitFor(() => eventsIn(latest.responses) >= 1, 5_000, 'the new event');
  expect(latest.responses.flatMap((r) => r.events.map((e) => Number(e.replayId.readBigUInt64BE())))).toEqual([fresh]);
});

test('error trailers: an unknown replay ID, a refused token, and injected auth and availability errors', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  const { replayId } = sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [contactId(1)],
    fields: { Email: 'a@example.com' },
  });
  sf.expireRetention(replayId);
  const expired = subscribe({
    topicName: '/data/ContactChangeEvent',
    replayPreset: REPLAY_PRESET.CUSTOM,
    replayId: replayIdBytesOf(BigInt(replayId)),
    numRequested: 10,
  });
  const badToken = subscribe({ topicName: '/data/ContactChangeEvent', numRequested: 10 }, metadata('00Dxx0000001gPF!wrong'));
  await waitFor(() => expired.error !== undefined && badToken.error !== undefined, 5_000, 'both errors');
  expect(expired.error!.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(expired.error!.metadata.get('error-code')).toEqual([PubSubErrorCode.replayCorrupted]);
  expect(badToken.error!.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(badToken.error!.metadata.get('error-code')).toEqual([PubSubErrorCode.authError]);

  const live = subscribe({ topicName: '/data/ContactChangeEvent', numRequested: 10 });
  const live2 = subscribe({ topicName: '/data/ContactChangeEvent', numRequested: 10 });
  await waitFor(() => sf.pubsub!.stats().streams === 2, 5_000, 'two streams');
  sf.pubsub!.injectFault({ type: 'unavailable' });
  await waitFor(() => live.error !== undefined && live2.error !== undefined, 5_000, 'unavailable');
  expect(live.error!.metadata.get('error-code')).toEqual([PubSubErrorCode.unavailable]);

  const again = subscribe({ topicName: '/data/ContactChangeEvent', numRequested: 10 });
  await waitFor(() => sf.pubsub!.stats().streams === 1, 5_000, 'a new stream');
  sf.pubsub!.injectFault({ type: 'auth-error' });
  await waitFor(() => again.error !== undefined, 5_000, 'auth error');
  expect(again.error!.code).toBe(grpc.status.UNAUTHENTICATED);
  // The token stays refused until a new one is issued, on both transports.
  const refused = subscribe({ topicName: '/data/ContactChangeEvent', numRequested: 10 });
  await waitFor(() => refused.error !== undefined, 5_000, 'refused');
  sf.setAccessToken(SF_TOKEN);
  const accepted = subscribe({ topicName: '/data/ContactChangeEvent', replayPreset: REPLAY_PRESET.EARLIEST, numRequested: 10 });
  sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(2)], fields: { Email: 'b@example.com' } });
  await waitFor(() => eventsIn(accepted.responses) >= 1, 5_000, 'events after the new token');
  expect(accepted.error).toBeUndefined();
});
