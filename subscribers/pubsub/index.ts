/**
 * Pub/Sub API subscriber on @grpc/grpc-js: one Subscribe stream per channel on one gRPC
 * channel, Avro payloads decoded with schemas fetched once per schema ID, and the same
 * RawEvents the CometD subscriber produces (CometD-shaped `data`, replay IDs as base64 text of
 * Salesforce's bytes). Flow control, the watchdog and reopening live in `topic-stream.ts`;
 * what an error means, in `errors.ts`.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { backoffDelay } from '../../src/core/backoff.ts';
import { AuthError, Code } from '../../src/core/errors.ts';
import type { RawEvent } from '../../src/core/model.ts';
import type { Subscriber, SubscriberBaseOptions } from '../types.ts';
import { describeSchema, toCometdData, type EventSchema } from './avro.ts';
import type { StreamError } from './errors.ts';
import { orgIdOf, pubSubPackage, type ConsumerEvent, type PubSubClient, type SchemaInfo } from './proto.ts';
import { replayIdText } from './replay-id.ts';
import { TopicStream, type TopicStreamHost, type TopicStreamStats } from './topic-stream.ts';

/** Options of the Pub/Sub subscriber. */
export interface PubSubSubscriberOptions extends SubscriberBaseOptions {
  /** `host:port` of the Pub/Sub API; TLS except for loopback hosts. */
  endpoint: string;
  /** The org's instance URL (the `instanceurl` header). */
  instanceUrl: string;
  /** Returns a usable access token; `fresh` asks for a new one after Salesforce refused the old. */
  getAccessToken(fresh: boolean): Promise<string>;
  /** The org ID (`tenantid` header). @default the org ID the access token starts with */
  tenantId?: string;
  /** Events asked for per FetchRequest, and most held uncommitted per channel. @default 100 */
  batchSize?: number;
  /** A stream silent for this long is restarted (Salesforce keepalives come within 270 s). @default 300000 */
  keepaliveTimeoutMs?: number;
  /** Where to resume when Salesforce refuses a stored replay ID. @default 'EARLIEST' */
  replayFallback?: 'EARLIEST' | 'LATEST';
  /** First retry delay after a stream error; doubles up to 30 s. @default 500 */
  retryBaseMs?: number;
}

/** The Pub/Sub subscriber, with its streams' counters for tests and diagnostics. */
export interface PubSubSubscriber extends Subscriber {
  streamStats(): Record<string, TopicStreamStats>;
}

const LOOPBACK = /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/;

/** Creates a Pub/Sub subscriber for the given channels. */
export function createPubSubSubscriber(options: PubSubSubscriberOptions): PubSubSubscriber {
  return new PubSubSubscriberImpl(options);
}

class PubSubSubscriberImpl implements PubSubSubscriber, TopicStreamHost {
  readonly #opts: PubSubSubscriberOptions;
  readonly #committed: Map<string, string>;
  readonly #schemas = new Map<string, Promise<EventSchema>>();
  /** The schemas fetched so far, for decoding without a promise per event. */
  readonly #known = new Map<string, EventSchema>();
  readonly #streams: TopicStream[];
  readonly #failures = new Map<string, number>();
  #client: PubSubClient | undefined;
  #token: string | undefined;
  #refreshing: Promise<string> | undefined;
  #sinkChain: Promise<void> = Promise.resolve();
  #stopping = false;
  readonly batchSize: number;
  readonly keepaliveTimeoutMs: number;
  readonly replayFallback: 'EARLIEST' | 'LATEST';

  constructor(options: PubSubSubscriberOptions) {
    this.#opts = options;
    this.#committed = new Map(options.checkpoints);
    this.batchSize = Math.max(1, Math.min(100, options.batchSize ?? 100));
    this.keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 300_000;
    this.replayFallback = options.replayFallback ?? 'EARLIEST';
    this.#streams = options.channels.map((c) => new TopicStream(c, this));
  }

  get logger(): Logger {
    return this.#opts.logger;
  }
  get stopping(): boolean {
    return this.#stopping;
  }
  get subscribed(): boolean {
    return this.#streams.every((s) => s.open);
  }

