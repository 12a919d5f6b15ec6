/**
 * The raw yardstick over the Pub/Sub API: a bare gRPC subscriber that asks for 100 events at a
 * time, as soon as each batch arrives, and only counts them (no Avro decoding, no storage).
 * It is the most the emulator and the transport allow, against which the bridge is measured.
 */
import * as grpc from '@grpc/grpc-js';
import { orgIdOf, pubSubPackage, REPLAY_PRESET, type FetchResponse } from '../subscribers/pubsub/proto.ts';

/** Counts `n` retained events of `channel` from EARLIEST; rate from the first to the n-th event. */
export async function measureRawPubSub(
  info: { SF_INSTANCE_URL: string; SF_ACCESS_TOKEN: string; SF_PUBSUB_URL: string },
  channel: string,
  n: number,
): Promise<{ eventsPerSec: number }> {
  const client = new (pubSubPackage().client)(info.SF_PUBSUB_URL, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('accesstoken', info.SF_ACCESS_TOKEN);
  md.set('instanceurl', info.SF_INSTANCE_URL);
  md.set('tenantid', orgIdOf(info.SF_ACCESS_TOKEN) ?? '00D000000000001');
  const call = client.Subscribe(md);
  let count = 0;
  let first = 0;
  let last = 0;
  await new Promise<void>((resolve, reject) => {
    call.on('data', (r: FetchResponse) => {
      const got = r.events?.length ?? 0;
      if (got === 0) return;
      if (count === 0) first = Date.now();
      count += got;
      if (count >= n) {
        last = Date.now();
        resolve();
      } else if (r.pendingNumRequested === 0) {
        call.write({ numRequested: 100 });
      }
    });
    call.on('error', (err) => {
      if (count < n) reject(err);
    });
    call.write({ topicName: channel, replayPreset: REPLAY_PRESET.EARLIEST, numRequested: 100 });
  });
  call.cancel();
  client.close();
  return { eventsPerSec: n / (Math.max(1, last - first) / 1000) };
}
