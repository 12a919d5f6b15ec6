/**
 * The two yardsticks of the benchmark, run in the driver against the same emulators:
 * a raw faye subscriber that only counts (the limit) and a naive one (one sequential POST per
 * event, no persistence, no batching), as a quick script around a streaming client would be.
 */
import faye, { type Client as FayeClient } from 'faye';
import { request } from 'undici';
import { mcToken, type EmulatorInfo } from './processes.ts';

/**
 * Subscribes faye's client to `channel` from the start of its retention (replay -2).
 * `incoming` sees every message faye receives, before it is handed to the subscription.
 */
export function subscribeAll(info: EmulatorInfo, channel: string, onEvent: (data: any) => void, incoming?: (message: any) => void): FayeClient {
  const client = new faye.Client(`${info.SF_INSTANCE_URL}/cometd/62.0`, { timeout: 120 });
  client.disable('websocket');
  client.setHeader('Authorization', `Bearer ${info.SF_ACCESS_TOKEN}`);
  client.addExtension({
    outgoing(message: any, next: (m: any) => void) {
      if (message.channel === '/meta/handshake') message.ext = { replay: true };
      if (message.channel === '/meta/subscribe') message.ext = { replay: { [channel]: -2 } };
      next(message);
    },
  });
  // Only when asked: the raw yardstick's client stays faye's plain one.
  if (incoming)
    client.addExtension({
      incoming(message: any, next: (m: any) => void) {
        incoming(message);
        next(message);
      },
    });
  client.subscribe(channel, onEvent);
  return client;
}

/** Counts `n` retained events with faye's client; rate from the first to the n-th event. */
export async function measureRaw(info: EmulatorInfo, channel: string, n: number): Promise<{ eventsPerSec: number }> {
  let count = 0;
  let first = 0;
  let last = 0;
  let client: FayeClient | undefined;
  await new Promise<void>((resolve) => {
    client = subscribeAll(info, channel, () => {
      if (count === 0) first = Date.now();
      if (++count === n) {
        last = Date.now();
        resolve();
      }
    });
  });
  await client!.disconnect();
  return { eventsPerSec: n / ((last - first) / 1000) };
}

/** Posts each event to `/interaction/v1/events`, one after the other, for `durationMs`. */
export async function measureNaive(info: EmulatorInfo, channel: string, key: string, durationMs: number): Promise<{ eventsPerSec: number }> {
  const token = await mcToken(info);
  const queue: any[] = [];
  let wake: (() => void) | undefined;
  const client = subscribeAll(info, channel, (data) => {
    queue.push(data);
    wake?.();
  });
  let done = 0;
  let start = 0;
  for (;;) {
    // Out of events before the time is up (a small --events): measure what was done.
    if (queue.length === 0)
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 2000);
      });
    if (queue.length === 0) break;
    const data = queue.shift();
    if (start === 0) start = Date.now();
    const header = data.payload.ChangeEventHeader;
    const res = await request(new URL('interaction/v1/events', token.rest_instance_url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token.access_token}` },
      body: JSON.stringify({ ContactKey: header.recordIds[0], EventDefinitionKey: key, Data: { Email: data.payload.Email } }),
    });
    await res.body.text();
    done++;
    if (Date.now() - start >= durationMs) break;
  }
  const elapsed = (Date.now() - start) / 1000 || 1;
  await client.disconnect();
  return { eventsPerSec: done / elapsed };
}
