/**
 * The Marketing Cloud emulator's public types: its options, what it recorded, the faults it can
 * inject and its counters. Kept apart from the server so tests and other processes (through the
 * control API) can share them without pulling in node:http.
 */
import type { DeDefinition } from './rows.ts';

/** How to start the emulator. */
export interface McEmulatorOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** The installed package's client ID the token endpoint accepts. */
  clientId: string;
  /** The installed package's client secret the token endpoint accepts. */
  clientSecret: string;
  /** MID of the business unit; when set, a token request naming another MID is refused. */
  accountId?: string;
  /** Token lifetime in seconds, like Marketing Cloud's `expires_in`. @default 1079 */
  tokenTtlSec?: number;
  /** Known event definition keys; an unknown key answers 400 like Marketing Cloud. `undefined` accepts any key. */
  eventDefinitionKeys?: string[];
  /** Known send definition keys (triggered and transactional); an unknown key answers 400. `undefined` accepts any key. */
  sendDefinitionKeys?: string[];
  /** Scopes the installed package holds (a REST call needing another is answered 403). @default every scope the bridge uses */
  scopes?: string[];
  /** How long one contact deletion operation takes (they run one at a time). @default 500 */
  deleteMs?: number;
  /** Keep each entry's `data`. `false` keeps keys, IDs and receipt times only (benchmarks). @default true */
  recordBodies?: boolean;
  /** Data extensions whose rows are checked against their fields; none defined: any key and row are taken. */
  dataExtensions?: DeDefinition[];
}

/** One contact entered into a journey, as the emulator recorded it. */
export interface ReceivedEntry {
  contactKey: string;
  eventDefinitionKey: string;
  /** The entry data; absent when the emulator runs with `recordBodies: false`. */
  data?: Record<string, unknown>;
  /** `single` = `/interaction/v1/events`, `async` = `/interaction/v1/async/events`. */
  via: 'single' | 'async';
  /** The batch request's ID (async only). */
  requestId?: string;
  eventInstanceId: string;
  /** Milliseconds since the epoch when the request carrying it arrived. */
  receivedAt: number;
}

/** One message accepted by a send API, as the emulator recorded it. */
export interface ReceivedSend {
  /** `triggered` = classic triggered send, `transactional` = Transactional Messaging API. */
  api: 'triggered' | 'transactional';
  /** `single` = one recipient per request, `batch` = `/messaging/v1/email/messages` with recipients[]. */
  via: 'single' | 'batch';
  definitionKey: string;
  contactKey: string;
  to: string;
  /** Transactional only. */
  messageKey?: string;
  requestId: string;
  /** Classic triggered send only. */
  recipientSendId?: string;
  /** Absent when the emulator runs with `recordBodies: false`. */
  attributes?: Record<string, unknown> | undefined;
  receivedAt: number;
}

/** Random faults on REST requests, for chaos tests; every rate is a share of requests in [0, 1]. */
export interface McChaos {
  /** Answered 500, 502 or 503. */
  serverErrorRate?: number;
  /** Socket destroyed, half before processing and half after (recorded, answer lost). */
  resetRate?: number;
  /** Chance that a request starts a burst of 429s. */
  rateLimitRate?: number;
  /** How long a 429 burst lasts: every REST request in it is refused. @default 500 */
  rateLimitBurstMs?: number;
  /** Share of bursts answered 50200 (temporarily blocked) instead of 50100. @default 0.2 */
  blockedShare?: number;
  /** Retry-After of a 50100. @default 1 */
  retryAfterSec?: number;
  /** Answered after `slowMs`. */
  slowRate?: number;
  slowMs?: number;
  /** Seed, for a repeatable run. */
  seed?: number;
}

/** Where a fault applies: the token endpoint, the REST API (deliveries), definition lookups, or all. @default 'rest' */
export type McFaultScope = 'token' | 'rest' | 'lookup' | 'any';

/** A failure the emulator serves to the next `count` matching requests. */
export type McFault =
  /** Answer with this status and MC's error body instead of processing; 429 defaults to errorcode 50100 with Retry-After 1 s (50200 never has one), 401 is MC's Not Authorized. */
  | { kind: 'status'; status: number; count?: number; errorcode?: number; message?: string; retryAfterSec?: number; scope?: McFaultScope }
  /** Destroy the socket: `before` processing (nothing recorded) or `after` (recorded, answer lost: the ambiguous case). */
  | { kind: 'reset'; count?: number; when?: 'before' | 'after'; scope?: McFaultScope }
  /** Wait this long before processing. */
  | { kind: 'delay'; ms: number; count?: number; scope?: McFaultScope }
  /** Refuse these contacts member by member (async) or with 400 (single), `count` times each request. */
  | { kind: 'member'; contactKeys: string[]; errorcode?: number; message?: string; count?: number };

