/**
 * The Pub/Sub subscriber hands the pipeline exactly what the CometD subscriber does (the same
 * normalized events for the same published changes), and recovers from every stream failure
 * docs/protocols.md §2 lists: auth errors, refused replay IDs (loudly), unavailability, a stalled
 * stream (watchdog) and an undecodable payload.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { normalize } from '../src/normalize/events.ts';
import type { NormalizedEvent, RawEvent } from '../src/core/model.ts';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';
import { createCometdSubscriber } from '../subscribers/cometd.ts';
import { createPubSubSubscriber, type PubSubSubscriber, type PubSubSubscriberOptions } from '../subscribers/pubsub/index.ts';
import { replayIdBytesOf } from '../subscribers/pubsub/replay-id.ts';
import type { Subscriber } from '../subscribers/types.ts';
import { contactId, SF_TOKEN, waitFor } from './helpers/harness.ts';

const CHANNEL = '/data/ContactChangeEvent';
let sf: StreamingEmulator;
const running: Subscriber[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  await sf?.close();
});

/** A logger whose JSON lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Starts a Pub/Sub subscriber that collects what it commits. */
async function pubsub(opts: Partial<PubSubSubscriberOptions> = {}) {
  const received: RawEvent[] = [];
  const checkpoints = new Map<string, string>();
  const { logger, lines } = capturingLogger();
  let token = SF_TOKEN;
  const tokenRequests: boolean[] = [];
  const sub = createPubSubSubscriber({
    endpoint: sf.pubsub!.address,
    instanceUrl: sf.url,
    getAccessToken: async (fresh) => {
      tokenRequests.push(fresh);
      return token;
    },
    channels: [{ name: CHANNEL, replayFrom: -2 }],
    checkpoints: new Map(),
    sink: async (batch, cps) => {
      received.push(...batch);
      for (const [c, r] of cps) checkpoints.set(c, r);
    },
    gate: async () => undefined,
    logger,
    onFatal: (err) => {
      throw err;
    },
    retryBaseMs: 20,
    ...opts,
  });
  running.push(sub);
  await sub.start();
  return {
    sub,
    received,
    checkpoints,
    lines,
    tokenRequests,
    setToken: (t: string) => {
      token = t;
    },
  };
}

const create = (n: number, fields: Record<string, unknown> = { Email: `p${n}@example.com` }) =>
  sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(n)], fields });

/** The parts of a normalized event that must not depend on the transport. */
function comparable(e: NormalizedEvent) {
  const { correlationId: _c, replayId: _r, receivedAt: _t, ...rest } = e;
  return { ...rest, changedFields: [...e.changedFields].sort(), nulledFields: [...e.nulledFields].sort() };
}

