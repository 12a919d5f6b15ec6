/**
 * The emulator's memory: issued tokens, accepted entries, per-member errors, pending faults and
 * counters. No HTTP here, so the routes stay thin and the benchmark's hot path is easy to see.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ALL_SCOPES } from './definitions.ts';
import { mulberry32 } from '../random.ts';
import type { McChaos, McFault, McFaultScope, McStats, ReceivedEntry, ReceivedSend } from './types.ts';
import { McErrorcode } from '../../core/errors.ts';

/** A member Marketing Cloud refused, kept for the async status endpoint. */
export interface ErroredMember {
  requestId: string;
  eventDefinitionKey: string;
  contactKey: string;
  eventInstanceId: string;
  errorcode: number;
  message: string;
  at: number;
}

/** A member-level refusal the routes apply to one contact. */
export interface MemberRefusal {
  errorcode: number;
  message: string;
}

/** One contact deletion request, as the emulator queued it. */
export interface DeletionOperation {
  operationID: number;
  contactKeys: string[];
  requestedAt: number;
  /** When the queue reaches it (the operation before it has completed). */
  startsAt: number;
}

type CountedFault = McFault & { remaining: number };

/** The emulator's mutable state. */
export class McState {
  readonly recordBodies: boolean;
  readonly tokenTtlMs: number;
  readonly knownKeys: Set<string> | undefined;
  readonly knownSendKeys: Set<string> | undefined;
  entries: ReceivedEntry[] = [];
  sends: ReceivedSend[] = [];
  /** Accepted sends per messageKey (transactional): the exactly-once view. */
  sendCounts = new Map<string, number>();
  /**
   * Every transactional recipient asked for, accepted or not, per messageKey: how often the
   * key came and for which recipients (`contactKey to`), so a test can check from the client's
   * side that a key was never used for two different messages.
   */
  messageKeyRequests = new Map<string, { requests: number; recipients: Set<string> }>();
  /** Definitions (event, triggered or transactional) set to a status by the control API. */
  definitionStatus = new Map<string, 'active' | 'paused' | 'deleted'>();
  /** Contact deletion operations, processed one at a time like Marketing Cloud's queue. */
  deletions: DeletionOperation[] = [];
  /** How long one deletion operation takes to complete. */
  deleteMs: number;
  /** Scopes the installed package holds; a token gets these or the subset it asked for. */
  grantedScopes: ReadonlySet<string>;
  private tokenScopes = new Map<string, ReadonlySet<string>>();
  private ids = new Map<string, string>();
  chaos: McChaos | undefined;
  private chaosRandom: () => number = Math.random;
  private burstUntil = 0;
  private burstCode: number = McErrorcode.rateLimited;
  errored: ErroredMember[] = [];
  inactive = new Set<string>();
  private tokens = new Map<string, number>();
  private faults: CountedFault[] = [];
  private memberFaults: CountedFault[] = [];
  private pairs = new Map<string, Set<string>>();
  // Hashes instead of full (key, contact, data) strings: 200,000 entries must stay cheap in memory.
  private fingerprints = new Set<number>();
  counters = freshCounters();

  constructor(opts: {
    recordBodies: boolean;
    tokenTtlSec: number;
    eventDefinitionKeys: string[] | undefined;
    sendDefinitionKeys?: string[] | undefined;
    scopes?: readonly string[] | undefined;
    deleteMs?: number | undefined;
  }) {
    this.recordBodies = opts.recordBodies;
    this.grantedScopes = new Set(opts.scopes ?? ALL_SCOPES);
    this.deleteMs = opts.deleteMs ?? 500;
    this.tokenTtlMs = opts.tokenTtlSec * 1000;
    this.knownKeys = opts.eventDefinitionKeys ? new Set(opts.eventDefinitionKeys) : undefined;
    this.knownSendKeys = opts.sendDefinitionKeys ? new Set(opts.sendDefinitionKeys) : undefined;
  }

  /** Why a send definition cannot send now (unknown or paused), or undefined. */
  definitionProblem(key: string): MemberRefusal | undefined {
    const status = this.definitionStatus.get(key);
    if (status === 'paused') return { errorcode: 30005, message: `Definition ${key} is paused or inactive.` };
    if (status === 'deleted') return { errorcode: 30003, message: `Definition ${key} was not found.` };
    if (status === undefined && this.knownSendKeys && !this.knownSendKeys.has(key))
      return { errorcode: 30003, message: `Definition ${key} was not found.` };
    return undefined;
  }

  /** True when the event definition key resolves (known, and not deleted through the control API). */
  eventDefinitionExists(key: string): boolean {
    const status = this.definitionStatus.get(key);
    if (status === 'deleted') return false;
    return status !== undefined || !this.knownKeys || this.knownKeys.has(key);
  }

  /** A stable GUID-like ID for a definition key. */
  idOf(key: string): string {
    let id = this.ids.get(key);
    if (id === undefined) this.ids.set(key, (id = randomUUID()));
    return id;
  }

