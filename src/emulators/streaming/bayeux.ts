/**
 * The Bayeux 1.0 engine behind `/cometd/<version>`: handshake, connect, subscribe, unsubscribe
 * and disconnect, with Salesforce's rules (docs/protocols.md §1). It knows nothing of HTTP: each
 * request arrives as an `Exchange`, and a `/meta/connect` may keep its exchange open (held)
 * until events arrive, its timeout passes, or the client sends another connect.
 *
 * Hand-written rather than faye's own server (`NodeAdapter`): faye fans every publish out to
 * every subscriber of a channel and keeps no history, while Salesforce replays each client from
 * its own replay ID; faye answers an unknown client `401:<id>:Unknown client` where Salesforce
 * says `403::Unknown client`; and the faults (held or hung connects, 503 on one phase, daily and
 * concurrent limits) need each exchange in hand. Extensions could rewrite errors, not replay.
 */
import { randomBytes } from 'node:crypto';
import type { EventLog } from './event-log.ts';
import { ERR, type FaultEffect, type Faults } from './faults.ts';
import { Sessions, type Client, type Held } from './sessions.ts';
import type { FaultPhase, FaultSpec } from './types.ts';

/** One HTTP request as the engine sees it. */
export interface Exchange {
  /** Token from `Authorization: Bearer|OAuth <t>`; undefined when absent or malformed. */
  readonly token: string | undefined;
  readonly cookies: ReadonlyMap<string, string>;
  /** Queues a `Set-Cookie` header for the reply. */
  setCookie(cookie: string): void;
  /** Answers with the JSON array of the given message texts. */
  reply(parts: string[]): void;
  /** Destroys the socket without an answer. */
  drop(): void;
  /** Called if the client goes away before the reply. */
  onAbort(cb: () => void): void;
}

/**
 * The access tokens the org accepts: the configured one plus every token its OAuth endpoint
 * issued. A fault revokes them all at once (a session timeout or an admin's revoke).
 */
export class TokenGate {
  readonly #valid = new Set<string>();
  constructor(token: string) {
    this.#valid.add(token);
  }
  isValid(token: string | undefined): boolean {
    return token !== undefined && this.#valid.has(token);
  }
  /** Revokes every token accepted so far. */
  revoke(): void {
    this.#valid.clear();
  }
  /** Makes `token` the only accepted one. */
  set(token: string): void {
    this.#valid.clear();
    this.#valid.add(token);
  }
  /** Accepts one more token (issued by the token endpoint). */
  add(token: string): void {
    this.#valid.add(token);
  }
}

/** Timings and limits of the engine (filled defaults of the emulator options). */
export interface EngineOptions {
  connectTimeoutMs: number;
  clientTimeoutMs: number;
  maxEventsPerResponse: number;
}

/** Cookie names Salesforce sets on the handshake; both must come back on every later request. */
export const BROWSER_COOKIE = 'BAYEUX_BROWSER';
export const STREAM_COOKIE = 'sfdc-stream';

type Message = Record<string, unknown>;

const PHASE_OF = new Map<unknown, FaultPhase>([
  ['/meta/handshake', 'handshake'],
  ['/meta/connect', 'connect'],
  ['/meta/subscribe', 'subscribe'],
]);

/** Runs Bayeux for every client of one emulator. */
export class BayeuxEngine {
  readonly #log: EventLog;
  readonly #faults: Faults;
  readonly #tokens: TokenGate;
  readonly #opts: EngineOptions;
  readonly #sessions: Sessions;
  /** This server's `sfdc-stream` value: a client whose cookie differs talks to "another server". */
  readonly #streamCookie = randomBytes(24).toString('base64url');
  #stallTimer: NodeJS.Timeout | undefined;
  #closed = false;
  handshakes = 0;
  connects = 0;