test('the same published changes normalize to the same events over CometD and over the Pub/Sub API', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  const channel = { name: CHANNEL, replayFrom: -2 as const, replayFallback: -2 as const, recordIdField: 'Record_Id__c' };
  const a = contactId(1);
  const b = contactId(2);
  sf.publishChange({
    entityName: 'Contact',
    changeType: 'CREATE',
    recordIds: [a],
    fields: {
      Name: { Salutation: 'Dr.', FirstName: 'Ada', LastName: 'Lovelace' },
      Email: 'ada@example.com',
      Phone: '+1 415 555 0100',
      MailingAddress: { Street: '1 Main St', City: 'Paris' },
      HasOptedOutOfEmail: false,
      Score__c: 42.5,
      CreatedDate: '2026-04-09T20:26:27.000Z',
    },
  });
  // Compound part changed, a field and a compound part set to null, a new custom field.
  sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [a],
    fields: { Name: { LastName: 'King', FirstName: null }, Phone: null, Nickname__c: 'AL' },
  });
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [a, b, '0035g00000XyZab'], fields: { Email: 'team@example.com' } });
  sf.publishChange({ entityName: 'Contact', changeType: 'DELETE', recordIds: [b] });
  sf.publishChange({ entityName: 'Contact', changeType: 'GAP_UPDATE', recordIds: [a] });
  sf.publishChange({ entityName: 'Contact', changeType: 'GAP_OVERFLOW', recordIds: [] });
  sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [b],
    fields: { Email: 'big@example.com' },
    commitNumber: '9007199254740993',
  });
  const total = 7;

  const viaCometd: RawEvent[] = [];
  const { logger } = capturingLogger();
  const cometd = createCometdSubscriber({
    cometdUrl: sf.cometdUrl,
    getAccessToken: async () => SF_TOKEN,
    channels: [{ name: CHANNEL, replayFrom: -2 }],
    checkpoints: new Map(),
    sink: async (batch) => {
      viaCometd.push(...batch);
    },
    gate: async () => undefined,
    logger,
    onFatal: (err) => {
      throw err;
    },
  });
  running.push(cometd);
  await cometd.start();
  const p = await pubsub();
  await waitFor(() => viaCometd.length >= total && p.received.length >= total, 10_000, 'both transports');

  const normalized = (raws: RawEvent[]) => raws.flatMap((r) => normalize(r, channel).events).map(comparable);
  const fromCometd = normalized(viaCometd);
  const fromPubsub = normalized(p.received);
  expect(fromPubsub).toHaveLength(fromCometd.length);
  for (let i = 0; i < fromCometd.length; i++) {
    // commitNumber above 2^53: CometD's JSON parse rounds it, Pub/Sub keeps every digit.
    if (fromCometd[i]!.commitNumber === '9007199254740992') {
      expect(fromPubsub[i]!.commitNumber).toBe('9007199254740993');
      continue;
    }
    expect(fromPubsub[i]).toEqual(fromCometd[i]);
  }
  // The update's nulls come through both ways.
  const update = fromPubsub.find((e) => e.fields.Nickname__c === 'AL')!;
  expect(update.nulledFields).toEqual(['FirstName', 'Name.FirstName', 'Phone']);
  expect(update.fields).toMatchObject({ LastName: 'King', FirstName: null, Phone: null });
  // Replay IDs travel as base64 of the 8 bytes Salesforce sends, never as numbers.
  expect(p.received.every((r) => /^[A-Za-z0-9+/]{11}=$/.test(r.replayId))).toBe(true);
  expect(p.received.map((r) => Buffer.from(r.replayId, 'base64').readBigUInt64BE().toString())).toEqual(viaCometd.map((r) => r.replayId));
});

test('an auth error trailer gets a new token and resubscribes from the stored replay ID', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  for (let i = 0; i < 10; i++) create(i);
  const p = await pubsub();
  await waitFor(() => p.received.length >= 10, 10_000, 'first 10');
  const rotated = `${SF_TOKEN}-rotated`;
  p.setToken(rotated);
  sf.pubsub!.injectFault({ type: 'auth-error' }); // the old token is refused from now on
  sf.setAccessToken(rotated);
  for (let i = 10; i < 20; i++) create(i);
  await waitFor(() => p.received.length >= 20, 10_000, 'next 10 with the new token');
  // A last event, published after: once it is in, anything replayed twice would be in too.
  const sentinel = create(20).replayId;
  await waitFor(
    () => p.received.some((r) => Buffer.from(r.replayId, 'base64').readBigUInt64BE().toString() === String(sentinel)),
    10_000,
    'the last event',
  );
  expect(p.received).toHaveLength(21); // resumed after the stored replay ID: nothing twice
  expect(p.tokenRequests).toEqual([false, true]);
  expect(p.lines.some((l) => l.event === 'pubsub_stream_error' && l.action === 'reauthenticate')).toBe(true);
});

test('a refused replay ID falls back to EARLIEST and says loudly that data may be lost', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  const gone = create(1).replayId;
  sf.expireRetention(gone);
  for (let i = 2; i < 7; i++) create(i);
  const stored = Buffer.from(replayIdBytesOf(BigInt(gone))).toString('base64');
  const p = await pubsub({ checkpoints: new Map([[CHANNEL, stored]]) });
  await waitFor(() => p.received.length >= 5, 10_000, 'the retained 5');
  const alarm = p.lines.find((l) => l.event === 'data_loss_possible')!;
  expect(alarm).toMatchObject({
    level: 50,
    channel: CHANNEL,
    replayId: stored,
    fallback: 'EARLIEST',
    errorCode: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted',
  });
  expect((p.sub as PubSubSubscriber).streamStats()[CHANNEL]!.fallbacks).toBe(1);

  // Injected on a later reconnect too: unavailable, then the stored ID refused.
  sf.pubsub!.injectFault({ type: 'replay-corrupted' });
  sf.pubsub!.injectFault({ type: 'unavailable' });
  create(8);
  await waitFor(() => (p.sub as PubSubSubscriber).streamStats()[CHANNEL]!.fallbacks === 2, 10_000, 'second fallback');
  await waitFor(() => p.received.some((r) => (r.data as any).payload.Email === 'p8@example.com'), 10_000, 'event after the fallback');
});

