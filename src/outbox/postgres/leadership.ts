/**
 * Leadership per channel: exactly one instance of a fleet consumes a channel at a time.
 *
 * Each channel is a PostgreSQL session advisory lock (keyed by schema and channel), taken with
 * `pg_try_advisory_lock` on a connection of its own. The lock lives as long as that session:
 * - the leader's process dies: the kernel closes its socket, the server ends the session and
 *   frees the lock at once. The others are queued on it (`pg_advisory_lock` bounded by
 *   `lock_timeout`, asked again as soon as it times out), so the server hands it to one of them
 *   the moment it is free, and that one leads from the checkpoint the dead leader committed last;
 * - the leader freezes or loses the network: the session is idle, and the server ends it after
 *   `idle_session_timeout = takeoverMs`, at least `0.8 × takeoverMs` after the last ping it
 *   answered. The leader pings every `takeoverMs / 5`, a ping times out after as long, and it
 *   gives up consuming (stops its subscriber) at the first failed ping, by `0.4 × takeoverMs`
 *   (`0.5 ×` at the latest, from a watchdog) after its last good one: before the server can
 *   free the lock, so two instances never consume one channel.
 * A late commit from a deposed leader would still be harmless: idempotency keys refuse it.
 */
import pg from 'pg';
import type { Logger } from 'pino';

/** What the owner of the leadership does when it gains or loses a channel. */
export interface LeadershipHandlers {
  /** This instance now leads `channel`: start consuming it (from the shared checkpoint). */
  onAcquired(channel: string): Promise<void>;
  /** This instance no longer leads `channel` (or is stopping): stop consuming it. */
  onLost(channel: string, reason: string): Promise<void>;
}

/** Options of the channel leadership. */
export interface LeadershipOptions extends LeadershipHandlers {
  /** Connection URL of the shared database. */
  url: string;
  /** The store's schema: fleets on different schemas of one database do not block each other. */
  schema: string;
  channels: readonly string[];
  /** Bound on how long a channel goes unconsumed when its leader dies or loses the database (ms). */
  takeoverMs: number;
  logger: Logger;
}

