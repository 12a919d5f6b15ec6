/**
 * Injected failures, and the exact Bayeux replies Salesforce gives for each. A fault waits
 * here until a request of a phase it targets takes it; `stall` is a time window instead.
 * Wordings follow docs/protocols.md §1 and Salesforce's "Streaming API Error Codes" page.
 */
import type { FaultPhase, FaultSpec } from './types.ts';

/** Error texts, verbatim as Salesforce sends them. */
export const ERR = {
  authInvalid: '401::Authentication invalid',
  authMissing: '401::Request requires authentication',
  handshakeDenied: '403::Handshake denied',
  unknownClient: '403::Unknown client',
  dailyLimit: '403::Organization total events daily limit exceeded',
  concurrentLimit: '403::Organization concurrent user limit exceeded',
  serverBusy: '503::Server is too busy. Please try again later.',
  invalidConnectionType: (type: string) => `400::Invalid connection type {${type}}`,
  replayMissing: (channel: string) => `400::The replayId for channel {${channel}} wasn't found using the provided replay ID map`,
  replayInvalid: (replayId: unknown) =>
    `400::The replayId {${String(replayId)}} you provided was invalid. ` +
    'Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.',
  channelMissing: (channel: string) => `400::The channel you requested to subscribe to does not exist {${channel}}`,
  channelNoSlash: "400::Channel subscriptions must start with a leading '/'",
  channelNotSpecified: '400::Channel name not specified',
} as const;

/** What a taken fault does to the request that took it. */
export type FaultEffect =
  | { kind: 'reply'; error: string; failureReason?: string; advice?: Record<string, unknown>; revokeToken?: boolean }
  | { kind: 'drop' };

interface Pending {
  type: FaultSpec['type'];
  phases: ReadonlySet<FaultPhase>;
  /** Drops act on the whole HTTP request, before its messages are read; replies act per message. */
  drop: boolean;
  remaining: number;
  effect(phase: FaultPhase): FaultEffect;
}

const NONE = { reconnect: 'none' } as const;
const DROP = (): FaultEffect => ({ kind: 'drop' });

/** The faults waiting to hit, plus the stall window. */
export class Faults {
  #pending: Pending[] = [];
  #stallUntil = 0;
  /** Requests each fault type hit so far: lets a test check its fault really fired. */
  readonly fired = new Map<FaultSpec['type'], number>();

  /** Queued faults not yet taken (counting each remaining hit). */
  pending(): number {
    return this.#pending.reduce((n, p) => n + p.remaining, 0);
  }

  /** Queues a fault; `unknown-client` and `stall` are carried out by the caller. */
  add(fault: FaultSpec): void {
    switch (fault.type) {
      case 'stall':
        this.#stallUntil = Math.max(this.#stallUntil, Date.now() + fault.durationMs);
        return;
      case 'unknown-client':
      case 'hang-clients':
        return;
      case 'connect-401':
        return this.#queue(fault.type, ['connect'], fault.count, () => ({
          kind: 'reply',
          error: ERR.authInvalid,
          advice: { reconnect: 'none', interval: 0 },
          revokeToken: true,
        }));
      case 'handshake-denied':
        return this.#queue(fault.type, ['handshake'], fault.count, () => ({
          kind: 'reply',
          error: ERR.handshakeDenied,
          failureReason: ERR.authInvalid,
          advice: NONE,
        }));
      case 'server-busy-503':
        return this.#queue(fault.type, phases(fault.on, ['handshake', 'connect']), fault.count, (phase) => ({
          kind: 'reply',
          // A handshake refusal always reads "Handshake denied"; the reason is in the ext.
          error: phase === 'handshake' ? ERR.handshakeDenied : ERR.serverBusy,
          failureReason: ERR.serverBusy,
          advice: { reconnect: phase === 'handshake' ? 'handshake' : 'retry', interval: 1000 },
        }));
      case 'daily-limit':
        return this.#queue(fault.type, ['handshake', 'connect'], fault.count, () => ({
          kind: 'reply',
          error: ERR.dailyLimit,
          failureReason: ERR.dailyLimit,
          advice: NONE,
        }));
      case 'concurrent-limit':
        return this.#queue(fault.type, ['handshake'], fault.count, () => ({
          kind: 'reply',
          error: ERR.concurrentLimit,
          failureReason: ERR.concurrentLimit,
        }));
      case 'drop-connection':
        return this.#queue(fault.type, phases(fault.on, ['connect']), fault.count, DROP);
    }
  }

  /** Takes the oldest fault aimed at `phase` (a drop when `drop`, else a reply), if any. */
  take(phase: FaultPhase, drop = false): FaultEffect | undefined {
    if (this.#pending.length === 0) return undefined;
    const i = this.#pending.findIndex((p) => p.drop === drop && p.phases.has(phase));
    if (i < 0) return undefined;
    const p = this.#pending[i]!;
    if (--p.remaining <= 0) this.#pending.splice(i, 1);
    this.fired.set(p.type, (this.fired.get(p.type) ?? 0) + 1);
    return p.effect(phase);
  }

  /** Takes the oldest fault of either kind aimed at `phase` (for connects held at injection). */
  takeAny(phase: FaultPhase): FaultEffect | undefined {
    const i = this.#pending.findIndex((p) => p.phases.has(phase));
    if (i < 0) return undefined;
    return this.take(phase, this.#pending[i]!.drop);
  }

  /** Milliseconds the stall window still lasts; 0 when not stalled. */
  stallRemaining(now = Date.now()): number {
    return Math.max(0, this.#stallUntil - now);
  }

  #queue(type: FaultSpec['type'], on: FaultPhase[], count: number | undefined, effect: (phase: FaultPhase) => FaultEffect): void {
    const drop = effect === DROP;
    this.#pending.push({ type, phases: new Set(on), drop, remaining: Math.max(1, Math.floor(count ?? 1)), effect });
  }
}

function phases(on: FaultPhase | FaultPhase[] | undefined, fallback: FaultPhase[]): FaultPhase[] {
  if (on === undefined) return fallback;
  return Array.isArray(on) ? on : [on];
}
