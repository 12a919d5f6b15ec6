// In a fleet, which instance leads each channel shows on /metrics and the status page, and moves when the leader stops.
import { load } from '../src/config/load.ts';
import { createLogger } from '../src/core/log.ts';
import { startService, type Service } from '../src/service.ts';
import { bridgeConfig, CHANNEL, useHarness, waitFor } from './helpers/harness.ts';
import { dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

const h = useHarness();
const services: Service[] = [];
let schema: string;

beforeAll(async () => {
  await requirePostgres();
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop().catch(() => undefined)));
  await dropSchema(schema);
});

/** The value of `sfmc_bridge_channel_leader{channel}` on one instance's /metrics, or undefined when absent. */
async function leaderGauge(s: Service): Promise<number | undefined> {
  const text = await (await fetch(`${s.admin!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`sfmc_bridge_channel_leader{channel="${CHANNEL}"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function statusChannels(s: Service): Promise<unknown> {
  return ((await (await fetch(`${s.admin!.url}/api/status`)).json()) as { channels: unknown }).channels;
}

test('two instances on one Postgres: the leader reports 1 and the follower 0, per channel; the follower takes over when the leader stops', async () => {
  schema = freshSchemaName('lead');
  const config = load(
    bridgeConfig(h.dir, {
      store: { kind: 'postgres', url: { env: 'LEADER_TEST_PG_URL' }, schema, takeoverMs: 1000 },
      admin: { enabled: true, host: '127.0.0.1', port: 0 },
    }),
    { ...h.env, LEADER_TEST_PG_URL: TEST_DATABASE_URL },
  );
  const silent = createLogger({ level: 'silent', pretty: false });
  for (let i = 0; i < 2; i++) services.push(await startService(config, silent));
  const [a, b] = services as [Service, Service];

  await waitFor(async () => (await leaderGauge(a)) === 1 || (await leaderGauge(b)) === 1, 15_000, 'one instance to lead the channel');
  const [leader, follower] = (await leaderGauge(a)) === 1 ? [a, b] : [b, a];
  expect(await leaderGauge(follower)).toBe(0);
  // Both say subscribed (a follower has nothing to subscribe): the role is what tells them apart.
  expect(leader.subscriber.subscribed && follower.subscriber.subscribed).toBe(true);
  expect(await statusChannels(leader)).toEqual([{ name: CHANNEL, leader: true }]);
  expect(await statusChannels(follower)).toEqual([{ name: CHANNEL, leader: false }]);

  await leader.stop();
  services.splice(services.indexOf(leader), 1);
  await waitFor(async () => (await leaderGauge(follower)) === 1, 15_000, 'the follower to take the channel over');
  expect(await statusChannels(follower)).toEqual([{ name: CHANNEL, leader: true }]);
  // Stopped here, while the emulators still run (the harness closes them after the test).
  services.splice(0);
  await follower.stop();
}, 60_000);

test('a lone instance on SQLite leads every channel it consumes', async () => {
  schema = freshSchemaName('unused');
  const s = await h.startService(bridgeConfig(h.dir, { admin: { enabled: true, host: '127.0.0.1', port: 0 } }));
  expect(await leaderGauge(s)).toBe(1);
  expect(await statusChannels(s)).toEqual([{ name: CHANNEL, leader: true }]);
});