  async start(): Promise<void> {
    this.#token = await this.#opts.getAccessToken(false);
    const plaintext = LOOPBACK.test(this.#opts.endpoint);
    this.#client = new (pubSubPackage().client)(this.#opts.endpoint, plaintext ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(), {
      // A response holds up to 100 events of up to 1 MB each.
      'grpc.max_receive_message_length': 128 * 1024 * 1024,
    });
    await Promise.all(this.#streams.map((s) => s.start()));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#streams.map((s) => s.stop()));
    await this.#sinkChain.catch(() => undefined);
    this.#client?.close();
  }

  streamStats(): Record<string, TopicStreamStats> {
    return Object.fromEntries(this.#streams.map((s) => [s.channel.name, { ...s.stats }]));
  }

  committed(channel: string): string | undefined {
    return this.#committed.get(channel);
  }

  gate(pending?: number): Promise<void> {
    return this.#opts.gate(pending);
  }

  responded(): void {
    this.#opts.events?.connected?.(this.#opts.endpoint);
  }

  async openCall() {
    return this.#client!.Subscribe(this.#metadata());
  }

  /** Batches of all topics go to the sink one at a time, in arrival order. */
  commit(batch: RawEvent[], checkpoints: ReadonlyMap<string, string>): Promise<void> {
    const run = this.#sinkChain.then(async () => {
      await this.#opts.sink(batch, checkpoints);
      for (const [channel, replayId] of checkpoints) this.#committed.set(channel, replayId);
      for (const channel of checkpoints.keys()) this.#failures.delete(channel);
    });
    this.#sinkChain = run.catch(() => undefined);
    return run.catch((err) => {
      this.fatal(err);
      throw Object.assign(new Error('the sink failed', { cause: err }), { fatal: true });
    });
  }

  /** Decodes a response's events (see `TopicStreamHost.decode`). */
  decode(channel: string, events: readonly ConsumerEvent[], receivedAt: number): RawEvent[] | Promise<RawEvent[]> {
    const known = this.#known;
    // The schemas of a topic are known after its first events: decode at once, without a
    // promise per event (a burst decodes a hundred events per response).
    if (!events.every((e) => known.has(e.event?.schemaId ?? ''))) return Promise.all(events.map((e) => this.#decodeFetching(channel, e, receivedAt)));
    return events.map((e) => decodeWith(known.get(e.event?.schemaId ?? '')!, channel, e, receivedAt));
  }

  /** Decodes one event once its schema is fetched; an unknown schema ID makes it undecodable. */
  async #decodeFetching(channel: string, event: ConsumerEvent, receivedAt: number): Promise<RawEvent> {
    const schemaId = event.event?.schemaId ?? '';
    try {
      return decodeWith(await this.#schema(schemaId), channel, event, receivedAt);
    } catch (err) {
      // An unknown schema ID will not become known by asking again: the event is kept, as a
      // dead letter naming the reason. Anything else (network) ends the stream and retries.
      if ((err as grpc.ServiceError).code !== grpc.status.NOT_FOUND) throw err;
      return undecodable(channel, replayIdText(event.replayId), schemaId, `schema ${schemaId} not found`, receivedAt);
    }
  }

  replayRefused(channel: string, replayId: string | undefined, fields: Record<string, unknown>, message: string): void {
    const events = this.#opts.events;
    const resumedFrom = this.replayFallback === 'LATEST' ? -1 : -2;
    // With a listener the service raises the alarm (data_loss_possible) and reconciles.
    if (events?.replayLoss) {
      this.logger.warn({ event: 'pubsub_replay_refused', channel, replayId, fallback: this.replayFallback, ...fields }, message);
      const subscription = this.#opts.channels.find((c) => c.name === channel);
      events.replayLoss({ channel, refusedReplayId: replayId ?? String(subscription?.replayFrom ?? -1), resumedFrom, error: message });
    } else {
      this.logger.error({ event: 'data_loss_possible', channel, replayId, fallback: this.replayFallback, ...fields }, message);
    }
  }

  reconnecting(_channel: string, cause: string, delayMs: number): void {
    this.#opts.events?.reconnecting?.(cause, delayMs);
  }

  async onStreamError(channel: string, error: StreamError): Promise<number> {
    const failures = (this.#failures.get(channel) ?? 0) + 1;
    this.#failures.set(channel, failures);
    this.logger.warn(
      {
        event: 'pubsub_stream_error',
        channel,
        action: error.action,
        status: error.status,
        errorCode: error.errorCode,
        details: error.details,
        failures,
      },
      'Pub/Sub stream ended with an error',
    );
    // UNAVAILABLE before any answer: the endpoint cannot be reached (refused, unknown host, TLS).
    if (error.status === grpc.status.UNAVAILABLE) this.#opts.events?.connectFailed?.(this.#opts.endpoint, error);
    if (error.action === 'reauthenticate') await this.#freshToken();
    if (error.action === 'replay-fallback' && failures === 1) {
      this.reconnecting(channel, error.action, 0);
      return 0;
    }
    const base = this.#opts.retryBaseMs ?? 500;
    // Equal jitter: several bridges (or channels) failing together must not come back in
    // lockstep, and a failing stream is never reopened at once.
    const delay = backoffDelay(failures, { baseMs: base, capMs: 30_000, spread: 0.5 });
    this.reconnecting(channel, error.action, delay);
    return delay;
  }

  fatal(err: unknown): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const s of this.#streams) void s.stop();
    this.#opts.onFatal(err);
  }

  /** One token refresh at a time, however many streams were refused at once. */
  #freshToken(): Promise<string> {
    this.#refreshing ??= this.#opts
      .getAccessToken(true)
      .then((token) => {
        this.#token = token;
        return token;
      })
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  #metadata(): grpc.Metadata {
    const token = this.#token ?? '';
    const tenant = this.#opts.tenantId ?? orgIdOf(token);
    if (!tenant) {
      throw new AuthError(
        Code.SF_TENANT_UNKNOWN,
        'salesforce.auth.accessToken: the org ID (tenantid) cannot be read from the access token; Salesforce tokens start with it (00D…!…)',
      );
    }
    const md = new grpc.Metadata();
    md.set('accesstoken', token);
    md.set('instanceurl', this.#opts.instanceUrl);
    md.set('tenantid', tenant);
    return md;
  }

  /** The schema of an ID, fetched once (concurrent requests share one call). */
  #schema(schemaId: string): Promise<EventSchema> {
    let pending = this.#schemas.get(schemaId);
    if (!pending) {
      pending = new Promise<SchemaInfo>((resolve, reject) => {
        this.#client!.GetSchema({ schemaId }, this.#metadata(), (err, value) =>
          err || !value ? reject(err ?? new Error('empty GetSchema answer')) : resolve(value),
        );
      }).then((info) => {
        const schema = describeSchema(schemaId, info.schemaJson);
        this.#known.set(schemaId, schema);
        return schema;
      });
      this.#schemas.set(schemaId, pending);
      pending.catch(() => this.#schemas.delete(schemaId));
    }
    return pending;
  }
}

/** One event with its (fetched) schema; a payload that does not decode is kept as `undecodable`. */
function decodeWith(schema: EventSchema, channel: string, event: ConsumerEvent, receivedAt: number): RawEvent {
  const replayId = replayIdText(event.replayId);
  try {
    const record = schema.type.fromBuffer(event.event!.payload) as Record<string, unknown>;
    return { channel, replayId, data: toCometdData(schema, record, event.event!.id ?? '', replayId), receivedAt };
  } catch (err) {
    return undecodable(channel, replayId, schema.id, (err as Error).message, receivedAt);
  }
}

/** An event that cannot be decoded: kept as a RawEvent whose payload says why, so normalize dead-letters it. */
function undecodable(channel: string, replayId: string, schemaId: string, reason: string, receivedAt: number): RawEvent {
  return { channel, replayId, data: { schema: schemaId, event: { replayId }, payload: `undecodable Avro payload: ${reason}` }, receivedAt };
}
