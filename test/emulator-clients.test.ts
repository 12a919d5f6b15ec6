/**
 * Third-party CometD clients work against the Streaming API emulator unchanged: faye's own
 * `Faye.Client` and jsforce's streaming client (which wraps faye with Salesforce's replay and
 * auth-failure extensions). If they work here, the emulator speaks Bayeux as clients expect.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import faye, { type Client as FayeClient } from 'faye';
import jsforce from 'jsforce';
import { StreamingExtension } from 'jsforce/lib/api/streaming.js';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';

const TOKEN = '00D5g000004Emu!AQcAQClientsTestToken';
const CONTACT = '/data/ContactChangeEvent';
type Data = { event: { replayId: number }; payload: Record<string, any> };
type Disconnectable = { disconnect(): PromiseLike<void> | undefined | void };

let emulators: StreamingEmulator[] = [];
let clients: Disconnectable[] = [];
afterEach(async () => {
  // Disconnect first: the emulator answers the held connect, so no client request is left hanging.
  await Promise.all(clients.map((c) => Promise.resolve(c.disconnect()).catch(() => undefined)));
  clients = [];
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

async function start(opts: { connectTimeoutMs?: number } = {}): Promise<StreamingEmulator> {
  const emu = await startStreamingEmulator({ accessToken: TOKEN, connectTimeoutMs: opts.connectTimeoutMs ?? 2000 });
  emulators.push(emu);
  return emu;
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The replay extension as EMP-Connector writes it: `ext.replay: true` on handshake, the map of
 * every channel on subscribe, and the last replay ID seen per channel kept for resubscribes.
 */
class ReplayExtension {
  readonly replay: Record<string, number>;
  constructor(replay: Record<string, number>) {
    this.replay = { ...replay };
  }
  outgoing(message: any, callback: (m: any) => void): void {
    if (message.channel === '/meta/handshake') message.ext = { ...message.ext, replay: true };
    if (message.channel === '/meta/subscribe') message.ext = { ...message.ext, replay: { ...this.replay } };
    callback(message);
  }
  incoming(message: any, callback: (m: any) => void): void {
    const id = message.data?.event?.replayId;
    if (typeof id === 'number' && message.channel in this.replay) this.replay[message.channel] = id;
    callback(message);
  }
}

function fayeClient(emu: StreamingEmulator, replay: Record<string, number>): FayeClient {
  const client = new faye.Client(emu.cometdUrl, { retry: 1 });
  client.disable('websocket');
  client.setHeader('Authorization', `Bearer ${TOKEN}`);
  client.addExtension(new ReplayExtension(replay));
  clients.push(client);
  return client;
}

function contactUpdate(n: number) {
  return { entityName: 'Contact', changeType: 'UPDATE' as const, recordIds: ['0035g00000XyZabAAB'], fields: { Email: `c${n}@example.com` } };
}

describe('faye Faye.Client', () => {
  test('subscribes with replay -2 and receives every retained event, then new ones, in order', async () => {
    // Rule: -2 replays everything retained, then streams new events, to a stock Bayeux client.
    const emu = await start();
    const ids = [1, 2, 3].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    const got: Data[] = [];
    const client = fayeClient(emu, { [CONTACT]: -2 });
    await client.subscribe(CONTACT, (data: Data) => got.push(data));
    ids.push(emu.publishChange(contactUpdate(4)).replayId, emu.publishChange(contactUpdate(5)).replayId);
    await waitFor(() => got.length === 5);
    expect(got.map((d) => d.event.replayId)).toEqual(ids);
    expect(got[4]!.payload).toMatchObject({ Email: 'c5@example.com', ChangeEventHeader: { entityName: 'Contact' } });
  });

  test('subscribes with replay N and receives exactly the events after N', async () => {
    // Rule: a stored replay ID resumes right after it.
    const emu = await start();
    const ids = [1, 2, 3, 4, 5].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    const got: number[] = [];
    const client = fayeClient(emu, { [CONTACT]: ids[2]! });
    await client.subscribe(CONTACT, (data: Data) => got.push(data.event.replayId));
    // A last event, published after: once it is in, any older one replayed would be in too.
    const last = emu.publishChange(contactUpdate(6)).replayId;
    await waitFor(() => got.includes(last));
    expect(got).toEqual([...ids.slice(3), last]);
  });

  test('an invalid replay ID fails the subscription with the documented error', async () => {
    // Rule: the invalid-replay error reaches the client as a failed subscribe, not silence.
    const emu = await start();
    const { replayId } = emu.publishChange(contactUpdate(1));
    emu.expireRetention(replayId);
    const client = fayeClient(emu, { [CONTACT]: replayId });
    await expect(client.subscribe(CONTACT, () => undefined)).rejects.toMatchObject({
      message: expect.stringContaining(`The replayId {${replayId}} you provided was invalid`),
    });
  });

  test('after the server forgets the client, faye re-handshakes and resubscribes from the last replay ID without loss', async () => {
    // Rule: on 403::Unknown client a client handshakes again and resubscribes from its stored replay IDs.
    const emu = await start();
    const got: number[] = [];
    const client = fayeClient(emu, { [CONTACT]: -1 });
    await client.subscribe(CONTACT, (data: Data) => got.push(data.event.replayId));
    const ids = [1, 2, 3].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    await waitFor(() => got.length === 3);
    emu.injectFault({ type: 'unknown-client' });
    ids.push(...[4, 5, 6].map((n) => emu.publishChange(contactUpdate(n)).replayId));
    await waitFor(() => got.length >= 6);
    expect(got).toEqual(ids);
    expect(emu.stats().handshakes).toBe(2);
  });

  test('receives a large pre-published backlog in batched responses, every event once and in order', async () => {
    // Rule: the emulator is fast enough for the benchmark (tens of thousands of events per second).
    const emu = await start();
    const count = 20_000;
    const { firstReplayId, lastReplayId } = emu.generateContactChanges(count);
    let n = 0;
    let previous = 0;
    let ordered = true;
    const client = fayeClient(emu, { [CONTACT]: -2 });
    const started = performance.now();
    await client.subscribe(CONTACT, (data: Data) => {
      if (n === 0 && data.event.replayId !== firstReplayId) ordered = false;
      if (data.event.replayId <= previous) ordered = false;
      previous = data.event.replayId;
      n++;
    });
    await waitFor(() => n === count, 20_000);
    const perSecond = Math.round(count / ((performance.now() - started) / 1000));
    console.log(`faye client received ${count} events at ${perSecond} events/s`);
    expect(ordered).toBe(true);
    expect(previous).toBe(lastReplayId);
    expect(emu.stats().connects).toBeLessThan(30);
    expect(perSecond).toBeGreaterThan(5000);
  });
});

