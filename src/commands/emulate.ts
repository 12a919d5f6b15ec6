/** `sfmc-bridge emulate`: the emulators alone, until interrupted. */
import { randomBytes } from 'node:crypto';
import { startMcEmulator } from '../emulators/mc/index.ts';
import { startStreamingEmulator } from '../emulators/streaming/index.ts';

/** Starts both emulators, prints their URLs and credentials, waits for SIGINT/SIGTERM. */
export async function runEmulate(opts: { sfPort: number; mcPort: number; json: boolean }): Promise<number> {
  // Shaped like a Salesforce token (org ID, '!', secret): the Pub/Sub API's tenantid comes from it.
  const token = process.env.SF_ACCESS_TOKEN ?? `00D000000000001!emulator-${randomBytes(12).toString('hex')}`;
  const clientId = process.env.MC_CLIENT_ID ?? 'emulator-client';
  const clientSecret = process.env.MC_CLIENT_SECRET ?? randomBytes(16).toString('hex');
  const sf = await startStreamingEmulator({ accessToken: token, port: opts.sfPort, pubsub: true });
  const mc = await startMcEmulator({ clientId, clientSecret, port: opts.mcPort, recordBodies: process.env.EMULATOR_RECORD_BODIES !== 'false' });
  // The printed values are test credentials of these emulators, meant to be copied into the
  // environment of a bridge (SF_ACCESS_TOKEN etc.); they open nothing else.
  const info = {
    SF_INSTANCE_URL: sf.url,
    SF_COMETD_URL: sf.cometdUrl,
    SF_PUBSUB_URL: sf.pubsub!.address,
    SF_ACCESS_TOKEN: token,
    MC_AUTH_BASE_URL: mc.authBaseUrl,
    MC_REST_BASE_URL: mc.restBaseUrl,
    MC_CLIENT_ID: clientId,
    MC_CLIENT_SECRET: clientSecret,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(info)}\n`);
  else {
    process.stdout.write('Emulators running (control API under /_emulator/ on each port). Export these to point a bridge at them:\n');
    for (const [k, v] of Object.entries(info)) process.stdout.write(`  export ${k}=${v}\n`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await Promise.all([sf.close(), mc.close()]);
  return 0;
}
