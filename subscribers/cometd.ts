/**
 * CometD subscriber on faye's client. Events of one `/meta/connect` response are buffered and
 * handed to the sink before the next `/meta/connect` goes out: the outgoing extension holds
 * that request until the batch is durable and the backlog is under its bound, which is the
 * only way to slow a CometD server down.
 *
 * Failures are decided by `decideFault` (cometd-faults.ts) and handled here by rebuilding the
 * client (single flight, with backoff), resubscribing from the committed replay IDs; a refused
 * replay ID resumes from the channel's fallback and is reported as a possible loss. A watchdog
 * rebuilds a client whose /meta/connect has not succeeded for too long.
 */
import faye, { type Client as FayeClient } from 'faye';
import { backoffDelay } from '../src/core/backoff.ts';
import type { RawEvent } from '../src/core/model.ts';
import { decideFault } from './cometd-faults.ts';
import { admit, type Subscriber, type SubscriberBaseOptions } from './types.ts';

/** Options of the CometD subscriber. */
export interface CometdSubscriberOptions extends SubscriberBaseOptions {
  /** `https://<MyDomain>.my.salesforce.com/cometd/<apiVersion>`. */
  cometdUrl: string;
  /** Returns a usable access token; `fresh` asks for a new one after Salesforce refused `rejected`. */
  getAccessToken(fresh: boolean, rejected?: string): Promise<string>;
  /** Told after every successful handshake (the first connects; later ones are reconnects). */
  onHandshake?(): void;
  /** Seconds faye waits before retrying a failed request. @default 2 */
  retrySeconds?: number;
  /** Rebuild the client when no /meta/connect succeeded for this long. @default 220000 */
  watchdogMs?: number;
  /** First wait of the reconnection backoff (doubles per failure). @default 1000 */
  retryInitialMs?: number;
  /** Longest reconnection wait. @default 60000 */
  retryMaxMs?: number;
  /** Pause after the daily delivery limit. @default 900000 */
  dailyLimitPauseMs?: number;
}

interface BayeuxMessage {
  channel: string;
  clientId?: string;
  successful?: boolean;
  error?: string;
  subscription?: string | string[];
  advice?: { reconnect?: string; interval?: number; timeout?: number };
  ext?: Record<string, unknown>;
  data?: { event?: { replayId?: unknown } } & Record<string, unknown>;
}

type Next = (message: BayeuxMessage | null) => void;

/** A response with at least this many events means a burst is being replayed. */
const BURST_RESPONSE_EVENTS = 500;
/**
 * Most events held uncommitted across responses during a burst. Held events outlive young-
 * generation collections and are promoted, so a bigger buffer costs heap during a burst: at
 * 10,000 the burst bench peaked ~30 MB higher than at 4,000, with no throughput to show for it.
 */
const MAX_UNCOMMITTED_EVENTS = 4_000;
/** Oldest an uncommitted event may get before it is committed anyway. */
const MAX_UNCOMMITTED_MS = 250;

/** Creates a CometD subscriber for the given channels. */
export function createCometdSubscriber(options: CometdSubscriberOptions): Subscriber {
  return new CometdSubscriber(options);
}