describe('jsforce streaming client', () => {
  function jsforceClient(emu: StreamingEmulator, extensions: unknown[]): FayeClient {
    const conn = new jsforce.Connection({ instanceUrl: emu.url, accessToken: TOKEN, version: '62.0' });
    const client = conn.streaming.createClient(extensions as never) as unknown as FayeClient;
    clients.push(client);
    return client;
  }

  test('StreamingExtension.Replay with -2 receives retained and new platform events', async () => {
    // Rule: jsforce's documented replay extension works unchanged (OAuth header, replay map on subscribe).
    const emu = await start();
    const channel = '/event/Order_Confirmed__e';
    const first = emu.publishPlatformEvent('Order_Confirmed__e', { Order_Number__c: 'ORD-1' });
    const got: any[] = [];
    const client = jsforceClient(emu, [new StreamingExtension.Replay(channel, -2)]);
    await client.subscribe(channel, (data: any) => got.push(data));
    const second = emu.publishPlatformEvent('Order_Confirmed__e', { Order_Number__c: 'ORD-2' });
    await waitFor(() => got.length === 2);
    expect(got.map((d) => d.event)).toEqual([
      { EventUuid: first.eventUuid, replayId: first.replayId },
      { EventUuid: second.eventUuid, replayId: second.replayId },
    ]);
    expect(got[1].payload.Order_Number__c).toBe('ORD-2');
  });

  test('StreamingExtension.Replay with a stored replay ID resumes after it', async () => {
    // Rule: a stored replay ID given to jsforce resumes right after it.
    const emu = await start();
    const ids = [1, 2, 3, 4].map((n) => emu.publishChange(contactUpdate(n)).replayId);
    const got: number[] = [];
    const client = jsforceClient(emu, [new StreamingExtension.Replay(CONTACT, ids[1]!)]);
    await client.subscribe(CONTACT, (data: Data) => got.push(data.event.replayId));
    // A last event, published after: once it is in, any older one replayed would be in too.
    const last = emu.publishChange(contactUpdate(5)).replayId;
    await waitFor(() => got.includes(last));
    expect(got).toEqual([...ids.slice(2), last]);
  });

  test('StreamingExtension.AuthFailure fires when the token is revoked', async () => {
    // Rule: a 401 with reconnect none on /meta/connect reaches jsforce's auth-failure hook.
    const emu = await start();
    const failures: any[] = [];
    const client = jsforceClient(emu, [
      new StreamingExtension.AuthFailure((message: any) => failures.push(message)),
      new StreamingExtension.Replay(CONTACT, -1),
    ]);
    await client.subscribe(CONTACT, () => undefined);
    emu.injectFault({ type: 'connect-401' });
    await waitFor(() => failures.length === 1);
    expect(failures[0]).toMatchObject({ channel: '/meta/connect', error: '401::Authentication invalid', advice: { reconnect: 'none' } });
  });
});
