/**
 * One Subscribe stream on the emulator, as the Pub/Sub API serves it: the first FetchRequest
 * names the topic and the replay start (LATEST, EARLIEST, or CUSTOM after a replay ID that
 * must still be retained), every FetchRequest adds its num_requested to what the server may
 * send (at most 100 outstanding), events go out only against that credit, and with nothing to
 * deliver a keepalive carries the latest replay ID. Any error ends the stream with a gRPC
 * status and the `error-code` trailer.
 */
import * as grpc from '@grpc/grpc-js';
import type { Cursor, EventLog } from '../streaming/event-log.ts';
import { PubSubErrorCode } from '../../core/errors.ts';
import { replayIdBytes, replayNumberOf } from './codec.ts';
import { UnencodableError, type EncodedEvent, type SchemaRegistry } from './schemas.ts';
import { PRESET, presetOfRequest, type ConsumerEvent, type FetchRequest, type FetchResponse } from './wire.ts';
import type { PubSubStats } from './types.ts';

/** Most events a stream may have requested and not yet received (Salesforce's limit). */
export const MAX_OUTSTANDING = 100;

/** What every stream of one emulator shares. */
export interface StreamContext {
  log: EventLog;
  schemas: SchemaRegistry;
  stats: PubSubStats;
  keepaliveMs: number;
  maxEventsPerResponse: number;
  /** Encodings by log entry, so an event is written in Avro once however many streams read it. */
  encoded: WeakMap<object, EncodedEvent | null>;
  /** Replay IDs handed out in keepalives: valid CUSTOM starts even when no event has them. */
  keepaliveIds: Set<number>;
  /** Milliseconds the stall fault still lasts. */
  stallRemaining(): number;
  /** Takes one pending replay-corrupted fault, if any. */
  takeReplayFault(): boolean;
  /** Takes one pending corrupt-payload fault, if any. */
  takeCorruptFault(): boolean;
  onClose(stream: SubscribeStream): void;
}

type Call = grpc.ServerDuplexStream<FetchRequest, FetchResponse>;

/** Ends `call` with a status and Salesforce's `error-code` trailer. */
export function failCall(call: { emit(event: 'error', err: unknown): boolean }, code: grpc.status, errorCode: string, details: string): void {
  const metadata = new grpc.Metadata();
  metadata.set('error-code', errorCode);
  const rpcId = crypto.randomUUID();
  metadata.set('rpc-id', rpcId);
  call.emit('error', { code, details: `${errorCode}: ${details} rpcId: ${rpcId}`, metadata });
}

/** The server side of one Subscribe call. */
export class SubscribeStream {
  readonly #call: Call;
  readonly #ctx: StreamContext;
  topic: string | undefined;
  #cursor: Cursor | undefined;
  #outstanding = 0;
  #lastSent = Date.now();
  #closed = false;
  #pumping = false;
  #keepalive: NodeJS.Timeout;
  #stallTimer: NodeJS.Timeout | undefined;

