/**
 * Client sessions of the Bayeux engine: who is handshaken, what each subscribed to (a cursor
 * per channel into the shared event log), the one `/meta/connect` each may have held open,
 * and the timers that answer or expire them. A publish wakes held connects in one batch per
 * event-loop turn, so a burst goes out as full responses instead of one event each.
 */
import { randomBytes } from 'node:crypto';
import type { Exchange } from './bayeux.ts';
import type { Cursor, EventLog } from './event-log.ts';

/** A `/meta/connect` waiting for events. */
export interface Held {
  readonly ex: Exchange;
  /** Replies to the other messages of its request, sent with it. */
  readonly replies: string[];
  readonly id: unknown;
  readonly deadline: number;
  /** The first connect after a handshake is answered at once, with advice. */
  readonly first: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** One handshaken client. */
export interface Client {
  readonly id: string;
  readonly subs: Map<string, Cursor>;
  /** `subs` values, kept as an array for the read path. */
  cursors: Cursor[];
  connected: boolean;
  held: Held | undefined;
  /** When it last sent a request or got a connect answer (ms), for the client timeout. */
  lastSeen: number;
  /** A silently stuck session: its connects are held and never answered (jsforce#129). */
  hung: boolean;
}

interface SessionOptions {
  clientTimeoutMs: number;
  maxEventsPerResponse: number;
}

/** Answers a held connect; `deliver` false answers it with no events. */
type Answer = (client: Client, held: Held, deliver: boolean) => void;

const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** All clients of one engine. */
export class Sessions {
  readonly #log: EventLog;
  readonly #opts: SessionOptions;
  readonly #answer: Answer;
  readonly #stallRemaining: () => number;
  readonly #clients = new Map<string, Client>();
  readonly #byChannel = new Map<string, Set<Client>>();
  readonly #wake = new Set<Client>();
  #wakeScheduled = false;
  readonly #sweeper: NodeJS.Timeout;
  delivered = 0;

  constructor(log: EventLog, opts: SessionOptions, answer: Answer, stallRemaining: () => number) {
    this.#log = log;
    this.#opts = opts;
    this.#answer = answer;
    this.#stallRemaining = stallRemaining;
    const period = Math.max(10, Math.min(1000, Math.floor(opts.clientTimeoutMs / 4)));
    this.#sweeper = setInterval(() => this.#sweep(), period);
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#clients.size;
  }

  /** A new client with a random Salesforce-like ID. */
  create(): Client {
    const bytes = randomBytes(27);
    let id = '';
    for (const b of bytes) id += ID_ALPHABET[b % 36];
    const client: Client = { id, subs: new Map(), cursors: [], connected: false, held: undefined, lastSeen: Date.now(), hung: false };
    this.#clients.set(id, client);
    return client;
  }

  get(id: string): Client | undefined {
    const client = this.#clients.get(id);
    if (client) client.lastSeen = Date.now();
    return client;
  }

  all(): IterableIterator<Client> {
    return this.#clients.values();
  }

  /** Forgets a client; a connect it still holds is cut off. */
  remove(client: Client): void {
    const held = client.held;
    if (held) {
      this.release(client, held);
      held.ex.drop();
    }
    for (const channel of client.subs.keys()) this.#unindex(client, channel);
    client.subs.clear();
    client.cursors = [];
    this.#clients.delete(client.id);
  }

  /** Sets (or replaces) the client's cursor on `channel`. */
  subscribe(client: Client, channel: string, cursor: Cursor): void {
    client.subs.set(channel, cursor);
    client.cursors = [...client.subs.values()];
    let set = this.#byChannel.get(channel);
    if (!set) this.#byChannel.set(channel, (set = new Set()));
    set.add(client);
    // A replay (-2 or N) may have made events pending for a connect already held.
    if (client.held) this.#schedule(client);
  }

  unsubscribe(client: Client, channel: string): void {
    if (!client.subs.delete(channel)) return;
    client.cursors = [...client.subs.values()];
    this.#unindex(client, channel);
  }

  /** Holds a connect: answers it now if due, else when events come or its timeout passes. */
  hold(client: Client, ex: Exchange, id: unknown, replies: string[], timeoutMs: number): void {
    const previous = client.held;
    // One held connect per client: a second one releases the first.
    if (previous) this.#answer(client, previous, false);
    const held: Held = { ex, replies, id, deadline: Date.now() + timeoutMs, first: !client.connected, timer: undefined };
    client.connected = true;
    client.held = held;
    ex.onAbort(() => this.release(client, held));
    this.#settle(client, held);
  }

  /** Detaches a held connect from its client and stops its timer. */
  release(client: Client, held: Held): void {
    clearTimeout(held.timer);
    held.timer = undefined;
    if (client.held === held) client.held = undefined;
    client.lastSeen = Date.now();
  }

  /** Appends the client's next batch of event messages to `out`. */
  read(client: Client, out: string[]): void {
    this.delivered += this.#log.read(client.cursors, this.#opts.maxEventsPerResponse, out);
  }

  /** Wakes held connects of the subscribers of `channels`. */
  notify(channels: readonly string[]): void {
    for (const channel of channels) {
      const set = this.#byChannel.get(channel);
      if (!set) continue;
      for (const client of set) if (client.held) this.#schedule(client);
    }
  }

  /** Re-examines every held connect (after a stall ends). */
  wakeAll(): void {
    for (const client of this.#clients.values()) if (client.held) this.#settle(client, client.held);
  }

  subscriptionCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [channel, set] of this.#byChannel) out[channel] = set.size;
    return out;
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const client of [...this.#clients.values()]) this.remove(client);
    this.#wake.clear();
  }

  /** Answers a held connect if it is due, else arms its timer for when it may be. */
  #settle(client: Client, held: Held): void {
    if (client.held !== held) return;
    if (client.hung) {
      clearTimeout(held.timer);
      held.timer = undefined;
      return;
    }
    const stall = this.#stallRemaining();
    if (stall > 0) return this.#arm(client, held, stall + 1);
    const now = Date.now();
    if (held.first || now >= held.deadline || this.#log.hasPending(client.cursors)) {
      return this.#answer(client, held, true);
    }
    this.#arm(client, held, held.deadline - now);
  }

  #arm(client: Client, held: Held, ms: number): void {
    clearTimeout(held.timer);
    held.timer = setTimeout(() => this.#settle(client, held), ms);
  }

  /** Batches wake-ups to the end of this event-loop turn, so a burst fills one response. */
  #schedule(client: Client): void {
    this.#wake.add(client);
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      const clients = [...this.#wake];
      this.#wake.clear();
      for (const c of clients) if (c.held) this.#settle(c, c.held);
    });
  }

  #unindex(client: Client, channel: string): void {
    const set = this.#byChannel.get(channel);
    if (!set) return;
    set.delete(client);
    if (set.size === 0) this.#byChannel.delete(channel);
  }

  /** Drops clients that sent nothing for clientTimeoutMs after their last answer. */
  #sweep(): void {
    const limit = Date.now() - this.#opts.clientTimeoutMs;
    for (const client of [...this.#clients.values()]) {
      if (!client.held && client.lastSeen < limit) this.remove(client);
    }
  }
}