  /** Queues one deletion; it starts when the one before it has finished. Returns its OperationID. */
  queueDeletion(contactKeys: string[], now: number): number {
    const before = this.deletions.at(-1);
    const startsAt = Math.max(now, before ? before.startsAt + this.deleteMs : now);
    const operationID = this.deletions.length + 1;
    this.deletions.push({ operationID, contactKeys, requestedAt: now, startsAt });
    return operationID;
  }

  /** An operation with its status at `now`: Scheduled, Processing or Completed. */
  deletionStatus(operationID: number, now: number): (DeletionOperation & { status: string }) | undefined {
    const op = this.deletions[operationID - 1];
    if (!op) return undefined;
    const status = now < op.startsAt ? 'Scheduled' : now < op.startsAt + this.deleteMs ? 'Processing' : 'Completed';
    return { ...op, status };
  }

  /** The scopes of a token the emulator issued. */
  scopesOf(token: string): ReadonlySet<string> {
    return this.tokenScopes.get(token) ?? this.grantedScopes;
  }

  /** True when a transactional send already used `messageKey`. */
  messageKeyUsed(messageKey: string): boolean {
    return this.sendCounts.has(messageKey);
  }

  /** Notes that a request asked to send `messageKey` to this recipient (before it is judged). */
  noteMessageKey(messageKey: string, contactKey: string, to: string): void {
    let seen = this.messageKeyRequests.get(messageKey);
    if (!seen) this.messageKeyRequests.set(messageKey, (seen = { requests: 0, recipients: new Set() }));
    seen.requests++;
    seen.recipients.add(`${contactKey} ${to}`);
  }

  /** Records one accepted send. */
  acceptSend(send: ReceivedSend): void {
    const c = this.counters;
    c.sends++;
    if (c.firstReceivedAt === 0) c.firstReceivedAt = send.receivedAt;
    c.lastReceivedAt = send.receivedAt;
    if (send.messageKey !== undefined) this.sendCounts.set(send.messageKey, (this.sendCounts.get(send.messageKey) ?? 0) + 1);
    this.sends.push(this.recordBodies ? send : { ...send, attributes: undefined });
  }

  /** Turns random faults on (or off with undefined). */
  setChaos(chaos: McChaos | undefined): void {
    this.chaos = chaos;
    this.burstUntil = 0;
    this.chaosRandom = chaos?.seed === undefined ? Math.random : mulberry32(chaos.seed);
  }

  /** A random fault for the next REST request, when chaos is on. */
  chaosFault(): Exclude<McFault, { kind: 'member' }> | undefined {
    const c = this.chaos;
    if (!c) return undefined;
    const r = this.chaosRandom;
    let fault: Exclude<McFault, { kind: 'member' }> | undefined;
    const now = Date.now();
    if (now < this.burstUntil) {
      fault = { kind: 'status', status: 429, errorcode: this.burstCode, retryAfterSec: c.retryAfterSec ?? 1 };
    } else if (c.rateLimitRate && r() < c.rateLimitRate) {
      this.burstCode = r() < (c.blockedShare ?? 0.2) ? McErrorcode.temporarilyBlocked : McErrorcode.rateLimited;
      this.burstUntil = now + (c.rateLimitBurstMs ?? 500);
      fault = { kind: 'status', status: 429, errorcode: this.burstCode, retryAfterSec: c.retryAfterSec ?? 1 };
    } else if (c.serverErrorRate && r() < c.serverErrorRate) {
      fault = { kind: 'status', status: [500, 502, 503][Math.floor(r() * 3)]! };
    } else if (c.resetRate && r() < c.resetRate) {
      fault = { kind: 'reset', when: r() < 0.5 ? 'before' : 'after' };
    } else if (c.slowRate && r() < c.slowRate) {
      fault = { kind: 'delay', ms: c.slowMs ?? 200 };
    }
    if (fault) {
      this.counters.faulted++;
      this.counters.chaos++;
    }
    return fault;
  }

  /** Issues a token valid for the configured lifetime. */
  issueToken(now: number, scopes?: ReadonlySet<string>): string {
    const token = randomBytes(36).toString('base64url');
    this.tokens.set(token, now + this.tokenTtlMs);
    if (scopes) this.tokenScopes.set(token, scopes);
    this.counters.tokensIssued++;
    return token;
  }

