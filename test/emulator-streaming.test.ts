/**
 * The Streaming API emulator speaks Bayeux exactly as docs/protocols.md §1 describes Salesforce:
 * these tests drive it with raw HTTP so every reply text, cookie and advice is checked as sent.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { isValidId } from '../src/normalize/ids.ts';
import { waitFor } from './helpers/harness.ts';
import {
  startStreamingEmulator,
  STREAMING_ERRORS as ERR,
  type StreamingEmulator,
  type StreamingEmulatorOptions,
} from '../src/emulators/streaming/index.ts';

const TOKEN = '00D5g000004Emu!AQcAQH0dMHZfz972Szmpkb58urFRkgeBGsxL';
const CONTACT = '/data/ContactChangeEvent';
type Msg = Record<string, any>;

let emulators: StreamingEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

async function start(opts: Partial<StreamingEmulatorOptions> = {}): Promise<StreamingEmulator> {
  const emu = await startStreamingEmulator({ accessToken: TOKEN, connectTimeoutMs: 400, ...opts });
  emulators.push(emu);
  return emu;
}

/** A hand-driven Bayeux client: keeps cookies like a browser and exposes every reply. */
class Probe {
  readonly emu: StreamingEmulator;
  cookies = new Map<string, string>();
  clientId = '';
  auth: string | undefined = `Bearer ${TOKEN}`;
  sendCookies = true;
  constructor(emu: StreamingEmulator) {
    this.emu = emu;
  }

  async post(messages: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Msg[]; setCookie: string[] }> {
    const h: Record<string, string> = { 'content-type': 'application/json', ...headers };
    if (this.auth !== undefined) h.authorization = this.auth;
    if (this.sendCookies && this.cookies.size > 0) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.emu.cometdUrl, { method: 'POST', headers: h, body: JSON.stringify(messages) });
    const setCookie = res.headers.getSetCookie();
    for (const c of setCookie) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const text = await res.text();
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : [text], setCookie };
  }

  async handshake(ext: unknown = { replay: true }): Promise<Msg> {
    const { body } = await this.post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1', ext }]);
    if (body[0]!.successful) this.clientId = body[0]!.clientId;
    return body[0]!;
  }

  async subscribe(channel: string | string[], replay?: Record<string, unknown>): Promise<Msg> {
    const msg: Msg = { channel: '/meta/subscribe', clientId: this.clientId, subscription: channel, id: 's' };
    if (replay) msg.ext = { replay };
    return (await this.post([msg])).body[0]!;
  }

  /** One /meta/connect; returns the data messages and the connect reply. */
  async connect(advice?: Msg): Promise<{ events: Msg[]; reply: Msg }> {
    const msg: Msg = { channel: '/meta/connect', clientId: this.clientId, connectionType: 'long-polling', id: 'c' };
    if (advice) msg.advice = advice;
    const { body } = await this.post([msg]);
    return { events: body.filter((m) => m.data !== undefined), reply: body.find((m) => m.channel === '/meta/connect')! };
  }

  /** Handshake, first connect, subscribe: ready to receive. */
  async ready(channel: string | string[], replay?: Record<string, unknown>): Promise<void> {
    await this.handshake();
    await this.connect();
    const reply = await this.subscribe(channel, replay);
    if (!reply.successful) throw new Error(`subscribe failed: ${reply.error}`);
  }

  /** Connects until a response brings no events; returns everything received. */
  async drain(): Promise<Msg[]> {
    const all: Msg[] = [];
    for (;;) {
      const { events } = await this.connect({ timeout: 0 });
      if (events.length === 0) return all;
      all.push(...events);
    }
  }
}

function contactUpdate(n: number) {
  return { entityName: 'Contact', changeType: 'UPDATE' as const, recordIds: ['0035g00000XyZabAAB'], fields: { Email: `c${n}@example.com` } };
}