test('unavailable ends the stream; the subscriber comes back with backoff and loses nothing', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  const p = await pubsub();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5; i++) create(round * 5 + i);
    await waitFor(() => p.received.length >= (round + 1) * 5, 10_000, `round ${round}`);
    sf.pubsub!.injectFault({ type: 'unavailable' });
  }
  await waitFor(() => (p.sub as PubSubSubscriber).streamStats()[CHANNEL]!.opens >= 4, 10_000, 'reopened');
  create(99);
  await waitFor(() => p.received.length >= 16, 10_000, 'the last one');
  expect(new Set(p.received.map((r) => r.replayId)).size).toBe(16);
});

test('the watchdog leaves a stream alone while keepalives come, and rebuilds it when it stalls', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: { keepaliveMs: 100 } });
  const p = await pubsub({ keepaliveTimeoutMs: 700 });
  const stats = () => (p.sub as PubSubSubscriber).streamStats()[CHANNEL]!;
  // Keepalives for about twice the watchdog's timeout (every 100 ms): time enough for it to fire wrongly.
  await waitFor(() => stats().keepalives >= 14, 10_000, '14 keepalives');
  expect(stats().watchdogRestarts).toBe(0);
  sf.pubsub!.injectFault({ type: 'stall', durationMs: 1500 });
  await waitFor(() => stats().watchdogRestarts >= 1, 5_000, 'a watchdog restart');
  expect(p.lines.some((l) => l.event === 'pubsub_stream_stale')).toBe(true);
  create(1);
  await waitFor(() => p.received.length >= 1, 10_000, 'an event after the stall');
});

test('a quiet channel keeps its checkpoint current from the keepalives', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: { keepaliveMs: 100 } });
  const p = await pubsub();
  const { replayId } = sf.publishPlatformEvent('Other__e', { Record_Id__c: contactId(1) });
  await waitFor(
    () => p.checkpoints.get(CHANNEL) !== undefined && Buffer.from(p.checkpoints.get(CHANNEL)!, 'base64').readBigUInt64BE() === BigInt(replayId),
    5_000,
    'keepalive checkpoint',
  );
  expect(p.received).toHaveLength(0);
});

test('an undecodable payload becomes a dead letter naming the reason, and the stream goes on', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  sf.pubsub!.injectFault({ type: 'corrupt-payload' });
  create(1);
  create(2);
  const p = await pubsub();
  await waitFor(() => p.received.length >= 2, 10_000, 'both events');
  const [bad, good] = p.received;
  const result = normalize(bad!, { name: CHANNEL, replayFrom: -2, replayFallback: -2, recordIdField: 'Record_Id__c' });
  expect(result.events).toHaveLength(0);
  expect(result.deadLetters[0]!.reason).toContain('undecodable Avro payload');
  expect((good!.data as any).payload.Email).toBe('p2@example.com');
});

test('events that arrive while a commit is under way share the next transaction, not one each', async () => {
  sf = await startStreamingEmulator({ accessToken: SF_TOKEN, pubsub: true });
  let release!: () => void;
  const slowCommit = new Promise<void>((resolve) => {
    release = resolve;
  });
  const batches: number[] = [];
  const p = await pubsub({
    sink: async (batch) => {
      batches.push(batch.length);
      if (batches.length === 1) await slowCommit;
    },
  });
  const stats = () => (p.sub as PubSubSubscriber).streamStats()[CHANNEL]!;
  try {
    create(0);
    await waitFor(() => batches.length === 1, 5_000, 'the first commit');
    // One response each (publishes in one turn would share a response), while the first commit is held.
    for (let i = 1; i <= 30; i++) {
      create(i);
      await waitFor(() => sf.pubsub!.stats().delivered >= i + 1, 5_000, `event ${i} sent`);
    }
    await waitFor(() => stats().responses - stats().keepalives >= 31, 5_000, '31 responses received');
  } finally {
    release();
  }
  await waitFor(() => batches.reduce((a, b) => a + b, 0) >= 31, 5_000, 'all 31 committed');
  expect(batches).toEqual([1, 30]);
});
