/**
 * The subscriber contract, shared by every transport: start, stop, and hand each received
 * batch to a sink that resolves only once the batch is durable.
 */
import type { RawEvent } from '../src/model.ts';

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
}

/**
 * Resolves when the pipeline can take more events (the backpressure gate). `pending`: events
 * the subscriber holds but has not handed over yet, counted against the bound as if committed.
 */
export type Gate = (pending?: number) => Promise<void>;