describe('handshake, auth and cookies', () => {
  test('a handshake offers long-polling only, the replay extension, connect advice and both Salesforce cookies', async () => {
    // Rule: the handshake reply carries what clients rely on (clientId, advice, ext.replay, cookies).
    const emu = await start({ connectTimeoutMs: 110_000 });
    const probe = new Probe(emu);
    const { body, setCookie } = await probe.post([
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling', 'websocket'], id: '1' },
    ]);
    expect(body[0]).toMatchObject({
      channel: '/meta/handshake',
      successful: true,
      version: '1.0',
      supportedConnectionTypes: ['long-polling'],
      id: '1',
      ext: { replay: true },
      advice: { timeout: 110_000, interval: 0, reconnect: 'retry' },
    });
    expect(body[0]!.clientId).toMatch(/^[0-9a-z]{20,}$/);
    expect(setCookie.map((c) => c.split('=')[0]).sort()).toEqual(['BAYEUX_BROWSER', 'sfdc-stream']);
  });

  test('Bearer and OAuth both authenticate; a wrong token gets 403::Handshake denied with the 401 reason nested', async () => {
    // Rule: Authorization is `Bearer <t>` or `OAuth <t>`; a refused handshake says why in ext.sfdc.failureReason.
    const emu = await start();
    const probe = new Probe(emu);
    expect((await probe.handshake()).successful).toBe(true);
    probe.auth = `OAuth ${TOKEN}`;
    expect((await probe.handshake()).successful).toBe(true);
    probe.auth = 'Bearer wrong';
    expect(await probe.handshake()).toMatchObject({
      successful: false,
      error: '403::Handshake denied',
      ext: { sfdc: { failureReason: '401::Authentication invalid' } },
      advice: { reconnect: 'none' },
    });
    probe.auth = undefined;
    expect((await probe.handshake()).ext).toEqual({ sfdc: { failureReason: '401::Request requires authentication' } });
  });

  test('a connect with a bad token gets 401::Authentication invalid and reconnect none', async () => {
    // Rule: Salesforce checks the token on every request, not only on the handshake.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.handshake();
    probe.auth = 'Bearer revoked';
    const { reply } = await probe.connect();
    expect(reply).toMatchObject({ successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none' } });
  });

  test('requests without the handshake cookies get 403::Unknown client with reconnect handshake', async () => {
    // Rule: a client must keep and send back BAYEUX_BROWSER and sfdc-stream.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.handshake();
    probe.sendCookies = false;
    const { reply } = await probe.connect();
    expect(reply).toMatchObject({ successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake' } });
    expect(await probe.subscribe(CONTACT, { [CONTACT]: -1 })).toMatchObject({ error: '403::Unknown client' });
    // A cookie from another server (another emulator) is as good as none.
    probe.sendCookies = true;
    probe.cookies.set('sfdc-stream', 'from-another-node');
    expect((await probe.connect()).reply.error).toBe('403::Unknown client');
  });

  test('only long-polling is accepted, in the handshake and in connects', async () => {
    // Rule: Salesforce has no websocket transport: `400::Invalid connection type`.
    const emu = await start();
    const probe = new Probe(emu);
    const { body } = await probe.post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] }]);
    expect(body[0]).toMatchObject({ successful: false, error: '400::Invalid connection type {websocket}' });
    await probe.handshake();
    const connect = await probe.post([{ channel: '/meta/connect', clientId: probe.clientId, connectionType: 'websocket' }]);
    expect(connect.body[0]!.error).toBe('400::Invalid connection type {websocket}');
  });

  test('a request body over 32,768 bytes gets HTTP 413', async () => {
    // Rule: Salesforce caps a Streaming API request at 32,768 bytes.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.handshake();
    const big = [{ channel: '/meta/subscribe', clientId: probe.clientId, subscription: CONTACT, ext: { pad: 'x'.repeat(33_000) } }];
    expect((await probe.post(big)).status).toBe(413);
    const fits = [{ channel: '/meta/subscribe', clientId: probe.clientId, subscription: CONTACT, ext: { pad: 'x'.repeat(32_000) } }];
    expect((await probe.post(fits)).status).toBe(200);
  });

  test('non-JSON bodies and missing API versions are refused', async () => {
    // Rule: JSON bodies only, at /cometd/<version>.
    const emu = await start();
    const res = await fetch(emu.cometdUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` },
      body: '[]',
    });
    expect(res.status).toBe(415);
    const noVersion = await fetch(`${emu.url}/cometd/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    expect(noVersion.status).toBe(400);
    expect(await noVersion.text()).toContain('API version in the URI is mandatory');
  });
});

describe('replay', () => {
  test('-1 delivers only events published after the subscription', async () => {
    // Rule: replay -1 means new events only.
    const emu = await start();
    emu.publishChange(contactUpdate(1));
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const { replayId } = emu.publishChange(contactUpdate(2));
    const events = await probe.drain();
    expect(events.map((e) => e.data.event.replayId)).toEqual([replayId]);
  });

  test('-2 delivers every retained event, then new ones', async () => {
    // Rule: replay -2 means everything retained, then new events.
    const emu = await start();
    const ids = [1, 2, 3].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -2 });
    ids.push(emu.publishChange(contactUpdate(4)).replayId);
    expect((await probe.drain()).map((e) => e.data.event.replayId)).toEqual(ids);
  });

  test('N delivers exactly the events after N', async () => {
    // Rule: replay N resumes right after the stored replay ID N.
    const emu = await start();
    const ids = [1, 2, 3, 4, 5].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: ids[1] });
    expect((await probe.drain()).map((e) => e.data.event.replayId)).toEqual(ids.slice(2));
  });

  test('replay IDs are one org-wide rising counter with gaps, never contiguous', async () => {
    // Rule: replay IDs are opaque; a client must never compute one from another.
    const emu = await start();
    const ids: number[] = [];
    for (let n = 0; n < 60; n++) {
      ids.push(n % 3 === 0 ? emu.publishPlatformEvent('Order_Confirmed__e', { n }).replayId : emu.publishChange(contactUpdate(n)).replayId);
    }
    const steps = ids.slice(1).map((id, i) => id - ids[i]!);
    expect(steps.every((s) => s >= 1)).toBe(true);
    expect(steps.some((s) => s > 1)).toBe(true);
  });

  test("a replay map without the subscribed channel is refused with Salesforce's message", async () => {
    // Rule: the replay map must hold every subscribed channel.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.handshake();
    const reply = await probe.subscribe(CONTACT, { '/event/Other__e': -1 });
    expect(reply).toMatchObject({ successful: false, subscription: CONTACT });
    expect(reply.error).toBe(`400::The replayId for channel {${CONTACT}} wasn't found using the provided replay ID map`);
  });

  test('a replay ID that was never issued or has expired is refused with the invalid-replay message', async () => {
    // Rule: an N outside retention fails the subscribe with successful false and the documented text.
    const emu = await start();
    const ids = [1, 2, 3].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    const probe = new Probe(emu);
    await probe.handshake();
    const future = ids[2]! + 1000;
    expect(await probe.subscribe(CONTACT, { [CONTACT]: future })).toMatchObject({
      successful: false,
      error: `400::The replayId {${future}} you provided was invalid. Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`,
    });
    expect((await probe.subscribe(CONTACT, { [CONTACT]: ids[0] })).successful).toBe(true);
    emu.expireRetention(ids[0]!);
    expect((await probe.subscribe(CONTACT, { [CONTACT]: ids[0] })).error).toBe(ERR.replayInvalid(ids[0]));
    expect((await probe.subscribe(CONTACT, { [CONTACT]: -3 })).error).toBe(ERR.replayInvalid(-3));
    expect((await probe.subscribe(CONTACT, { [CONTACT]: ids[1] })).successful).toBe(true);
  });

  test('events older than the retention period are no longer replayed', async () => {
    // Rule: nothing is guaranteed beyond retention (72 h on Salesforce; shortened here).
    const emu = await start({ retentionMs: 50 });
    const old = emu.publishChange(contactUpdate(1)).replayId;
    await new Promise((r) => setTimeout(r, 80));
    const recent = emu.publishChange(contactUpdate(2)).replayId;
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -2 });
    expect((await probe.drain()).map((e) => e.data.event.replayId)).toEqual([recent]);
    expect((await probe.subscribe(CONTACT, { [CONTACT]: old })).error).toBe(ERR.replayInvalid(old));
  });

  test('without a replay map a subscription gets new events only', async () => {
    // Rule: without the replay extension Salesforce behaves as -1.
    const emu = await start();
    emu.publishChange(contactUpdate(1));
    const probe = new Probe(emu);
    await probe.ready(CONTACT);
    const { replayId } = emu.publishChange(contactUpdate(2));
    expect((await probe.drain()).map((e) => e.data.event.replayId)).toEqual([replayId]);
  });

  test('a re-handshake starts with no subscriptions: the client must subscribe again', async () => {
    // Rule: after any re-handshake the old subscriptions are gone.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    await probe.handshake();
    await probe.connect();
    emu.publishChange(contactUpdate(1));
    expect(await probe.drain()).toEqual([]);
    const resumed = await probe.subscribe(CONTACT, { [CONTACT]: -2 });
    expect(resumed.successful).toBe(true);
    expect(await probe.drain()).toHaveLength(1);
  });
});