  constructor(call: Call, ctx: StreamContext) {
    this.#call = call;
    this.#ctx = ctx;
    call.on('data', (req: FetchRequest) => this.#onRequest(req));
    call.on('end', () => this.close(() => call.end()));
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    this.#keepalive = setInterval(() => this.#maybeKeepalive(), Math.max(10, Math.min(1000, ctx.keepaliveMs / 4)));
  }

  /** Ends the stream with an error status (a fault). */
  fail(code: grpc.status, errorCode: string, details: string): void {
    if (this.#closed) return;
    this.close(() => failCall(this.#call, code, errorCode, details));
  }

  close(finish?: () => void): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    clearTimeout(this.#stallTimer);
    this.#ctx.onClose(this);
    finish?.();
  }

  /** New events may be readable. */
  wake(): void {
    if (!this.#closed && this.#cursor && this.#outstanding > 0) this.#pump();
  }

  #onRequest(req: FetchRequest): void {
    if (this.#closed) return;
    const n = req.numRequested ?? 0;
    if (this.#cursor === undefined) {
      if (!this.#open(req)) return;
    } else if (req.topicName && req.topicName !== this.topic) {
      return this.fail(
        grpc.status.INVALID_ARGUMENT,
        'sfdc.platform.eventbus.grpc.subscription.fetch.invalid.topic',
        `topic ${req.topicName} differs from ${this.topic}, named in the first FetchRequest`,
      );
    }
    if (!Number.isInteger(n) || n < 0) {
      return this.fail(
        grpc.status.INVALID_ARGUMENT,
        'sfdc.platform.eventbus.grpc.subscription.fetch.invalid.request',
        `num_requested ${n} is not a positive number`,
      );
    }
    this.#ctx.stats.requested += n;
    this.#outstanding = Math.min(MAX_OUTSTANDING, this.#outstanding + n);
    this.#ctx.stats.maxOutstanding = Math.max(this.#ctx.stats.maxOutstanding, this.#outstanding);
    this.#pump();
  }

  #open(req: FetchRequest): boolean {
    const topic = req.topicName ?? '';
    if (!/^\/(data|event)\/[A-Za-z][A-Za-z0-9_]*$/.test(topic)) {
      this.fail(
        grpc.status.INVALID_ARGUMENT,
        'sfdc.platform.eventbus.grpc.subscription.fetch.invalid.topic',
        `topic name ${JSON.stringify(topic)} is not a topic`,
      );
      return false;
    }
    const preset = presetOfRequest(req.replayPreset);
    const log = this.#ctx.log;
    if (preset === PRESET.CUSTOM) {
      const bytes = req.replayId ?? Buffer.alloc(0);
      const n = replayNumberOf(bytes);
      const id = n === undefined ? NaN : Number(n);
      const known = Number.isSafeInteger(id) && (log.isRetained(id) || this.#ctx.keepaliveIds.has(id));
      if (!known || this.#ctx.takeReplayFault()) {
        this.fail(
          grpc.status.INVALID_ARGUMENT,
          PubSubErrorCode.replayCorrupted,
          `The Replay ID validation failed. Ensure that the Replay ID is valid (replay ID ${bytes.toString('base64') || 'empty'}).`,
        );
        return false;
      }
      this.#cursor = log.open(topic, id);
    } else if (preset === PRESET.EARLIEST) {
      this.#cursor = log.open(topic, -2);
    } else if (preset === PRESET.LATEST) {
      this.#cursor = log.open(topic, -1);
    } else {
      this.fail(
        grpc.status.INVALID_ARGUMENT,
        'sfdc.platform.eventbus.grpc.subscription.fetch.invalid.request',
        `unknown replay_preset ${String(req.replayPreset)}`,
      );
      return false;
    }
    this.topic = topic;
    this.#ctx.stats.subscribes++;
    return true;
  }

  /** Sends what the credit allows, in responses of at most maxEventsPerResponse. */
  #pump(): void {
    if (this.#pumping || this.#closed || !this.#cursor) return;
    const stall = this.#ctx.stallRemaining();
    if (stall > 0) {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = setTimeout(() => this.#pump(), stall);
      return;
    }
    this.#pumping = true;
    try {
      const c = this.#cursor;
      if (c.pos < c.log.start) c.pos = c.log.start; // expired under the cursor
      while (this.#outstanding > 0 && c.pos < c.log.end) {
        const events: ConsumerEvent[] = [];
        let last = 0;
        const max = Math.min(this.#outstanding, this.#ctx.maxEventsPerResponse);
        while (events.length < max && c.pos < c.log.end) {
          const entry = c.log.at(c.pos++);
          last = entry.replayId;
          const encoded = this.#encode(entry);
          if (!encoded) continue;
          const payload = this.#ctx.takeCorruptFault()
            ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, ...encoded.payload.subarray(0, 3)])
            : encoded.payload;
          events.push({ event: { id: encoded.id, schemaId: encoded.schemaId, payload, headers: [] }, replayId: replayIdBytes(entry.replayId) });
        }
        if (events.length === 0) break;
        this.#outstanding -= events.length;
        this.#ctx.stats.delivered += events.length;
        this.#send({ events, latestReplayId: replayIdBytes(last), rpcId: crypto.randomUUID(), pendingNumRequested: this.#outstanding });
      }
    } finally {
      this.#pumping = false;
    }
  }

  #encode(entry: { replayId: number; data: string }): EncodedEvent | null {
    const cached = this.#ctx.encoded.get(entry);
    if (cached !== undefined) return cached;
    let encoded: EncodedEvent | null;
    try {
      encoded = this.#ctx.schemas.encode(this.topic!, entry.data);
    } catch (err) {
      if (!(err instanceof UnencodableError) && !(err instanceof SyntaxError)) throw err;
      // Salesforce only ever writes valid Avro; bad data published on purpose for the CometD
      // tests has no Pub/Sub form, so it is skipped (and counted).
      encoded = null;
      this.#ctx.stats.unencodable++;
    }
    this.#ctx.encoded.set(entry, encoded);
    return encoded;
  }

  #maybeKeepalive(): void {
    if (this.#closed || !this.#cursor || this.#ctx.stallRemaining() > 0) return;
    if (Date.now() - this.#lastSent < this.#ctx.keepaliveMs) return;
    const c = this.#cursor;
    if (this.#outstanding > 0 && c.pos < c.log.end) return; // events are going out
    // The latest replay ID of this subscription: its last event passed, or the org's newest
    // when the topic has nothing retained. Never one past events still waiting to be read.
    if (c.pos === c.log.start && c.pos < c.log.end) return;
    const latest = c.pos > c.log.start ? c.log.at(c.pos - 1).replayId : this.#ctx.log.lastReplayId;
    const ids = this.#ctx.keepaliveIds;
    ids.add(latest);
    if (ids.size > 10_000) ids.delete(ids.values().next().value!); // oldest first: bounded memory
    this.#ctx.stats.keepalives++;
    this.#send({ events: [], latestReplayId: replayIdBytes(latest), rpcId: crypto.randomUUID(), pendingNumRequested: this.#outstanding });
  }

  #send(response: FetchResponse): void {
    this.#lastSent = Date.now();
    this.#call.write(response);
  }
}
