/**
 * Exactly one instance leads a channel at a time: a leader that stops or dies is replaced
 * within the configured bound, and a leader cut off from the database stops consuming before
 * anyone else can start.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createLogger } from '../src/core/log.ts';
import { ChannelLeadership } from '../src/outbox/postgres/leadership.ts';
import { waitFor } from './helpers/harness.ts';
import { adminQuery, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

const quiet = createLogger({ level: 'silent', pretty: false });
const CHANNELS = ['/data/ContactChangeEvent', '/event/MC_Journey_Entry__e'];

interface Member {
  name: string;
  leadership: ChannelLeadership;
  /** Channels this member consumes now, as its handlers saw it. */
  consuming: Set<string>;
}

/** A timeline of who started and stopped consuming what, and when. */
let log: { at: number; who: string; what: 'acquired' | 'lost'; channel: string }[];
let members: Member[];
let schema: string;

beforeAll(async () => {
  await requirePostgres();
});
beforeEach(() => {
  log = [];
  members = [];
  schema = freshSchemaName('lead');
});
afterEach(async () => {
  await Promise.all(members.map((m) => m.leadership.stop()));
});

function member(name: string, takeoverMs: number, url = TEST_DATABASE_URL): Member {
  const consuming = new Set<string>();
  const leadership = new ChannelLeadership({
    url,
    schema,
    channels: CHANNELS,
    takeoverMs,
    logger: quiet,
    async onAcquired(channel) {
      consuming.add(channel);
      log.push({ at: Date.now(), who: name, what: 'acquired', channel });
    },
    async onLost(channel) {
      consuming.delete(channel);
      log.push({ at: Date.now(), who: name, what: 'lost', channel });
    },
  });
  const m = { name, leadership, consuming };
  members.push(m);
  return m;
}

/** Consumers of each channel right now. */
function consumers(channel: string): string[] {
  return members.filter((m) => m.consuming.has(channel)).map((m) => m.name);
}

test('of three contenders exactly one leads each channel; when it stops another takes over within a fifth of takeoverMs', async () => {
  const [a, b, c] = [member('a', 1000), member('b', 1000), member('c', 1000)];
  await Promise.all([a.leadership.start(), b.leadership.start(), c.leadership.start()]);
  await waitFor(() => CHANNELS.every((ch) => consumers(ch).length === 1), 5000, 'a leader per channel');
  await new Promise((r) => setTimeout(r, 600));
  for (const ch of CHANNELS) expect(consumers(ch)).toHaveLength(1);
  const leader = members.find((m) => m.consuming.has(CHANNELS[0]!))!;
  const stoppedAt = Date.now();
  await leader.leadership.stop();
  members.splice(members.indexOf(leader), 1);
  await waitFor(() => consumers(CHANNELS[0]!).length === 1, 5000, 'a new leader');
  const takeover = Date.now() - stoppedAt;
  expect(consumers(CHANNELS[0]!)).not.toContain(leader.name);
  // Retries every takeoverMs / 5 = 200 ms; the rest is slack for a loaded machine.
  expect(takeover).toBeLessThan(1000);
});

test('a follower is queued on the lock: when the leader dies it leads at once, not at its next check', async () => {
  // takeoverMs 10 s: a follower that only checked would look every 2 s.
  const a = member('a', 10_000);
  await a.leadership.start();
  await waitFor(() => a.consuming.size === 2, 5000, 'a leading');
  const b = member('b', 10_000);
  await b.leadership.start();
  await waitFor(
    async () => (await adminQuery(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rowCount! > 0,
    5000,
    'b waiting on a lock',
  );
  // The leader's process dies: the server ends its session, which frees its locks.
  const killedAt = Date.now();
  const killed = await adminQuery(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name = $1 AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
    [`sfmc-bridge leadership ${schema}`.slice(0, 63)],
  );
  expect(killed.rowCount).toBe(1);
  await waitFor(() => b.consuming.size === 2, 5000, 'b leading both channels');
  const takeover = Math.max(...log.filter((e) => e.who === 'b' && e.what === 'acquired').map((e) => e.at)) - killedAt;
  expect(takeover).toBeLessThan(1000);
});

test('fleets on different schemas of one database do not block each other', async () => {
  const a = member('a', 1000);
  await a.leadership.start();
  schema = freshSchemaName('other');
  const b = member('b', 1000);
  await b.leadership.start();
  await waitFor(() => a.consuming.size === 2 && b.consuming.size === 2, 5000, 'both fleets leading their channels');
});

test('a leader whose lock connection is killed stops consuming, then each channel has one leader again', async () => {
  const a = member('a', 1000);
  await a.leadership.start();
  await waitFor(() => a.consuming.size === 2, 5000, 'a leading');
  const b = member('b', 1000);
  await b.leadership.start();
  // a holds both locks, b none: the session holding advisory locks is a's.
  const killed = await adminQuery(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name = $1 AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
    [`sfmc-bridge leadership ${schema}`.slice(0, 63)],
  );
  expect(killed.rowCount).toBe(1);
  await waitFor(() => log.filter((e) => e.who === 'a' && e.what === 'lost').length === 2, 5000, 'a to stop consuming');
  // a contends again on a new connection, so either may lead now: one consumer per channel.
  await waitFor(() => CHANNELS.every((ch) => consumers(ch).length === 1), 5000, 'a leader per channel');
});

test('a leader cut off from the database stops consuming before the server frees its lock for another', async () => {
  const proxy = await startProxy();
  try {
    const url = new URL(TEST_DATABASE_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    const a = member('a', 2000, url.toString());
    await a.leadership.start();
    await waitFor(() => a.consuming.size === 2, 5000, 'a leading');
    const b = member('b', 2000);
    await b.leadership.start();
    const cutAt = Date.now();
    proxy.freeze();
    await waitFor(() => b.consuming.size === 2, 10_000, 'b to take over after idle_session_timeout');
    const lost = log.filter((e) => e.who === 'a' && e.what === 'lost');
    const won = log.filter((e) => e.who === 'b' && e.what === 'acquired');
    expect(lost).toHaveLength(2);
    // No overlap: a stopped consuming each channel before b started.
    for (const ch of CHANNELS) {
      expect(lost.find((e) => e.channel === ch)!.at).toBeLessThan(won.find((e) => e.channel === ch)!.at);
    }
    const takeover = Math.max(...won.map((e) => e.at)) - cutAt;
    expect(takeover).toBeGreaterThanOrEqual(2000 * 0.8 - 100);
    expect(takeover).toBeLessThan(2000 * 1.2 + 1500);
  } finally {
    proxy.close();
  }
});

/** A TCP proxy to the test server whose `freeze` stops forwarding without closing anything (a partition). */
async function startProxy(): Promise<{ port: number; freeze(): void; close(): void }> {
  const target = new URL(TEST_DATABASE_URL);
  const sockets: Socket[] = [];
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.push(client, upstream);
    client.on('data', (d) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!frozen) client.write(d);
    });
    // A partition carries no FIN either: while frozen, one side closing is not passed on.
    const pass = (to: Socket) => () => {
      if (!frozen) to.destroy();
    };
    client.on('error', pass(upstream));
    upstream.on('error', pass(client));
    client.on('close', pass(upstream));
    upstream.on('close', pass(client));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    freeze: () => {
      frozen = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
