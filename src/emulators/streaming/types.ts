/**
 * Public types of the Salesforce Streaming API emulator: its options, what a test publishes
 * (`ChangeSpec`), the faults it can inject (`FaultSpec`) and the emulator handle itself.
 */
import type { ChangeType } from '../../core/model.ts';
import type { PubSubEmulator, PubSubEmulatorOptions } from '../pubsub/types.ts';
import type { EmulatorOAuthOptions } from './oauth.ts';
import type { RestCall } from './rest.ts';
import type { PublishedRecord } from './publish.ts';

export type { PublishedRecord } from './publish.ts';

/** Options of `startStreamingEmulator`; every field but `accessToken` has a default. */
export interface StreamingEmulatorOptions {
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one. @default 0 */
  port?: number;
  /** API version of the `/cometd/<apiVersion>` path the emulator advertises. @default '62.0' */
  apiVersion?: string;
  /** The one access token accepted, as `Bearer <t>` or `OAuth <t>`. */
  accessToken: string;
  /** How long a `/meta/connect` is held when nothing is pending (advice.timeout). @default 110000 */
  connectTimeoutMs?: number;
  /** A client that sends no request within this long after a response is dropped. @default 40000 */
  clientTimeoutMs?: number;
  /** Most data messages in one `/meta/connect` response. @default 2000 */
  maxEventsPerResponse?: number;
  /** How long events stay replayable. @default 259200000 (72 h) */
  retentionMs?: number;
  /** Also serve the same event log over the Pub/Sub API (gRPC); `true` for its defaults. @default false */
  pubsub?: boolean | PubSubEmulatorOptions;
  /** The connected app and user behind `/services/oauth2/token`. */
  oauth?: EmulatorOAuthOptions;
  /** Records per query response page (`nextRecordsUrl` beyond it). @default 2000 */
  queryBatchSize?: number;
  /** Keep a record table that published changes update (what REST queries return). @default true */
  recordTable?: boolean;
  /** Records per Bulk API 2.0 results page when the client gives no maxRecords. @default 10000 */
  bulkPageSize?: number;
}

/** Options of `seedContacts`: existing records, as an org has them before the bridge starts. */
export interface SeedContactOptions {
  /** Serial of the first contact (IDs are `salesforceId('003', serial)`). @default 1 */
  from?: number;
  /** Their SystemModstamp and LastModifiedDate (ms). @default now */
  modifiedAt?: number;
}

/** A record change to publish as a Change Data Capture event. */
export interface ChangeSpec {
  /** SObject API name: `Contact`, `Invoice__c`. */
  entityName: string;
  changeType: ChangeType;
  /** Usually one ID; several for a merged change; a wildcard like `001*`; none for GAP_OVERFLOW. */
  recordIds: string[];
  /**
   * Field values as the payload carries them: compound fields nested (`Name: {LastName}`).
   * Null and undefined values are left out of the payload, as CometD does.
   */
  fields?: Record<string, unknown>;
  /** Defaults: derived from `fields` for UPDATE (`Name.LastName` for parts), empty otherwise. */
  changedFields?: string[];
  /** Defaults to a fresh UUID; repeat one to model several events of one transaction. */
  transactionKey?: string;
  /** @default 1 */
  sequenceNumber?: number;
  /** @default `com/salesforce/api/soap/<apiVersion>;client=SfdcEmulator` */
  changeOrigin?: string;
  /** @default a fixed integration user ID */
  commitUser?: string;
  /** Milliseconds since the epoch. @default now */
  commitTimestamp?: number;
  /** Decimal text or bigint, to test values above Number.MAX_SAFE_INTEGER. @default a rising counter */
  commitNumber?: string | bigint;
  /** Extra channels that also carry this event, e.g. a custom `/data/Sync__chn`. */
  channels?: string[];
}

/** Options of `generateContactChanges`. */
export interface GenerateContactOptions {
  /** Share of UPDATE events once some contacts exist; the rest are CREATE. @default 0.7 */
  updateRatio?: number;
  /** Seed of the generator, for repeatable data. @default a fixed seed */
  seed?: number;
  /** `changeOrigin` of every generated event. @default the emulator default */
  changeOrigin?: string;
}

/** Result of a bulk generation: the replay IDs of the first and last event published. */
export interface GenerateResult {
  firstReplayId: number;
  lastReplayId: number;
}

/** Request kinds a fault can target. */
export type FaultPhase = 'handshake' | 'connect' | 'subscribe';

/**
 * A failure to inject. Faults with a `count` hit that many matching requests (default 1);
 * faults aimed at `/meta/connect` also hit connects that are being held when injected.
 */
