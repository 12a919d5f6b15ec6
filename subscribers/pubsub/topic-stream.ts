/**
 * One topic's Subscribe stream with the outbox's flow control: ask for N events, hand what
 * arrives to the sink, and ask for more only while the backlog gate (which counts the events
 * held uncommitted) is open. A stream that trickles commits what it received at once (the
 * responses that queued up meanwhile together), before asking for more. A stream in a burst
 * (responses at least half full) asks for the next events while the previous ones are being
 * committed, and commits several responses in one transaction: at most MAX_UNCOMMITTED_EVENTS
 * held, none longer than MAX_UNCOMMITTED_MS, the same bounds as the CometD subscriber's. A
 * watchdog restarts a stream that has been silent past the keepalive interval; an error ends the
 * stream and the subscriber decides, through `classifyStreamError`, how to open the next one.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RawEvent } from '../../src/core/model.ts';
import { admit, type ChannelSubscription } from '../types.ts';
import { classifyStreamError, type StreamError } from './errors.ts';
import { REPLAY_PRESET, type ConsumerEvent, type FetchRequest, type FetchResponse, type ReplayPresetValue } from './proto.ts';
import { parseStoredReplay, replayIdText } from './replay-id.ts';

/** Most events held received and uncommitted during a burst; past it, intake waits for the commit. */
const MAX_UNCOMMITTED_EVENTS = 4_000;
/** Longest an event waits uncommitted during a burst. */
const MAX_UNCOMMITTED_MS = 250;

/** What a topic stream needs from its subscriber. */
export interface TopicStreamHost {
  readonly logger: Logger;
  /** Events requested per FetchRequest (≤ 100). */
  readonly batchSize: number;
  readonly keepaliveTimeoutMs: number;
  readonly replayFallback: 'EARLIEST' | 'LATEST';
  /** The server answered on a stream: the connection works. */
  responded?(): void;
  /** Opens a Subscribe call with fresh auth metadata. */
  openCall(): Promise<grpc.ClientDuplexStream<FetchRequest, FetchResponse>>;
  /** Decodes a response's events into CometD-shaped RawEvents; at once when their schemas are known. */
  decode(channel: string, events: readonly ConsumerEvent[], receivedAt: number): RawEvent[] | Promise<RawEvent[]>;
  /** Hands a batch to the sink (serialized across topics); resolves once durable. */
  commit(batch: RawEvent[], checkpoints: ReadonlyMap<string, string>): Promise<void>;
  /** The backlog gate; `pending` events held uncommitted count against it. */
  gate(pending?: number): Promise<void>;
  /** The committed replay ID of a channel (base64, or a CometD decimal from before). */
  committed(channel: string): string | undefined;
  /** A stored replay ID is refused or unusable: the stream resumes from the fallback; events may be lost. */
  replayRefused(channel: string, replayId: string | undefined, fields: Record<string, unknown>, message: string): void;
  /** The stream is being reopened for `cause` after `delayMs` (the watchdog; errors go through onStreamError). */
  reconnecting(channel: string, cause: string, delayMs: number): void;
  /** A stream ended with an error; returns the delay before reopening. */
  onStreamError(channel: string, error: StreamError): Promise<number>;
  fatal(err: unknown): void;
  readonly stopping: boolean;
}

/** Counters of one stream, for tests and logs. */
export interface TopicStreamStats {
  opens: number;
  responses: number;
  keepalives: number;
  watchdogRestarts: number;
  fallbacks: number;
  /** Most events ever requested and not yet received. */
  maxOutstanding: number;
}

/** A topic's subscription, reopened after every error for as long as the subscriber runs. */
export class TopicStream {
  readonly channel: ChannelSubscription;
  readonly stats: TopicStreamStats = { opens: 0, responses: 0, keepalives: 0, watchdogRestarts: 0, fallbacks: 0, maxOutstanding: 0 };
  readonly #host: TopicStreamHost;
  #call: grpc.ClientDuplexStream<FetchRequest, FetchResponse> | undefined;
  /** Responses are handled one after another, in order, across reopenings. */
  #chain: Promise<void> = Promise.resolve();
  #outstanding = 0;
  /** Received, decoded and not yet handed to the sink, with the checkpoint that goes with them. */
  #held: RawEvent[] = [];
  #heldCheckpoint: string | undefined;
  #heldSince = 0;
  /** Commits of held events, one after another. */
  #flushing: Promise<void> = Promise.resolve();
  #flushTimer: NodeJS.Timeout | undefined;
  /** The trickle's next commit (`#flushSoon`). */
  #soon: Promise<void> | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  /** Set after a refused replay ID: the next open starts from the fallback preset. */
  #useFallback = false;

  constructor(channel: ChannelSubscription, host: TopicStreamHost) {
    this.channel = channel;
    this.#host = host;
  }

  /** True while a Subscribe call is open. */
  get open(): boolean {
    return this.#call !== undefined;
  }

  /** Opens the first stream. */
  start(): Promise<void> {
    return this.#open();
  }

