/** Public types of the Pub/Sub API emulator: options, injectable faults, the handle. */

/** Options of the Pub/Sub emulator; all have defaults. */
export interface PubSubEmulatorOptions {
  /** Interface to bind; loopback only. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /**
   * Serve TLS with a self-signed certificate generated at start (for clients that only speak
   * TLS; they must skip certificate verification). @default false (plaintext)
   */
  tls?: boolean;
  /** With nothing to deliver, a keepalive carrying the latest replay ID goes out this often. @default 270000 */
  keepaliveMs?: number;
  /** Most events in one FetchResponse. @default 100 */
  maxEventsPerResponse?: number;
}

/** An error trailer to answer with: Salesforce's gRPC status and `error-code`. */
export type PubSubFault =
  /** Open streams end with UNAUTHENTICATED / auth.error and the token stays refused until it is set again. */
  | { type: 'auth-error' }
  /** The next Subscribe with a CUSTOM replay ID ends with INVALID_ARGUMENT / replayid.corrupted. */
  | { type: 'replay-corrupted'; count?: number }
  /** Open streams end with UNAVAILABLE / service.unavailable (a server restart, a network fault). */
  | { type: 'unavailable' }
  /** No response and no keepalive on any stream for `durationMs`: a silently stalled stream. */
  | { type: 'stall'; durationMs: number }
  /** The payload bytes of the next `count` delivered events are garbled (undecodable Avro). */
  | { type: 'corrupt-payload'; count?: number };

/** Counters since start. */
export interface PubSubStats {
  /** Subscribe streams currently open. */
  streams: number;
  subscribes: number;
  /** Events sent in FetchResponses. */
  delivered: number;
  keepalives: number;
  /** Total num_requested received. */
  requested: number;
  /** Most events a stream ever had requested but not yet sent (never above 100). */
  maxOutstanding: number;
  /** Log entries skipped because their data cannot be written in Avro. */
  unencodable: number;
  schemaRequests: number;
}

/** A running Pub/Sub emulator. */
export interface PubSubEmulator {
  /** `host:port`, the form gRPC clients take. */
  readonly address: string;
  /** True when it serves TLS. */
  readonly tls: boolean;
  injectFault(fault: PubSubFault): void;
  stats(): PubSubStats;
  /** Wakes the streams of these channels (called by the event log's publisher). */
  notify(channels: readonly string[]): void;
  close(): Promise<void>;
}
