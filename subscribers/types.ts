/**
 * The subscriber contract, shared by every transport: start, stop, and hand each received
 * batch to a sink that resolves only once the batch is durable.
 */
import type { Logger } from 'pino';
import type { RawEvent } from '../src/core/model.ts';
import type { FaultDecision } from './cometd-faults.ts';

/**
 * Receives a batch of events and the replay ID each channel reaches with it; resolves when
 * the derived actions and those checkpoints are committed. A rejection is fatal.
 */
export type BatchSink = (batch: RawEvent[], checkpoints: ReadonlyMap<string, string>) => Promise<void>;

/** One channel as a subscriber sees it. */
export interface ChannelSubscription {
  name: string;
  /** Replay position when no checkpoint is stored: -1 new events only, -2 all retained. */
  replayFrom: number;
  /** Where to resume when Salesforce refuses the stored replay ID. @default -2 */
  replayFallback?: number;
}

/** Lifecycle of a transport. */
export interface Subscriber {
  /** Connects and subscribes every channel from its stored checkpoint. */
  start(): Promise<void>;
  /** Stops asking for events and hands over what it already has; resolves when that is durable. */
  stop(): Promise<void>;
  /** True while every channel is subscribed. */
  readonly subscribed: boolean;
  /**
   * Per channel, whether this instance leads (consumes) it. Only a fleet's subscriber has
   * followers; a subscriber without this field consumes every channel it was given.
   */
  readonly leads?: ReadonlyMap<string, boolean>;
}

/**
 * Resolves when the pipeline can take more events (the backpressure gate). `pending`: events
 * the subscriber holds but has not handed over yet, counted against the bound as if committed.
 */
export type Gate = (pending?: number) => Promise<void>;

/**
 * Waits for the gate before a subscriber asks for more. Events it holds uncommitted count
 * against the bound (a burst's deferred commit must not let intake run past it); when the gate
 * is closed they are committed at once (`flush`), so the dispatcher has them while it waits.
 */
export async function admit(gate: Gate, pending: number, flush: () => Promise<void>): Promise<void> {
  if (pending === 0) return gate();
  const waiting = gate(pending);
  const open = await Promise.race([waiting.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
  if (open) return;
  await flush();
  await waiting;
}

/** A stored replay ID Salesforce refused (older than the retention): events may be lost. */
export interface ReplayLoss {
  channel: string;
  /** The refused replay ID (the stored checkpoint), or the configured start when none was stored. */
  refusedReplayId: string;
  /** Where the subscription resumes instead (-2 or -1). */
  resumedFrom: number;
  /** Salesforce's error text. */
  error: string;
}

/** What the subscriber reports besides log lines (the service counts and acts on them). */
export interface SubscriberEvents {
  /** A failed reply and the decision taken on it. */
  fault?(decision: FaultDecision['kind'], reason: string, channel: string): void;
  /** The client is being rebuilt; `delayMs` before the new handshake. */
  reconnecting?(why: string, delayMs: number): void;
  /** A stored replay ID was refused; the channel resumes from its fallback. */
  replayLoss?(loss: ReplayLoss): void;
  /**
   * A connection to `host` (`host:port`) failed, the cause in `err`. Only transports that no
   * process-wide hook sees report it (gRPC); HTTP clients are seen through diagnostics channels.
   */
  connectFailed?(host: string, err: unknown): void;
  /** `host` answered: a connection works. */
  connected?(host: string): void;
}

/** What every transport takes besides its endpoint and auth. */
export interface SubscriberBaseOptions {
  channels: readonly ChannelSubscription[];
  /** Replay IDs committed in the store, by channel. */
  checkpoints: ReadonlyMap<string, string>;
  sink: BatchSink;
  /** Backpressure: awaited before asking Salesforce for more events. */
  gate: Gate;
  logger: Logger;
  /** Called when the subscriber cannot go on (the sink failed). */
  onFatal(err: unknown): void;
  /** Reconnections, faults and refused replay IDs, for the service to count and act on. */
  events?: SubscriberEvents;
}