  /** Cancels the stream; resolves when what was received is committed. */
  async stop(): Promise<void> {
    this.#disarm();
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    await this.#chain;
    // A failed commit has already stopped the bridge (fatal): nothing is left to hand over.
    await this.#flush().catch(() => undefined);
  }

  async #open(): Promise<void> {
    if (this.#host.stopping) return;
    const name = this.channel.name;
    const first: FetchRequest = { topicName: name, numRequested: this.#host.batchSize };
    const { preset, replayId } = this.#start();
    first.replayPreset = preset;
    if (replayId) first.replayId = replayId;
    const call = await this.#host.openCall();
    if (this.#host.stopping) {
      call.cancel();
      return;
    }
    this.#call = call;
    this.#outstanding = this.#host.batchSize;
    this.stats.opens++;
    this.stats.maxOutstanding = Math.max(this.stats.maxOutstanding, this.#outstanding);
    call.on('data', (response: FetchResponse) => {
      if (call !== this.#call) return;
      this.#arm();
      const receivedAt = Date.now();
      this.#chain = this.#chain.then(() => this.#onResponse(call, response, receivedAt)).catch((err) => this.#failCall(call, err));
    });
    call.on('error', (err: grpc.ServiceError) => this.#onCallError(call, err));
    call.on('status', (status: grpc.StatusObject) => {
      // A stream the server ends without an error status is over all the same.
      if (status.code === 0 && call === this.#call)
        this.#onCallError(call, { code: 14, details: 'the server ended the stream', metadata: status.metadata } as grpc.ServiceError);
    });
    call.write(first);
    this.#arm();
    this.#host.logger.info(
      { event: 'pubsub_subscribed', channel: name, replayPreset: presetName(preset), replayId: replayId ? replayIdText(replayId) : undefined },
      'subscribed',
    );
  }

  /** Where the next stream starts: after the committed replay ID, or the channel's preset. */
  #start(): { preset: ReplayPresetValue; replayId?: Buffer } {
    const fallback = this.#host.replayFallback === 'LATEST' ? REPLAY_PRESET.LATEST : REPLAY_PRESET.EARLIEST;
    if (this.#useFallback) {
      this.#useFallback = false;
      return { preset: fallback };
    }
    const stored = this.#host.committed(this.channel.name);
    if (stored === undefined) return { preset: this.channel.replayFrom === -2 ? REPLAY_PRESET.EARLIEST : REPLAY_PRESET.LATEST };
    const parsed = parseStoredReplay(stored);
    if (parsed.kind === 'invalid') {
      this.stats.fallbacks++;
      this.#host.replayRefused(
        this.channel.name,
        stored,
        { reason: parsed.reason },
        `stored checkpoint of ${this.channel.name} is unusable (${parsed.reason}); resubscribing from ${this.#host.replayFallback}: events may have been missed, reconcile this channel`,
      );
      return { preset: fallback };
    }
    if (parsed.kind === 'cometd') {
      this.#host.logger.info(
        { event: 'pubsub_checkpoint_from_cometd', channel: this.channel.name, replayId: parsed.decimal },
        'resuming from a checkpoint the CometD transport stored',
      );
    }
    return { preset: REPLAY_PRESET.CUSTOM, replayId: parsed.bytes };
  }

  async #onResponse(call: grpc.ClientDuplexStream<FetchRequest, FetchResponse>, response: FetchResponse, receivedAt: number): Promise<void> {
    this.stats.responses++;
    this.#host.responded?.();
    const events = response.events ?? [];
    if (events.length === 0) {
      this.stats.keepalives++;
      // With credit left and nothing delivered, the server has nothing for us up to the latest
      // replay ID: storing it keeps a quiet channel's checkpoint inside the retention window.
      const latest = response.latestReplayId;
      if (latest && latest.length > 0 && this.#outstanding > 0 && call === this.#call && this.#held.length === 0) {
        const text = replayIdText(latest);
        if (text !== this.#host.committed(this.channel.name)) {
          this.#heldCheckpoint = text;
          await this.#flush();
        }
      }
      return;
    }
    this.#outstanding = Math.max(0, this.#outstanding - events.length);
    const decoded = this.#host.decode(this.channel.name, events, receivedAt);
    const batch = Array.isArray(decoded) ? decoded : await decoded;
    if (this.#held.length === 0) this.#heldSince = receivedAt;
    for (const e of batch) this.#held.push(e);
    this.#heldCheckpoint = batch.at(-1)!.replayId;
    const burst = events.length >= this.#host.batchSize / 2;
    let committed: Promise<void> | undefined;
    if (!burst) committed = this.#flushSoon(call);
    else if (this.#held.length >= MAX_UNCOMMITTED_EVENTS || receivedAt - this.#heldSince >= MAX_UNCOMMITTED_MS) await this.#flush();
    else
      this.#flushTimer ??= setTimeout(() => {
        this.#flush().catch((err) => this.#failCall(call, err));
      }, MAX_UNCOMMITTED_MS);
    if (call !== this.#call || this.#outstanding > this.#host.batchSize / 2) return;
    // More is asked for only once what was received is committed.
    await committed;
    await this.#admit();
    if (call !== this.#call || this.#host.stopping) return;
    const more = this.#host.batchSize - this.#outstanding;
    this.#outstanding += more;
    this.stats.maxOutstanding = Math.max(this.stats.maxOutstanding, this.#outstanding);
    call.write({ topicName: this.channel.name, numRequested: more });
  }

  /** Waits for the backlog gate before asking for more (see `admit`). */
  #admit(): Promise<void> {
    return admit(
      (n) => this.#host.gate(n),
      this.#held.length,
      () => this.#flush(),
    );
  }

  /**
   * A trickle's commit, started once the responses already received are decoded and held (the
   * check phase of the event loop): responses that queued up while the bridge was busy (a commit,
   * a delivery round, a pause of the process) share one transaction instead of one each, as a
   * CometD connect brings everything that arrived meanwhile. A quiet stream's response is
   * committed at once, alone.
   */
  #flushSoon(call: grpc.ClientDuplexStream<FetchRequest, FetchResponse>): Promise<void> {
    if (this.#soon) return this.#soon;
    const soon = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#soon = undefined;
      return this.#flush();
    });
    // Not always awaited (a response with credit left goes on): a failed commit is fatal either way.
    soon.catch((err) => this.#failCall(call, err));
    this.#soon = soon;
    return soon;
  }

  /** Hands the held events and their checkpoint to the sink; serialized, so commits keep arrival order. */
  #flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushing = this.#flushing.then(async () => {
      const checkpoint = this.#heldCheckpoint;
      if (checkpoint === undefined) return;
      const batch = this.#held;
      this.#held = [];
      this.#heldCheckpoint = undefined;
      await this.#host.commit(batch, new Map([[this.channel.name, checkpoint]]));
    });
    return this.#flushing;
  }

  /** Handling a response failed (a schema could not be fetched): end the stream, start over. */
  #failCall(call: grpc.ClientDuplexStream<FetchRequest, FetchResponse>, err: unknown): void {
    if ((err as { fatal?: boolean }).fatal) return this.#host.fatal(err);
    const e = err as Partial<grpc.ServiceError>;
    this.#onCallError(call, {
      code: e.code ?? 14,
      details: `handling a response failed: ${(err as Error).message}`,
      metadata: e.metadata,
    } as grpc.ServiceError);
  }

  #onCallError(call: grpc.ClientDuplexStream<FetchRequest, FetchResponse>, err: grpc.ServiceError): void {
    if (call !== this.#call || this.#host.stopping) return;
    this.#call = undefined;
    this.#disarm();
    call.cancel();
    const classified = classifyStreamError(err);
    if (classified.action === 'replay-fallback') {
      this.#useFallback = true;
      this.stats.fallbacks++;
      const replayId = this.#host.committed(this.channel.name);
      this.#host.replayRefused(
        this.channel.name,
        replayId,
        { errorCode: classified.errorCode, details: classified.details },
        `Salesforce refused replay ID ${replayId ?? '(none)'} of ${this.channel.name}; resubscribing from ${this.#host.replayFallback}: events may have been missed, reconcile this channel`,
      );
    }
    this.#reopenAfter(this.#host.onStreamError(this.channel.name, classified));
  }

  /** Reopens once the delay has passed and everything received before is committed. */
  #reopenAfter(delay: Promise<number>): void {
    this.#chain = this.#chain
      .then(() => delay)
      .then((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
      .then(() => this.#flush())
      .then(() => this.#open())
      .catch((err) => {
        if (this.#host.stopping) return;
        this.#host.logger.warn({ event: 'pubsub_reopen_failed', channel: this.channel.name, err }, 'could not reopen the stream; retrying');
        this.#reopenAfter(this.#host.onStreamError(this.channel.name, classifyStreamError(err as grpc.ServiceError)));
      });
  }

  /** The watchdog: a stream silent past the keepalive interval (plus margin) is stale. */
  #arm(): void {
    // Every response re-arms it: restarting the one timer costs less than a new one each time.
    if (this.#watchdog) {
      this.#watchdog.refresh();
      return;
    }
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const call = this.#call;
      if (!call || this.#host.stopping) return;
      this.stats.watchdogRestarts++;
      this.#host.logger.warn(
        { event: 'pubsub_stream_stale', channel: this.channel.name, silentMs: this.#host.keepaliveTimeoutMs },
        'no event and no keepalive for too long; restarting the stream',
      );
      this.#call = undefined;
      call.cancel();
      this.#host.reconnecting(this.channel.name, 'watchdog', 0);
      this.#reopenAfter(Promise.resolve(0));
    }, this.#host.keepaliveTimeoutMs);
    this.#watchdog.unref();
  }

  #disarm(): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }
}

function presetName(preset: ReplayPresetValue): string {
  return preset === REPLAY_PRESET.CUSTOM ? 'CUSTOM' : preset === REPLAY_PRESET.EARLIEST ? 'EARLIEST' : 'LATEST';
}