describe('delivery', () => {
  test('/data/ChangeEvents carries every change event, with the same replay ID as the entity channel', async () => {
    // Rule: /data/ChangeEvents receives the changes of all selected objects; custom objects use __ChangeEvent.
    const emu = await start();
    const all = new Probe(emu);
    await all.ready('/data/ChangeEvents', { '/data/ChangeEvents': -1 });
    const custom = new Probe(emu);
    await custom.ready('/data/Invoice__ChangeEvent', { '/data/Invoice__ChangeEvent': -1 });
    const a = emu.publishChange(contactUpdate(1)).replayId;
    const b = emu.publishChange({
      entityName: 'Invoice__c',
      changeType: 'CREATE',
      recordIds: ['a015g00000AbCdEAAV'],
      fields: { Total__c: 10 },
    }).replayId;
    emu.publishPlatformEvent('Order_Confirmed__e', { n: 1 });
    const got = await all.drain();
    expect(got.map((e) => [e.channel, e.data.event.replayId])).toEqual([
      ['/data/ChangeEvents', a],
      ['/data/ChangeEvents', b],
    ]);
    expect((await custom.drain()).map((e) => e.data.payload.ChangeEventHeader.entityName)).toEqual(['Invoice__c']);
  });

  test('a connect response carries a batch of many events, at most maxEventsPerResponse', async () => {
    // Rule: one /meta/connect response can carry many events; the server caps the batch.
    const emu = await start({ maxEventsPerResponse: 2000 });
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const { firstReplayId, lastReplayId } = emu.generateContactChanges(5000);
    const sizes: number[] = [];
    const ids: number[] = [];
    for (;;) {
      const { events } = await probe.connect({ timeout: 0 });
      if (events.length === 0) break;
      sizes.push(events.length);
      ids.push(...events.map((e) => e.data.event.replayId));
    }
    expect(sizes).toEqual([2000, 2000, 1000]);
    expect(ids[0]).toBe(firstReplayId);
    expect(ids.at(-1)).toBe(lastReplayId);
    expect(emu.stats()).toMatchObject({ published: 5000, delivered: 5000 });
  });

  test('a held connect is answered as soon as an event is published', async () => {
    // Rule: the server holds /meta/connect until events are pending.
    const emu = await start({ connectTimeoutMs: 10_000 });
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const started = Date.now();
    const pending = probe.connect();
    setTimeout(() => emu.publishChange(contactUpdate(1)), 50);
    const { events, reply } = await pending;
    expect(events).toHaveLength(1);
    expect(reply.successful).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('with nothing pending a connect is held for connectTimeoutMs, and a second connect releases the first', async () => {
    // Rule: a connect is held up to advice.timeout; a client has one held connect at a time.
    const emu = await start({ connectTimeoutMs: 300 });
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    let started = Date.now();
    expect((await probe.connect()).reply.successful).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await emu.close();
    const long = await start({ connectTimeoutMs: 10_000 });
    const p2 = new Probe(long);
    await p2.ready(CONTACT, { [CONTACT]: -1 });
    started = Date.now();
    const connects = long.stats().connects;
    const first = p2.connect();
    await waitFor(() => long.stats().connects > connects, 5_000, 'the first connect held');
    const second = p2.connect();
    expect((await first).reply.successful).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    long.publishChange(contactUpdate(1));
    expect((await second).events).toHaveLength(1);
  });

  test('a client that does not reconnect within clientTimeoutMs is dropped', async () => {
    // Rule: the client must reconnect within 40 s of a response or the server forgets it.
    const emu = await start({ clientTimeoutMs: 100 });
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const readyAt = Date.now();
    await waitFor(() => emu.stats().clients === 0, 5_000, 'the client dropped');
    expect(Date.now() - readyAt).toBeGreaterThanOrEqual(90);
    expect((await probe.connect()).reply).toMatchObject({ error: '403::Unknown client', advice: { reconnect: 'handshake' } });
  });

  test('unsubscribe stops delivery and disconnect forgets the client', async () => {
    // Rule: /meta/unsubscribe and /meta/disconnect work as Bayeux defines them.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const { body } = await probe.post([{ channel: '/meta/unsubscribe', clientId: probe.clientId, subscription: CONTACT }]);
    expect(body[0]).toMatchObject({ successful: true, subscription: CONTACT });
    emu.publishChange(contactUpdate(1));
    expect(await probe.drain()).toEqual([]);
    const bye = await probe.post([{ channel: '/meta/disconnect', clientId: probe.clientId }]);
    expect(bye.body[0]!.successful).toBe(true);
    expect(emu.stats().clients).toBe(0);
  });
});

describe('payloads', () => {
  test('a change event has the CometD shape: schema, event.replayId, header, nested compound fields, no nulls', async () => {
    // Rule: payloads match docs/protocols.md §1; null and unchanged fields are left out; changedFields names parts.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const { replayId } = emu.publishChange({
      entityName: 'Contact',
      changeType: 'UPDATE',
      recordIds: ['0035g00000XyZabAAB'],
      fields: { Email: 'jane@example.com', Name: { LastName: 'Doe' }, Phone: null },
      changeOrigin: 'com/salesforce/api/soap/62.0;client=SomeApp',
    });
    const [event] = await probe.drain();
    expect(event!.channel).toBe(CONTACT);
    expect(event!.data.schema).toMatch(/^[\w-]{22}$/);
    expect(event!.data.event).toEqual({ replayId });
    const header = event!.data.payload.ChangeEventHeader;
    expect(header).toMatchObject({
      entityName: 'Contact',
      recordIds: ['0035g00000XyZabAAB'],
      changeType: 'UPDATE',
      sequenceNumber: 1,
      changeOrigin: 'com/salesforce/api/soap/62.0;client=SomeApp',
      changedFields: ['Email', 'Name.LastName', 'Phone', 'LastModifiedDate'],
    });
    expect(header.transactionKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isInteger(header.commitNumber) && Number.isInteger(header.commitTimestamp)).toBe(true);
    expect(isValidId(header.commitUser)).toBe(true);
    expect(event!.data.payload).toMatchObject({ Email: 'jane@example.com', Name: { LastName: 'Doe' } });
    expect('Phone' in event!.data.payload).toBe(false);
  });

  test('a commit number above 2^53 is sent as an exact integer literal', async () => {
    // Rule: commitNumber can exceed Number.MAX_SAFE_INTEGER, so clients must not do arithmetic on it.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    emu.publishChange({ ...contactUpdate(1), commitNumber: '18446744073709551557' });
    const res = await fetch(emu.cometdUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${TOKEN}`,
        cookie: [...probe.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      },
      body: JSON.stringify([{ channel: '/meta/connect', clientId: probe.clientId, connectionType: 'long-polling' }]),
    });
    expect(await res.text()).toContain('"commitNumber":18446744073709551557,');
  });

  test('gap and delete events carry the header and record IDs but no field data', async () => {
    // Rule: GAP_* and DELETE events have no fields; GAP_OVERFLOW has no record IDs.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    emu.publishChange({ entityName: 'Contact', changeType: 'GAP_UPDATE', recordIds: ['0035g00000XyZabAAB'], fields: { Email: 'x@y.z' } });
    emu.publishChange({ entityName: 'Contact', changeType: 'GAP_OVERFLOW', recordIds: [] });
    const [gap, overflow] = await probe.drain();
    expect(Object.keys(gap!.data.payload)).toEqual(['ChangeEventHeader']);
    expect(gap!.data.payload.ChangeEventHeader.changedFields).toEqual([]);
    expect(overflow!.data.payload.ChangeEventHeader).toMatchObject({ changeType: 'GAP_OVERFLOW', recordIds: [] });
  });

  test('a platform event has schema, event {EventUuid, replayId} and its payload with CreatedDate and CreatedById', async () => {
    // Rule: platform events are identified by EventUuid (API 52.0+) and arrive on /event/<Name>.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready('/event/Order_Confirmed__e', { '/event/Order_Confirmed__e': -1 });
    const { replayId, eventUuid } = emu.publishPlatformEvent('Order_Confirmed__e', { Order_Number__c: 'ORD-9988' });
    const [event] = await probe.drain();
    expect(event!.data.event).toEqual({ EventUuid: eventUuid, replayId });
    expect(event!.data.payload).toMatchObject({ Order_Number__c: 'ORD-9988', CreatedById: expect.any(String) });
    expect(new Date(event!.data.payload.CreatedDate).toISOString()).toBe(event!.data.payload.CreatedDate);
  });

  test('raw publishing delivers data unchanged, however malformed', async () => {
    // Rule: bad-input tests need events the emulator does not repair.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    emu.publishRaw(CONTACT, { payload: { ChangeEventHeader: { recordIds: ['nope'] } } });
    emu.publishRaw(CONTACT, 'just a string');
    expect((await probe.drain()).map((e) => e.data)).toEqual([{ payload: { ChangeEventHeader: { recordIds: ['nope'] } } }, 'just a string']);
  });

  test('generated contact changes have valid 18-character IDs and update contacts created before', async () => {
    // Rule: demo and benchmark data are realistic: valid IDs, CREATE before UPDATE of a record.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const { firstReplayId, lastReplayId } = emu.generateContactChanges(300, { seed: 7 });
    const events = await probe.drain();
    expect(events).toHaveLength(300);
    expect(events[0]!.data.event.replayId).toBe(firstReplayId);
    expect(events.at(-1)!.data.event.replayId).toBe(lastReplayId);
    const created = new Set<string>();
    for (const e of events) {
      const h = e.data.payload.ChangeEventHeader;
      expect(isValidId(h.recordIds[0]) && h.recordIds[0].startsWith('003')).toBe(true);
      if (h.changeType === 'CREATE') created.add(h.recordIds[0]);
      else {
        expect(h.changeType).toBe('UPDATE');
        expect(created.has(h.recordIds[0])).toBe(true);
        expect(h.changedFields.length).toBeGreaterThan(0);
      }
    }
    expect(created.size).toBeGreaterThan(30);
  });
});

describe('faults', () => {
  test('connect-401 answers the held connect with 401 and revokes the token until a new one is set', async () => {
    // Rule: `401::Authentication invalid` with reconnect none means: new token, handshake, resubscribe.
    const emu = await start({ connectTimeoutMs: 10_000 });
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const connects = emu.stats().connects;
    const held = probe.connect();
    await waitFor(() => emu.stats().connects > connects, 5_000, 'the connect held');
    emu.injectFault({ type: 'connect-401' });
    expect((await held).reply).toMatchObject({ successful: false, error: ERR.authInvalid, advice: { reconnect: 'none' } });
    expect(await probe.handshake()).toMatchObject({ error: ERR.handshakeDenied, ext: { sfdc: { failureReason: ERR.authInvalid } } });
    emu.setAccessToken('fresh-token');
    probe.auth = 'Bearer fresh-token';
    expect((await probe.handshake()).successful).toBe(true);
  });

  test("handshake-denied, daily-limit and concurrent-limit refuse the next handshake with Salesforce's texts", async () => {
    // Rule: each refusal has its own wording, which decides what the subscriber does.
    const emu = await start();
    const probe = new Probe(emu);
    emu.injectFault({ type: 'handshake-denied' });
    expect(await probe.handshake()).toMatchObject({
      error: '403::Handshake denied',
      ext: { sfdc: { failureReason: '401::Authentication invalid' } },
    });
    emu.injectFault({ type: 'daily-limit' });
    expect((await probe.handshake()).error).toBe('403::Organization total events daily limit exceeded');
    emu.injectFault({ type: 'concurrent-limit', count: 2 });
    expect((await probe.handshake()).error).toBe('403::Organization concurrent user limit exceeded');
    expect((await probe.handshake()).error).toBe('403::Organization concurrent user limit exceeded');
    expect((await probe.handshake()).successful).toBe(true);
  });

  test('server-busy-503 puts a 503 reason in ext.sfdc.failureReason of the handshake and the connect', async () => {
    // Rule: `503::…` in failureReason means retry with backoff.
    const emu = await start();
    const probe = new Probe(emu);
    emu.injectFault({ type: 'server-busy-503', count: 2 });
    expect(await probe.handshake()).toMatchObject({
      successful: false,
      error: '403::Handshake denied',
      ext: { sfdc: { failureReason: ERR.serverBusy } },
    });
    expect((await probe.handshake()).successful).toBe(false);
    await probe.handshake();
    emu.injectFault({ type: 'server-busy-503', on: 'connect' });
    const { reply } = await probe.connect();
    expect(reply.ext.sfdc.failureReason).toMatch(/^503::/);
    expect(reply.advice.reconnect).toBe('retry');
    expect((await probe.connect()).reply.successful).toBe(true);
  });

  test('unknown-client forgets every client, answering held connects with 403::Unknown client', async () => {
    // Rule: after the server loses a client, the client must handshake and resubscribe from stored IDs.
    const emu = await start({ connectTimeoutMs: 10_000 });
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    const connects = emu.stats().connects;
    const held = probe.connect();
    await waitFor(() => emu.stats().connects > connects, 5_000, 'the connect held');
    emu.injectFault({ type: 'unknown-client' });
    expect((await held).reply).toMatchObject({ error: '403::Unknown client', advice: { reconnect: 'handshake' } });
    expect(emu.stats().clients).toBe(0);
  });

  test('stall holds connects unanswered although events are pending, then delivers them', async () => {
    // Rule: a stream can stall silently; only a client-side watchdog notices.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    emu.publishChange(contactUpdate(1));
    emu.injectFault({ type: 'stall', durationMs: 300 });
    const started = Date.now();
    const { events } = await probe.connect({ timeout: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(events).toHaveLength(1);
  });

  test('drop-connection destroys the socket of the next connect without delivering', async () => {
    // Rule: a network failure mid-request loses nothing the client had not received.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready(CONTACT, { [CONTACT]: -1 });
    emu.publishChange(contactUpdate(1));
    emu.injectFault({ type: 'drop-connection' });
    await expect(probe.connect()).rejects.toThrow();
    expect(await probe.drain()).toHaveLength(1);
  });
});

describe('control API', () => {
  async function control(emu: StreamingEmulator, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${emu.url}/_emulator/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  }

  test('another process can publish, generate, inject faults, rotate tokens, expire and read stats over HTTP', async () => {
    // Rule: the demo, benchmark and crash test drive the emulator from other processes.
    const emu = await start();
    const probe = new Probe(emu);
    await probe.ready([CONTACT, '/event/Order_Confirmed__e', '/data/X__chn'], { [CONTACT]: -1, '/event/Order_Confirmed__e': -1, '/data/X__chn': -1 });
    const change = await control(emu, 'publish', {
      change: { ...contactUpdate(1), commitNumber: '12345678901234567890', channels: ['/data/X__chn'] },
    });
    expect(change.status).toBe(200);
    expect(typeof change.json.replayId).toBe('number');
    expect((await control(emu, 'publish', { platformEvent: { name: 'Order_Confirmed__e', payload: { a: 1 } } })).json.eventUuid).toMatch(/-/);
    expect((await control(emu, 'publish', { raw: { channel: CONTACT, data: [1, 2] } })).status).toBe(200);
    const gen = await control(emu, 'generate', { count: 10, seed: 3 });
    expect(gen.json.lastReplayId).toBeGreaterThan(gen.json.firstReplayId);
    // The change arrives twice: on its entity channel and on the custom channel.
    expect((await probe.drain()).length).toBe(2 + 1 + 1 + 10);
    expect((await control(emu, 'fault', { type: 'handshake-denied' })).status).toBe(200);
    expect((await probe.handshake()).error).toBe('403::Handshake denied');
    expect((await control(emu, 'token', { accessToken: 'rotated' })).status).toBe(200);
    expect((await probe.handshake()).ext.sfdc.failureReason).toBe('401::Authentication invalid');
    expect((await control(emu, 'expire', { beforeReplayId: gen.json.lastReplayId })).status).toBe(200);
    const stats = await control(emu, 'stats');
    expect(stats.json).toMatchObject({ published: 13, delivered: 14, retained: 0, handshakes: 3 });
  });

  test('a malformed control request gets 400 naming the problem', async () => {
    // Rule: control bodies are validated, so a typo in a test fails loudly.
    const emu = await start();
    const bad = await control(emu, 'publish', { change: { entityName: 'Contact', changeType: 'UPSERT', recordIds: [] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toContain('changeType');
    expect((await control(emu, 'fault', { type: 'meteor' })).status).toBe(400);
    expect((await control(emu, 'nothing', {})).status).toBe(404);
  });
});