class CometdSubscriber implements Subscriber {
  readonly #opts: CometdSubscriberOptions;
  readonly #committed: Map<string, string>;
  /** Channels whose stored replay ID was refused: they resume from their fallback until a commit. */
  readonly #fallbacks = new Map<string, number>();
  readonly #confirmed = new Set<string>();
  #buffer: RawEvent[] = [];
  /** Buffer length when the previous `/meta/connect` went out. */
  #sinceLastConnect = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #client: FayeClient | undefined;
  #token: string | undefined;
  #stopping = false;
  /** A rebuild is scheduled or under way: the single flight of reconnection. */
  #restarting = false;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Failed attempts since the last successful /meta/connect (drives the backoff). */
  #failures = 0;
  /** Last time the stream proved alive (connect succeeded, or our own gate let a connect go). */
  #aliveAt = Date.now();
  /** A connect is held in our gate (backpressure): the watchdog must not count that time. */
  #gated = false;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: CometdSubscriberOptions) {
    this.#opts = options;
    this.#committed = new Map(options.checkpoints);
  }

  get subscribed(): boolean {
    return this.#confirmed.size === this.#opts.channels.length;
  }

  async start(): Promise<void> {
    await this.#connect(false);
    const limit = this.#opts.watchdogMs ?? 220_000;
    this.#watchdog = setInterval(() => this.#checkAlive(limit), Math.max(50, Math.min(5000, Math.floor(limit / 4))));
    this.#watchdog.unref();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#restartTimer);
    const client = this.#client;
    this.#client = undefined;
    await this.#flush();
    if (client) await closeClient(client);
  }

  async #connect(freshToken: boolean): Promise<void> {
    const token = await this.#opts.getAccessToken(freshToken, freshToken ? this.#token : undefined);
    if (this.#stopping) return;
    this.#token = token;
    // A new faye client is a new session and a new cookie jar: nothing of a stuck one survives.
    const client = new faye.Client(this.#opts.cometdUrl, { retry: this.#opts.retrySeconds ?? 2, timeout: 120 });
    client.disable('websocket');
    client.setHeader('Authorization', `Bearer ${token}`);
    client.addExtension({
      outgoing: (message: BayeuxMessage, next: Next) => this.#outgoing(client, message, next),
      incoming: (message: BayeuxMessage, next: Next) => this.#incoming(client, message, next),
    });
    this.#client = client;
    this.#aliveAt = Date.now();
    this.#confirmed.clear();
    // Subscriptions are sent after the handshake; faye repeats them after every re-handshake.
    for (const channel of this.#opts.channels) client.subscribe(channel.name, () => undefined);
  }

  #outgoing(client: FayeClient, message: BayeuxMessage, next: Next): void {
    if (client !== this.#client && message.channel !== '/meta/disconnect') return next(null);
    switch (message.channel) {
      case '/meta/handshake':
        message.ext = { ...message.ext, replay: true };
        this.#confirmed.clear();
        return next(message);
      case '/meta/subscribe':
        // Commit what we hold first, so the replay map resumes right after it.
        this.#flush().then(
          () => {
            message.ext = { ...message.ext, replay: this.#replayMap() };
            next(message);
          },
          (err) => this.#fatal(err),
        );
        return;
      case '/meta/connect':
        this.#gated = true;
        this.#maybeFlush()
          .then(() => this.#admit())
          .then(
            () => {
              this.#gated = false;
              this.#aliveAt = Math.max(this.#aliveAt, Date.now());
              if (this.#stopping || client !== this.#client) return next(null);
              next(message);
            },
            (err) => this.#fatal(err),
          );
        return;
      default:
        return next(message);
    }
  }

  #incoming(client: FayeClient, message: BayeuxMessage, next: Next): void {
    if (client !== this.#client) return next(message);
    const channel = message.channel;
    if (!channel.startsWith('/meta/')) {
      // Taken here and not passed on: faye's per-message channel matching would only find
      // our no-op listeners, and it costs as much as the rest of the client's work.
      if (message.data !== undefined) this.#buffer.push(toRawEvent(channel, message.data));
      return next(null);
    }
    if (message.successful === false) this.#onFailure(client, message);
    else if (channel === '/meta/connect') {
      this.#aliveAt = Date.now();
      this.#failures = 0;
    } else if (channel === '/meta/subscribe') {
      for (const name of [message.subscription ?? []].flat()) this.#confirmed.add(name);
      this.#opts.logger.info({ channel: message.subscription, replay: this.#replayMap() }, 'subscribed');
    } else if (channel === '/meta/handshake') {
      this.#opts.logger.info({ event: 'handshake' }, 'handshake successful');
      this.#opts.onHandshake?.();
    }
    next(message);
  }

  #onFailure(client: FayeClient, message: BayeuxMessage): void {
    const decision = decideFault(message);
    const channelName = [message.subscription ?? []].flat().join(',') || message.channel;
    this.#opts.logger.warn(
      {
        event: 'bayeux_failure',
        channel: channelName,
        error: message.error,
        reason: decision.reason,
        decision: decision.kind,
        advice: message.advice,
      },
      `streaming request failed: ${decision.kind}`,
    );
    this.#opts.events?.fault?.(decision.kind, decision.reason, channelName);
    const opts = this.#opts;
    const initial = opts.retryInitialMs ?? 1000;
    const max = opts.retryMaxMs ?? 60_000;
    const attempt = ++this.#failures;
    const backoff = { baseMs: initial, capMs: max };
    switch (decision.kind) {
      case 'reauth':
      case 'rehandshake':
        // At once the first time; a repeat means the new client failed too, so back off.
        return this.#restart(
          client,
          decision.kind,
          decision.kind === 'reauth',
          attempt <= 1 ? 0 : backoffDelay(attempt, { ...backoff, spread: 0.5 }),
        );
      case 'backoff':
        // Mostly fixed, so each wait stays longer than the one before (Salesforce asked for it).
        return this.#restart(client, 'server busy (503)', false, backoffDelay(attempt, { ...backoff, spread: 0.2 }));
      case 'jitter':
        // Every handshake takes a client slot: spread the attempts out (aiocometd#1).
        return this.#restart(client, 'concurrent client limit', false, initial + backoffDelay(attempt, backoff));
      case 'pause':
        opts.logger.error(
          { event: 'stream_paused', reason: decision.reason, pauseMs: opts.dailyLimitPauseMs ?? 900_000 },
          "ALERT: the org's daily event delivery limit is exceeded; not consuming until the pause ends (events stay replayable for 72 h)",
        );
        return this.#restart(client, 'daily delivery limit', false, opts.dailyLimitPauseMs ?? 900_000);
      case 'replay-invalid':
        this.#failures--;
        for (const name of decision.channels) this.#replayRefused(client, name, decision.reason);
        return;
      case 'report':
        this.#failures--;
        opts.logger.error(
          { event: 'subscribe_failed', channel: channelName, reason: decision.reason },
          `cannot subscribe to ${channelName}; the other channels go on`,
        );
        return;
    }
  }

  /** A stored replay ID was refused: resume from the fallback, report the possible loss. */
  #replayRefused(client: FayeClient, name: string, error: string): void {
    const channel = this.#opts.channels.find((c) => c.name === name);
    if (!channel) return;
    const fallback = channel.replayFallback ?? -2;
    const refused = this.#committed.get(name) ?? String(channel.replayFrom);
    this.#fallbacks.set(name, fallback);
    this.#opts.events?.replayLoss?.({ channel: name, refusedReplayId: refused, resumedFrom: fallback, error });
    // faye drops the failed subscription after this reply is handled: subscribe again then.
    setImmediate(() => {
      if (client === this.#client && !this.#stopping) client.subscribe(name, () => undefined);
    });
  }

  /** Replaces the client after `delayMs`; one rebuild at a time (cometd#2057). */
  #restart(old: FayeClient | undefined, why: string, freshToken: boolean, delayMs: number): void {
    if (this.#restarting || this.#stopping) return;
    this.#restarting = true;
    if (old === this.#client) this.#client = undefined;
    this.#confirmed.clear();
    if (old) void closeClient(old);
    const delay = Math.max(0, Math.round(delayMs));
    this.#opts.logger.info({ event: 'reconnecting', why, delayMs: delay, freshToken }, 'rebuilding the streaming client');
    this.#opts.events?.reconnecting?.(why, delay);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.#connect(freshToken).then(
        () => {
          this.#restarting = false;
        },
        (err: unknown) => {
          this.#restarting = false;
          this.#opts.logger.warn({ err }, 'reconnect failed; retrying');
          const attempt = ++this.#failures;
          this.#restart(
            undefined,
            'reconnect failed',
            freshToken,
            backoffDelay(attempt, { baseMs: this.#opts.retryInitialMs ?? 1000, capMs: this.#opts.retryMaxMs ?? 60_000, spread: 0.5 }),
          );
        },
      );
    }, delay);
  }

  /** The watchdog: a stream with no successful connect for `limit` ms is stuck (jsforce#129). */
  #checkAlive(limit: number): void {
    if (this.#stopping || this.#restarting || this.#gated || !this.#client) return;
    const silent = Date.now() - this.#aliveAt;
    if (silent <= limit) return;
    this.#opts.logger.warn({ event: 'watchdog', silentMs: silent, limitMs: limit }, 'no /meta/connect succeeded for too long; rebuilding the client');
    this.#opts.events?.fault?.('rehandshake', `watchdog: no successful /meta/connect for ${silent} ms`, '/meta/connect');
    this.#restart(this.#client, 'watchdog', false, 0);
  }

  #replayMap(): Record<string, number> {
    const map: Record<string, number> = {};
    for (const c of this.#opts.channels) {
      const fallback = this.#fallbacks.get(c.name);
      const stored = this.#committed.get(c.name);
      map[c.name] = fallback ?? (stored === undefined ? c.replayFrom : Number(stored));
    }
    return map;
  }

  /**
   * During a burst (full responses one after the other) events of several responses are
   * committed together: fewer, larger transactions cost far less per event. The checkpoint
   * still moves only with its events, so a crash only means replaying those responses.
   */
  #maybeFlush(): Promise<void> {
    const arrived = this.#buffer.length - this.#sinceLastConnect;
    this.#sinceLastConnect = this.#buffer.length;
    const burst = arrived >= BURST_RESPONSE_EVENTS;
    const old = this.#buffer.length > 0 && Date.now() - this.#buffer[0]!.receivedAt >= MAX_UNCOMMITTED_MS;
    if (burst && !old && this.#buffer.length < MAX_UNCOMMITTED_EVENTS) {
      // The server may hold the next connect for up to 110 s when the burst ends: commit on
      // a timer then, not on the next connect.
      this.#flushTimer ??= setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush().catch((err) => this.#fatal(err));
      }, MAX_UNCOMMITTED_MS);
      return Promise.resolve();
    }
    return this.#flush();
  }

  /** Waits for the backlog gate before the next `/meta/connect` (see `admit`). */
  #admit(): Promise<void> {
    return admit(
      (n) => this.#opts.gate(n),
      this.#buffer.length,
      () => this.#flush(),
    );
  }

  /** Hands the buffered events to the sink; serialized so batches commit in arrival order. */
  #flush(): Promise<void> {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    this.#flushing = this.#flushing.then(async () => {
      if (this.#buffer.length === 0) return;
      const batch = this.#buffer;
      this.#buffer = [];
      this.#sinceLastConnect = 0;
      const checkpoints = new Map<string, string>();
      for (const e of batch) if (e.replayId !== '') checkpoints.set(e.channel, e.replayId);
      await this.#opts.sink(batch, checkpoints);
      for (const [channel, replayId] of checkpoints) {
        this.#committed.set(channel, replayId);
        this.#fallbacks.delete(channel);
      }
    });
    return this.#flushing;
  }

  #fatal(err: unknown): void {
    this.#stopping = true;
    this.#opts.onFatal(err);
  }
}

/** Longest a stop waits for Salesforce to answer /meta/disconnect. */
const DISCONNECT_WAIT_MS = 1000;

/**
 * Ends a faye client for good. faye's `disconnect` does nothing before a handshake succeeded,
 * and its dispatcher resends a pending request (the handshake to an unreachable host, or the
 * disconnect itself) forever, which keeps the process alive after a stop and piles up old
 * clients across rebuilds. Closing the dispatcher's transport ends that; faye has no public call
 * for it, so this reaches into `_dispatcher`, guarded for a faye that moved it.
 */
async function closeClient(client: FayeClient): Promise<void> {
  const disconnected = client.disconnect() as unknown;
  if (disconnected) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.resolve(disconnected).catch(() => undefined),
      new Promise((r) => {
        timer = setTimeout(r, DISCONNECT_WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }
  (client as unknown as { _dispatcher?: { close?(): void } })._dispatcher?.close?.();
}

function toRawEvent(channel: string, data: BayeuxMessage['data']): RawEvent {
  const replay = data?.event?.replayId;
  const replayId = typeof replay === 'number' || typeof replay === 'string' ? String(replay) : '';
  return { channel, replayId, data, receivedAt: Date.now() };
}