  constructor(log: EventLog, faults: Faults, tokens: TokenGate, opts: EngineOptions) {
    this.#log = log;
    this.#faults = faults;
    this.#tokens = tokens;
    this.#opts = opts;
    this.#sessions = new Sessions(
      log,
      opts,
      (client, held, deliver) => this.#answer(client, held, deliver),
      () => this.#faults.stallRemaining(),
    );
  }

  /** Handles one request: a batch of messages, with at most one `/meta/connect`, answered last. */
  process(ex: Exchange, messages: unknown[]): void {
    if (this.#closed) return ex.drop();
    for (const m of messages) {
      const phase = isMessage(m) ? PHASE_OF.get(m.channel) : undefined;
      if (phase && this.#faults.take(phase, true)) return ex.drop();
    }
    const replies: string[] = [];
    let connect: Message | undefined;
    for (const m of messages) {
      if (!isMessage(m) || typeof m.channel !== 'string') {
        replies.push(JSON.stringify({ successful: false, error: '400::Bad message: no channel' }));
        continue;
      }
      switch (m.channel) {
        case '/meta/handshake':
          replies.push(this.#handshake(ex, m));
          break;
        case '/meta/connect':
          if (connect) replies.push(fail(m, '400::Only one /meta/connect per request'));
          else connect = m;
          break;
        case '/meta/subscribe':
          replies.push(this.#subscribe(ex, m));
          break;
        case '/meta/unsubscribe':
          replies.push(this.#unsubscribe(ex, m));
          break;
        case '/meta/disconnect':
          replies.push(this.#disconnect(ex, m));
          break;
        default:
          replies.push(
            fail(m, m.channel.startsWith('/meta/') ? `400::Unknown meta channel {${m.channel}}` : `403::Publish not allowed on {${m.channel}}`),
          );
      }
    }
    if (connect) this.#connect(ex, connect, replies);
    else ex.reply(replies);
  }

  /** Wakes held connects of clients subscribed to any of `channels` (after a publish). */
  notify(channels: readonly string[]): void {
    this.#sessions.notify(channels);
  }

  /** Applies a fault: queued ones wait for a request, connect faults also hit held connects. */
  injectFault(fault: FaultSpec): void {
    if (fault.type === 'unknown-client') return this.#dropAll();
    if (fault.type === 'hang-clients') {
      for (const client of this.#sessions.all()) client.hung = true;
      return;
    }
    this.#faults.add(fault);
    if (fault.type === 'stall') {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = setTimeout(() => this.#sessions.wakeAll(), this.#faults.stallRemaining() + 1);
      this.#stallTimer.unref();
      return;
    }
    for (const client of [...this.#sessions.all()]) {
      const held = client.held;
      if (!held) continue;
      const effect = this.#faults.takeAny('connect');
      if (!effect) break;
      this.#sessions.release(client, held);
      if (effect.kind === 'drop') held.ex.drop();
      else held.ex.reply([...held.replies, this.#connectFault(client, held.id, effect)]);
    }
  }

  /** Clients known and subscriptions per channel. */
  counts(): { clients: number; subscriptions: Record<string, number> } {
    return { clients: this.#sessions.size, subscriptions: this.#sessions.subscriptionCounts() };
  }

  get delivered(): number {
    return this.#sessions.delivered;
  }

  /** Stops timers and destroys held connections. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#stallTimer);
    this.#sessions.close();
  }

  #handshake(ex: Exchange, m: Message): string {
    this.handshakes++;
    if (!this.#tokens.isValid(ex.token)) {
      return JSON.stringify({
        ext: { sfdc: { failureReason: ex.token === undefined ? ERR.authMissing : ERR.authInvalid } },
        advice: { reconnect: 'none' },
        channel: '/meta/handshake',
        id: m.id,
        error: ERR.handshakeDenied,
        successful: false,
      });
    }
    const fault = this.#faults.take('handshake');
    if (fault?.kind === 'reply') return faultReply(m, fault);
    const types = m.supportedConnectionTypes;
    if (!Array.isArray(types) || !types.includes('long-polling')) {
      return fail(m, ERR.invalidConnectionType(Array.isArray(types) && types.length > 0 ? String(types[0]) : 'none'));
    }
    const client = this.#sessions.create();
    const browser = ex.cookies.get(BROWSER_COOKIE) ?? randomBytes(12).toString('base64url');
    ex.setCookie(`${BROWSER_COOKIE}=${browser}; Path=/; HttpOnly`);
    ex.setCookie(`${STREAM_COOKIE}=${this.#streamCookie}; Path=/`);
    return JSON.stringify({
      ext: { replay: true, 'payload.format': true },
      minimumVersion: '1.0',
      clientId: client.id,
      supportedConnectionTypes: ['long-polling'],
      channel: '/meta/handshake',
      id: m.id,
      version: '1.0',
      successful: true,
      advice: { interval: 0, timeout: this.#opts.connectTimeoutMs, reconnect: 'retry' },
    });
  }

  /** The client a request speaks for, if its cookies and clientId are known here. */
  #clientOf(ex: Exchange, m: Message): Client | undefined {
    if (ex.cookies.get(STREAM_COOKIE) !== this.#streamCookie || !ex.cookies.has(BROWSER_COOKIE)) return undefined;
    return typeof m.clientId === 'string' ? this.#sessions.get(m.clientId) : undefined;
  }

  #connect(ex: Exchange, m: Message, replies: string[]): void {
    this.connects++;
    const answerNow = (text: string): void => ex.reply([...replies, text]);
    if (!this.#tokens.isValid(ex.token)) {
      const known = typeof m.clientId === 'string' ? this.#sessions.get(m.clientId) : undefined;
      if (known) this.#sessions.remove(known);
      return answerNow(
        JSON.stringify({
          clientId: m.clientId,
          advice: { reconnect: 'none', interval: 0 },
          channel: '/meta/connect',
          id: m.id,
          error: ex.token === undefined ? ERR.authMissing : ERR.authInvalid,
          successful: false,
        }),
      );
    }
    const client = this.#clientOf(ex, m);
    if (!client) return answerNow(unknownClient(m));
    if (m.connectionType !== 'long-polling') return answerNow(fail(m, ERR.invalidConnectionType(String(m.connectionType))));
    const fault = this.#faults.take('connect');
    if (fault?.kind === 'reply') return answerNow(this.#connectFault(client, m.id, fault));
    const advice = m.advice as { timeout?: unknown } | undefined;
    const asked = typeof advice?.timeout === 'number' && advice.timeout >= 0 ? advice.timeout : Infinity;
    // Other replies in the batch must not wait behind a held connect.
    const timeout = replies.length > 0 ? 0 : Math.min(asked, this.#opts.connectTimeoutMs);
    this.#sessions.hold(client, ex, m.id, replies, timeout);
  }

  /** The reply of a connect hit by a fault; 401 and limit faults end the client. */
  #connectFault(client: Client, id: unknown, fault: FaultEffect & { kind: 'reply' }): string {
    if (fault.revokeToken) this.#tokens.revoke();
    if (fault.advice?.reconnect === 'none') this.#sessions.remove(client);
    return faultReply({ channel: '/meta/connect', id, clientId: client.id }, fault);
  }

  #subscribe(ex: Exchange, m: Message): string {
    const base = { clientId: m.clientId, channel: '/meta/subscribe', id: m.id, subscription: m.subscription };
    const failWith = (error: string, ext?: unknown): string => JSON.stringify({ ...base, error, successful: false, ext });
    if (!this.#tokens.isValid(ex.token)) return failWith(ex.token === undefined ? ERR.authMissing : ERR.authInvalid);
    const client = this.#clientOf(ex, m);
    if (!client) return unknownClient(m);
    const fault = this.#faults.take('subscribe');
    if (fault?.kind === 'reply') return failWith(fault.error, fault.failureReason ? { sfdc: { failureReason: fault.failureReason } } : undefined);
    const channels = typeof m.subscription === 'string' ? [m.subscription] : m.subscription;
    if (!Array.isArray(channels) || channels.length === 0) return failWith(ERR.channelNotSpecified);
    const ext = m.ext as { replay?: unknown } | undefined;
    const map = isMessage(ext?.replay) ? ext.replay : undefined;
    const plan: Array<[string, number]> = [];
    for (const channel of channels) {
      if (typeof channel !== 'string' || channel === '') return failWith(ERR.channelNotSpecified);
      if (!channel.startsWith('/')) return failWith(ERR.channelNoSlash);
      if (!/^\/(data|event|topic|u)\/[^*\s]+$/.test(channel)) return failWith(ERR.channelMissing(channel));
      // Without a replay map Salesforce sends new events only (-1).
      if (!map) {
        plan.push([channel, -1]);
        continue;
      }
      if (!Object.hasOwn(map, channel)) return failWith(ERR.replayMissing(channel));
      const value = map[channel];
      const from = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      const valid = typeof from === 'number' && Number.isInteger(from) && (from === -1 || from === -2 || (from >= 0 && this.#log.isRetained(from)));
      if (!valid) return failWith(ERR.replayInvalid(value));
      plan.push([channel, from]);
    }
    for (const [channel, from] of plan) this.#sessions.subscribe(client, channel, this.#log.open(channel, from));
    return JSON.stringify({ ...base, successful: true });
  }

  #unsubscribe(ex: Exchange, m: Message): string {
    const base = { clientId: m.clientId, channel: '/meta/unsubscribe', id: m.id, subscription: m.subscription };
    if (!this.#tokens.isValid(ex.token)) return JSON.stringify({ ...base, error: ERR.authInvalid, successful: false });
    const client = this.#clientOf(ex, m);
    if (!client) return unknownClient(m);
    const channels = typeof m.subscription === 'string' ? [m.subscription] : m.subscription;
    if (!Array.isArray(channels)) return JSON.stringify({ ...base, error: ERR.channelNotSpecified, successful: false });
    for (const channel of channels) if (typeof channel === 'string') this.#sessions.unsubscribe(client, channel);
    return JSON.stringify({ ...base, successful: true });
  }

  #disconnect(ex: Exchange, m: Message): string {
    const client = this.#clientOf(ex, m);
    if (!client) return unknownClient(m);
    const held = client.held;
    if (held) this.#answer(client, held, false);
    this.#sessions.remove(client);
    return JSON.stringify({ clientId: client.id, channel: '/meta/disconnect', id: m.id, successful: true });
  }

  /** Answers a held connect, with up to maxEventsPerResponse events when `deliver`. */
  #answer(client: Client, held: Held, deliver: boolean): void {
    this.#sessions.release(client, held);
    const parts = held.replies;
    if (deliver) this.#sessions.read(client, parts);
    const reply: Message = { clientId: client.id, channel: '/meta/connect', id: held.id, successful: true };
    if (held.first) reply.advice = { interval: 0, timeout: this.#opts.connectTimeoutMs, reconnect: 'retry' };
    parts.push(JSON.stringify(reply));
    held.ex.reply(parts);
  }

  #dropAll(): void {
    for (const client of [...this.#sessions.all()]) {
      const held = client.held;
      if (held) {
        this.#sessions.release(client, held);
        held.ex.reply([...held.replies, unknownClient({ channel: '/meta/connect', id: held.id })]);
      }
      this.#sessions.remove(client);
    }
  }
}

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(m: Message, error: string): string {
  return JSON.stringify({ clientId: m.clientId, channel: m.channel, id: m.id, error, successful: false });
}

function unknownClient(m: Message): string {
  return JSON.stringify({
    advice: { interval: 0, reconnect: 'handshake' },
    channel: m.channel,
    id: m.id,
    error: ERR.unknownClient,
    successful: false,
  });
}

function faultReply(m: Message, fault: FaultEffect & { kind: 'reply' }): string {
  return JSON.stringify({
    clientId: m.clientId,
    channel: m.channel,
    id: m.id,
    error: fault.error,
    successful: false,
    ext: fault.failureReason ? { sfdc: { failureReason: fault.failureReason } } : undefined,
    advice: fault.advice,
  });
}