/** The emulator's counters. */
export interface McStats {
  /** Tokens handed out by `/v2/token`. */
  tokensIssued: number;
  /** Token requests refused (bad credentials, bad grant). */
  tokenRejected: number;
  /** Contacts accepted into a journey (single and async). */
  entries: number;
  /** Distinct (eventDefinitionKey, contactKey) pairs among the entries. */
  uniqueContacts: number;
  /** Entries whose (eventDefinitionKey, contactKey, data) had been accepted before. */
  duplicates: number;
  /** Journey API requests received (single, async and status), whatever their outcome. */
  requests: number;
  /** Definition lookups (event and send definitions), apart from `requests`. */
  lookups: number;
  /** Async batch requests accepted. */
  batches: number;
  /** Contacts refused: per-member errors, 400 on single, members of a refused batch. */
  rejected: number;
  /** REST requests answered 401 (missing, unknown, expired or revoked token). */
  unauthorized: number;
  /** Requests answered by an injected fault. */
  faulted: number;
  /** Messages accepted by the send APIs (triggered and transactional). */
  sends: number;
  /** Transactional recipients that carried a messageKey (accepted or not). */
  messageKeyAttempts: number;
  /** Transactional recipients answered 109110 because their messageKey was already used. */
  messageKeyReused: number;
  /** Requests answered by a random (chaos) fault. */
  chaos: number;
  /** Receipt time of the first and the last accepted entry or send (ms since epoch); 0 when none. */
  firstReceivedAt: number;
  lastReceivedAt: number;
}

/** A running emulator. */
export interface McEmulator {
  /** `http://127.0.0.1:PORT`; the token endpoint is `${authBaseUrl}/v2/token`. */
  authBaseUrl: string;
  /** What the token response's `rest_instance_url` says (ends with `/`, like Marketing Cloud's). */
  restBaseUrl: string;
  /** Every accepted entry, in arrival order. */
  received(filter?: { contactKey?: string; eventDefinitionKey?: string }): ReceivedEntry[];
  stats(): McStats;
  /** Every accepted send, in arrival order. */
  sends(filter?: { contactKey?: string; definitionKey?: string; messageKey?: string }): ReceivedSend[];
  /** Accepted transactional sends counted by messageKey. */
  sendCounts(): Map<string, number>;
  /**
   * Per messageKey, how many transactional requests carried it (accepted, refused or answered
   * 109110) and the recipients (`contactKey to`) they named.
   */
  messageKeyRequests(): Map<string, { requests: number; recipients: string[] }>;
  /** Pauses (400 on send, Inactive on lookup), deletes or reactivates a send or event definition. */
  setDefinitionStatus(key: string, status: 'active' | 'paused' | 'deleted'): void;
  /** Contact deletion operations received, with their status at `now`. */
  deletions(now?: number): { operationID: number; contactKeys: string[]; requestedAt: number; status: string }[];
  /** Random faults on REST requests; undefined turns them off. */
  setChaos(chaos: McChaos | undefined): void;
  /** Every token issued so far now answers 401 `{"errorcode":0,"message":"Not Authorized"}`. */
  expireTokens(): void;
  injectFault(fault: McFault): void;
  /** These contacts are inactive: per-member errors in an async batch, 400 on single. Replaces the previous list. */
  setInactiveContacts(keys: string[]): void;
  /**
   * Accept at most `perSecond` contacts per second (async batches count their members); past it,
   * 429 errorcode 50100 with Retry-After, like Marketing Cloud's rate limit. `undefined` lifts it.
   */
  setRateLimit(perSecond: number | undefined): void;
  /** Forget entries, tokens, faults, inactive contacts, rows and counters. */
  reset(): void;
  /** Defines (or replaces) a data extension: rows are checked against its fields. */
  defineDataExtension(def: DeDefinition): void;
  /** The rows of a data extension (empty when bodies are not recorded). */
  rows(key: string): Record<string, unknown>[];
  /** One row by its primary key value(s), joined with `|`. */
  row(key: string, primaryKey: string): Record<string, unknown> | undefined;
  /** How many times each row (by primary key) was written. */
  rowWrites(key: string): Map<string, number>;
  /** Async row requests stay Pending this long after they are accepted (ms). @default 0 */
  setAsyncDelay(ms: number): void;
  close(): Promise<void>;
}