export type FaultSpec =
  /** Next connect gets `401::Authentication invalid`; the token stays revoked until setAccessToken. */
  | { type: 'connect-401'; count?: number }
  /** Next handshake gets `403::Handshake denied` with failureReason `401::Authentication invalid`. */
  | { type: 'handshake-denied'; count?: number }
  /** Forgets every client at once, as after a server restart: next request gets `403::Unknown client`. */
  | { type: 'unknown-client' }
  /** `503::…` in ext.sfdc.failureReason. @default on ['handshake', 'connect'] */
  | { type: 'server-busy-503'; count?: number; on?: FaultPhase | FaultPhase[] }
  /** `403::Organization total events daily limit exceeded` on handshake or connect. */
  | { type: 'daily-limit'; count?: number }
  /** `403::Organization concurrent user limit exceeded` on handshake. */
  | { type: 'concurrent-limit'; count?: number }
  /** Every connect held unanswered for `durationMs`, even with events pending. */
  | { type: 'stall'; durationMs: number }
  /** Every client known now hangs: its connects are held forever, never answered; new clients work. */
  | { type: 'hang-clients' }
  /** The socket is destroyed while the request is in flight; nothing is delivered. @default on 'connect' */
  | { type: 'drop-connection'; count?: number; on?: FaultPhase | FaultPhase[] };

/** Counters of the emulator since it started. */
export interface StreamingStats {
  published: number;
  delivered: number;
  /** Clients currently known (handshaken and not dropped). */
  clients: number;
  handshakes: number;
  connects: number;
  /** Subscribed clients per channel. */
  subscriptions: Record<string, number>;
  /** Events currently retained. */
  retained: number;
  /** REST calls answered (token endpoint included). */
  restCalls: number;
  /** Platform events published through the REST API. */
  publishedOverRest: number;
  /** Requests each injected fault type hit (`unknown-client` and `hang-clients` act at injection and are not counted). */
  faultsFired: Record<string, number>;
  /** Injected hits still waiting for a request. */
  faultsPending: number;
}

/** A running emulator. */
export interface StreamingEmulator {
  /** Instance URL, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `${url}/cometd/${apiVersion}`. */
  readonly cometdUrl: string;
  /** Publishes a CDC event to its entity channel and to `/data/ChangeEvents`. */
  publishChange(change: ChangeSpec): { replayId: number };
  /** Publishes a platform event to `/event/<eventName>`. */
  publishPlatformEvent(eventName: string, payload: Record<string, unknown>): { replayId: number; eventUuid: string };
  /** Publishes `data` as the message's data, unchanged (for bad-input tests). */
  publishRaw(channel: string, data: unknown): { replayId: number };
  /** Publishes `count` realistic Contact CREATE/UPDATE changes at once. */
  generateContactChanges(count: number, opts?: GenerateContactOptions): GenerateResult;
  injectFault(fault: FaultSpec): void;
  /** Makes `token` the accepted one and lifts a revocation. */
  setAccessToken(token: string): void;
  /** Drops every retained event whose replay ID is at or below `beforeReplayId`. */
  expireRetention(beforeReplayId: number): void;
  stats(): StreamingStats;
  /** The Pub/Sub API emulator over the same events, when started with `pubsub`. */
  readonly pubsub: PubSubEmulator | undefined;
  /** REST calls answered so far, oldest first (queries carry their SOQL). */
  restCalls(): RestCall[];
  /** Inserts or merges a record in the org's record table (fields flat or compound). */
  upsertRecord(entityName: string, record: Record<string, unknown> & { Id: string }): void;
  /** Adds `count` Contact records directly (no events); returns the first and last IDs. */
  seedContacts(count: number, opts?: SeedContactOptions): { firstId: string; lastId: string };
  /** The org's current record, as a query would return it. */
  getRecord(entityName: string, id: string): Record<string, unknown> | undefined;
  /** Platform events published through the REST API (sObject collections or single), oldest first. */
  publishedOverRest(type?: string): PublishedRecord[];
  /** The org's hourly platform event publishing allocation (past it: LIMIT_EXCEEDED); undefined lifts it. */
  setPublishLimit(perHour: number | undefined): void;
  /** The next `count` records published over REST are refused with PLATFORM_EVENT_PUBLISHING_UNAVAILABLE. */
  failPublishes(count: number): void;
  /** Accepts `token` too (alongside the current ones), as if the token endpoint had issued it. */
  addAccessToken(token: string): void;
  close(): Promise<void>;
}