  /** True when `token` was issued, not revoked and not expired. */
  tokenValid(token: string, now: number): boolean {
    const expiresAt = this.tokens.get(token);
    if (expiresAt === undefined) return false;
    if (expiresAt <= now) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  /** Revokes every token issued so far. */
  expireTokens(): void {
    this.tokens.clear();
    this.tokenScopes.clear();
  }

  /** Records one accepted entry (dropping `data` unless bodies are recorded) and counts duplicates. */
  accept(entry: ReceivedEntry): void {
    const c = this.counters;
    c.entries++;
    if (c.firstReceivedAt === 0) c.firstReceivedAt = entry.receivedAt;
    c.lastReceivedAt = entry.receivedAt;
    let contacts = this.pairs.get(entry.eventDefinitionKey);
    if (!contacts) this.pairs.set(entry.eventDefinitionKey, (contacts = new Set()));
    contacts.add(entry.contactKey);
    const print = hash53(entry.eventDefinitionKey, entry.contactKey, JSON.stringify(entry.data ?? null));
    if (this.fingerprints.has(print)) c.duplicates++;
    else this.fingerprints.add(print);
    // Rebuilt rather than `delete entry.data`: deleting a property makes V8 objects slow.
    this.entries.push(
      this.recordBodies
        ? entry
        : {
            contactKey: entry.contactKey,
            eventDefinitionKey: entry.eventDefinitionKey,
            via: entry.via,
            requestId: entry.requestId,
            eventInstanceId: entry.eventInstanceId,
            receivedAt: entry.receivedAt,
          },
    );
  }

  /** Adds a fault to the queue; faults are served in the order they were injected. */
  addFault(fault: McFault): void {
    const remaining = fault.count ?? (fault.kind === 'member' ? Number.POSITIVE_INFINITY : 1);
    const counted = { ...fault, remaining } as CountedFault;
    if (fault.kind === 'member') this.memberFaults.push(counted);
    else this.faults.push(counted);
  }

  /** Takes the next request-level fault for this scope, if any, and counts it down. */
  takeFault(scope: Exclude<McFaultScope, 'any'>): Exclude<McFault, { kind: 'member' }> | undefined {
    const i = this.faults.findIndex((f) => f.kind !== 'member' && ((f.scope ?? 'rest') === scope || f.scope === 'any'));
    if (i < 0) return undefined;
    const fault = this.faults[i]!;
    fault.remaining--;
    if (fault.remaining <= 0) this.faults.splice(i, 1);
    this.counters.faulted++;
    return fault as Exclude<McFault, { kind: 'member' }>;
  }

  /**
   * The member refusals that apply to one request (inactive contacts and member faults),
   * or undefined when none does: the common case stays allocation-free.
   */
  refusalsFor(contactKeys: readonly string[]): Map<string, MemberRefusal> | undefined {
    if (this.inactive.size === 0 && this.memberFaults.length === 0) return undefined;
    let out: Map<string, MemberRefusal> | undefined;
    for (const key of contactKeys) {
      if (this.inactive.has(key)) {
        out ??= new Map();
        out.set(key, { errorcode: INACTIVE_CONTACT_CODE, message: `Contact ${key} is not active.` });
      }
    }
    for (const fault of this.memberFaults) {
      if (fault.kind !== 'member') continue;
      const hits = fault.contactKeys.filter((k) => contactKeys.includes(k));
      if (hits.length === 0) continue;
      fault.remaining--;
      for (const key of hits) {
        out ??= new Map();
        out.set(key, { errorcode: fault.errorcode ?? MEMBER_FAULT_CODE, message: fault.message ?? `Contact ${key} was refused.` });
      }
    }
    this.memberFaults = this.memberFaults.filter((f) => f.remaining > 0);
    return out;
  }

  /** Current counters, with the derived ones filled in. */
  stats(): McStats {
    let unique = 0;
    for (const contacts of this.pairs.values()) unique += contacts.size;
    return { ...this.counters, uniqueContacts: unique };
  }

  /** Forgets everything but the configuration. */
  reset(): void {
    this.entries = [];
    this.sends = [];
    this.sendCounts.clear();
    this.messageKeyRequests.clear();
    this.definitionStatus.clear();
    this.deletions = [];
    this.tokenScopes.clear();
    this.setChaos(undefined);
    this.errored = [];
    this.inactive.clear();
    this.tokens.clear();
    this.faults = [];
    this.memberFaults = [];
    this.pairs.clear();
    this.fingerprints.clear();
    this.counters = freshCounters();
  }
}

/** Emulator error code for an inactive contact (Marketing Cloud does not publish its own here). */
export const INACTIVE_CONTACT_CODE = 30000;
/** Emulator error code for a member refused by an injected fault. */
export const MEMBER_FAULT_CODE = 30001;

function freshCounters(): McStats {
  return {
    tokensIssued: 0,
    tokenRejected: 0,
    entries: 0,
    uniqueContacts: 0,
    duplicates: 0,
    requests: 0,
    batches: 0,
    rejected: 0,
    unauthorized: 0,
    faulted: 0,
    firstReceivedAt: 0,
    lastReceivedAt: 0,
    sends: 0,
    messageKeyAttempts: 0,
    messageKeyReused: 0,
    chaos: 0,
    lookups: 0,
  };
}

/** cyrb53 over several strings (a separator between them): fast, 53 bits, negligible collisions at our scale. */
function hash53(...parts: string[]): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (const text of parts) {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1, 2654435761);
    h2 = Math.imul(h2 ^ 0xffff, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
