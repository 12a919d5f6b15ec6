/**
 * CometD subscriber on faye's client. Events of one `/meta/connect` response are buffered and
 * handed to the sink before the next `/meta/connect` goes out: the outgoing extension holds
 * that request until the batch is durable and the backlog is under its bound, which is the
 * only way to slow a CometD server down.
 */
import faye, { type Client as FayeClient } from 'faye';
import type { Logger } from 'pino';
import type { RawEvent } from '../src/model.ts';
import type { BatchSink, ChannelSubscription, Gate, Subscriber } from './types.ts';

/** Options of the CometD subscriber. */
export interface CometdSubscriberOptions {
  /** `https://<MyDomain>.my.salesforce.com/cometd/<apiVersion>`. */
  cometdUrl: string;
  /** Returns a usable access token; `fresh` asks for a new one after Salesforce refused the old. */
  getAccessToken(fresh: boolean): Promise<string>;
  channels: readonly ChannelSubscription[];
  /** Replay IDs committed in the store, by channel. */
  checkpoints: ReadonlyMap<string, string>;
  sink: BatchSink;
  /** Backpressure: awaited before every `/meta/connect`. */
  gate: Gate;
  logger: Logger;
  /** Called when the subscriber cannot go on (the sink failed). */
  onFatal(err: unknown): void;
  /** Told after every successful handshake (the first connects; later ones are reconnects). */
  onHandshake?(): void;
  /** Seconds faye waits before retrying a failed request. @default 2 */
  retrySeconds?: number;
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
/** Most events held uncommitted across responses during a burst. */
const MAX_UNCOMMITTED_EVENTS = 10_000;
/** Oldest an uncommitted event may get before it is committed anyway. */
const MAX_UNCOMMITTED_MS = 250;

/** Creates a CometD subscriber for the given channels. */
export function createCometdSubscriber(options: CometdSubscriberOptions): Subscriber {
  return new CometdSubscriber(options);
}

class CometdSubscriber implements Subscriber {
  readonly #opts: CometdSubscriberOptions;
  readonly #committed: Map<string, string>;
  readonly #confirmed = new Set<string>();
  #buffer: RawEvent[] = [];
  /** Buffer length when the previous `/meta/connect` went out. */
  #sinceLastConnect = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #client: FayeClient | undefined;
  #stopping = false;
  #rebuilding = false;

  constructor(options: CometdSubscriberOptions) {
    this.#opts = options;
    this.#committed = new Map(options.checkpoints);
  }

  get subscribed(): boolean {
    return this.#confirmed.size === this.#opts.channels.length;
  }

  async start(): Promise<void> {
    await this.#connect(false);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const client = this.#client;
    this.#client = undefined;
    await this.#flush();
    if (client) await Promise.resolve(client.disconnect()).catch(() => undefined);
  }

  async #connect(freshToken: boolean): Promise<void> {
    const token = await this.#opts.getAccessToken(freshToken);
    const client = new faye.Client(this.#opts.cometdUrl, { retry: this.#opts.retrySeconds ?? 2, timeout: 120 });
    client.disable('websocket');
    client.setHeader('Authorization', `Bearer ${token}`);
    client.addExtension({
      outgoing: (message: BayeuxMessage, next: Next) => this.#outgoing(client, message, next),
      incoming: (message: BayeuxMessage, next: Next) => this.#incoming(client, message, next),
    });
    this.#client = client;
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
        this.#flush().then(() => {
          message.ext = { ...message.ext, replay: this.#replayMap() };
          next(message);
        }, (err) => this.#fatal(err));
        return;
      case '/meta/connect':
        this.#maybeFlush().then(() => this.#opts.gate()).then(() => {
          if (this.#stopping || client !== this.#client) return next(null);
          next(message);
        }, (err) => this.#fatal(err));
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
    else if (channel === '/meta/subscribe') {
      for (const name of [message.subscription ?? []].flat()) this.#confirmed.add(name);
      this.#opts.logger.info({ channel: message.subscription, replay: this.#replayMap() }, 'subscribed');
    } else if (channel === '/meta/handshake') {
      this.#opts.logger.info({ event: 'handshake' }, 'handshake successful');
      this.#opts.onHandshake?.();
    }
    next(message);
  }

  #onFailure(client: FayeClient, message: BayeuxMessage): void {
    const reason = String((message.ext?.sfdc as { failureReason?: string } | undefined)?.failureReason ?? message.error ?? 'unknown');
    this.#opts.logger.warn({ event: 'bayeux_failure', channel: message.channel, error: message.error, reason, advice: message.advice }, 'streaming request failed');
    const authFailure = reason.startsWith('401') || message.error?.startsWith('401');
    if (message.advice?.reconnect === 'none' || authFailure) {
      // faye gives up for good on reconnect:none; a new client with a new token resumes
      // from the committed replay IDs.
      this.#rebuild(client, Boolean(authFailure));
    }
  }

  #rebuild(client: FayeClient, freshToken: boolean): void {
    if (this.#rebuilding || this.#stopping) return;
    this.#rebuilding = true;
    this.#client = undefined;
    Promise.resolve(client.disconnect()).catch(() => undefined);
    const attempt = (delayMs: number): void => {
      setTimeout(() => {
        if (this.#stopping) return;
        this.#connect(freshToken).then(() => { this.#rebuilding = false; }, (err) => {
          this.#opts.logger.warn({ err }, 'reconnect failed; retrying');
          attempt(Math.min(delayMs * 2, 30_000));
        });
      }, delayMs);
    };
    attempt(500 + Math.random() * 500);
  }

  #replayMap(): Record<string, number> {
    const map: Record<string, number> = {};
    for (const c of this.#opts.channels) {
      const stored = this.#committed.get(c.name);
      map[c.name] = stored === undefined ? c.replayFrom : Number(stored);
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
      for (const [channel, replayId] of checkpoints) this.#committed.set(channel, replayId);
    });
    return this.#flushing;
  }

  #fatal(err: unknown): void {
    this.#stopping = true;
    this.#opts.onFatal(err);
  }
}

function toRawEvent(channel: string, data: BayeuxMessage['data']): RawEvent {
  const replay = data?.event?.replayId;
  const replayId = typeof replay === 'number' || typeof replay === 'string' ? String(replay) : '';
  return { channel, replayId, data, receivedAt: Date.now() };
}