/** Contends for the leadership of each channel and keeps what it wins until stopped or lost. */
export class ChannelLeadership {
  readonly #o: LeadershipOptions;
  readonly #checkMs: number;
  /** How long one wait for a channel's lock lasts; short enough that a round stays under `#checkMs`. */
  readonly #waitMs: number;
  readonly #held = new Set<string>();
  /** Per channel, the last acquire/lose transition: they run one after the other. */
  readonly #transitions = new Map<string, Promise<void>>();
  #client: pg.Client | undefined;
  #lastOk = 0;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: LeadershipOptions) {
    this.#o = options;
    this.#checkMs = Math.max(50, Math.floor(options.takeoverMs / 5));
    this.#waitMs = Math.max(10, Math.floor(this.#checkMs / 2 / Math.max(1, options.channels.length)));
  }

  /** Channels this instance leads now. */
  get held(): ReadonlySet<string> {
    return this.#held;
  }

  /** Starts contending; resolves after the first round (the channels won are starting). */
  async start(): Promise<void> {
    this.#tick = this.#round();
    await this.#tick;
  }

  /** Gives up every channel (their consumers stopped first), then closes the lock connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    // A follower waiting for a lock holds nothing: its connection can go now, not after the wait.
    if (this.#held.size === 0 && this.#client) {
      const waiting = this.#client;
      this.#client = undefined;
      await waiting.end().catch(() => undefined);
    }
    await this.#tick;
    const client = this.#client;
    this.#client = undefined;
    for (const channel of [...this.#held]) this.#transition(channel, () => this.#o.onLost(channel, 'stopping'));
    this.#held.clear();
    await Promise.all(this.#transitions.values());
    // Ending the session frees every lock it holds.
    if (client) await client.end().catch(() => undefined);
  }

  async #round(): Promise<void> {
    let waited = false;
    try {
      if (this.#held.size > 0 && Date.now() - this.#lastOk > this.#o.takeoverMs * 0.5) {
        this.#lose(`no answer from the database for ${Date.now() - this.#lastOk} ms`);
      }
      const client = this.#client ?? (await this.#connect());
      if (!client) return;
      const wanted = this.#o.channels.filter((c) => !this.#held.has(c));
      if (wanted.length === 0) await client.query('SELECT 1');
      for (const channel of wanted) {
        const won = await this.#waitFor(client, channel);
        if (this.#stopped || client !== this.#client) return;
        waited = true;
        if (!won) continue;
        this.#held.add(channel);
        this.#o.logger.info({ event: 'leader_acquired', channel }, 'leading the channel: consuming it from the shared checkpoint');
        this.#transition(channel, () => this.#o.onAcquired(channel).catch((err) => this.#giveUp(client, channel, err)));
      }
      this.#lastOk = Date.now();
    } catch (err) {
      this.#lose(`lock connection failed: ${(err as Error).message}`);
    } finally {
      // A follower asks again at once: the wait itself paced it, and it must be queued on the
      // lock when the leader lets go. A leader pings every checkMs.
      if (!this.#stopped)
        this.#timer = setTimeout(
          () => {
            this.#tick = this.#round();
          },
          waited ? 0 : this.#checkMs,
        );
    }
  }

  /** Waits up to `#waitMs` for the channel's lock; true when it is this instance's. */
  async #waitFor(client: pg.Client, channel: string): Promise<boolean> {
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [this.#key(channel)]);
      return true;
    } catch (err) {
      // lock_not_available: the leader still holds it. Anything else is the connection's failure.
      if ((err as { code?: string }).code === '55P03') return false;
      throw err;
    }
  }

  async #connect(): Promise<pg.Client | undefined> {
    const client = new pg.Client({
      connectionString: this.#o.url,
      application_name: `sfmc-bridge leadership ${this.#o.schema}`.slice(0, 63),
      keepAlive: true,
      connectionTimeoutMillis: this.#o.takeoverMs,
      // A ping that hangs this long means the connection is as good as gone.
      query_timeout: this.#checkMs,
    });
    const dropped = (why: string) => {
      if (this.#client === client) this.#lose(why);
    };
    client.on('error', (err) => dropped(`lock connection error: ${err.message}`));
    client.on('end', () => dropped('lock connection closed'));
    try {
      await client.connect();
      // The server frees a silent leader's locks after takeoverMs (see the file comment).
      await client.query(`SET idle_session_timeout = ${Math.floor(this.#o.takeoverMs)}`);
      await client.query(`SET lock_timeout = ${this.#waitMs}`);
    } catch (err) {
      client.end().catch(() => undefined);
      this.#o.logger.warn({ event: 'leadership_connect_failed', err: (err as Error).message }, 'cannot reach the database for leadership; retrying');
      return undefined;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return undefined;
    }
    this.#client = client;
    this.#lastOk = Date.now();
    return client;
  }

  /** The lock connection is gone or silent: every channel it held is lost. */
  #lose(reason: string): void {
    const client = this.#client;
    this.#client = undefined;
    if (client) client.end().catch(() => undefined);
    for (const channel of [...this.#held]) {
      this.#o.logger.warn({ event: 'leadership_lost', channel, reason }, 'lost the leadership of the channel; stopped consuming it');
      this.#transition(channel, () => this.#o.onLost(channel, reason));
    }
    this.#held.clear();
  }

  /** Starting to consume failed: let another instance (or a later round) try. */
  async #giveUp(client: pg.Client, channel: string, err: unknown): Promise<void> {
    this.#o.logger.error(
      { event: 'leadership_released', channel, err: (err as Error)?.message },
      'could not start consuming the channel; released its leadership',
    );
    if (!this.#held.delete(channel) || client !== this.#client) return;
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [this.#key(channel)]).catch(() => undefined);
  }

  #transition(channel: string, step: () => Promise<void>): void {
    const previous = this.#transitions.get(channel) ?? Promise.resolve();
    this.#transitions.set(
      channel,
      previous.then(step).catch((err) => {
        this.#o.logger.error({ event: 'leadership_transition_failed', channel, err: (err as Error)?.message }, 'leadership change failed');
      }),
    );
  }

  #key(channel: string): string {
    return `sfmc-bridge:leader:${this.#o.schema}:${channel}`;
  }
}
