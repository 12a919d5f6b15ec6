/**
 * What the status page shows: counters since start, the backlog, dead letters and the latest
 * record outcomes. Outcomes come from the telemetry events (a small ring in memory), so the
 * page costs the hot path one array write per outcome and the store nothing per event.
 */
import { maskPersonal } from '../../core/log.ts';
import type { AdminStore } from '../../outbox/contract.ts';
import type { Counters, RecordRef, Telemetry } from '../../telemetry/telemetry.ts';

/** One record outcome on the status page. */
export interface RecentOutcome {
  at: number;
  outcome: 'delivered' | 'retry' | 'dead_lettered';
  correlationId: string;
  channel: string;
  recordId: string;
  contactKey: string;
  route: string;
  /** Marketing Cloud identifier (delivered) or error code (retry, dead-lettered). */
  detail: string;
}

/** The JSON behind `/api/status`. */
export interface StatusSnapshot {
  now: number;
  startedAt: number;
  subscribed: boolean;
  /** Each configured channel and whether this instance leads it (a fleet's followers only deliver). */
  channels: { name: string; leader: boolean }[];
  stopping: boolean;
  backlog: number;
  /** Dead letters in the store (all time, not only since start); refreshed at most every `deadCountTtlMs`. */
  deadLetters: number;
  counters: Counters;
  recent: RecentOutcome[];
}

/** Status page state. */
export interface StatusBoard {
  snapshot(): Promise<StatusSnapshot>;
  markStopping(): void;
  close(): void;
}

const RECENT = 25;

/** Starts collecting outcomes from telemetry. */
export function createStatusBoard(deps: {
  telemetry: Telemetry;
  store: AdminStore;
  subscribed(): boolean;
  leads(): ReadonlyMap<string, boolean>;
  allowPersonalData: boolean;
  /** How long the store-wide dead-letter count is reused (it is a table scan). @default 15000 */
  deadCountTtlMs?: number;
}): StatusBoard {
  const startedAt = Date.now();
  const ring: RecentOutcome[] = [];
  let stopping = false;
  let deadCache: { at: number; value: number } | undefined;
  const ttl = deadCountTtlMs(deps.deadCountTtlMs);
  const mask = deps.allowPersonalData ? (s: string) => s : maskPersonal;

  const push = (a: RecordRef, outcome: RecentOutcome['outcome'], detail: string): void => {
    ring.push({
      at: Date.now(),
      outcome,
      correlationId: a.correlationId,
      channel: a.channel,
      recordId: a.recordId,
      contactKey: a.contactKey,
      route: a.route,
      detail,
    });
    if (ring.length > RECENT * 2) ring.splice(0, ring.length - RECENT);
  };
  const unlisten = deps.telemetry.listen({
    delivered: (a, ids) => push(a, 'delivered', ids.eventInstanceId ?? ids.messageKey ?? ids.requestId ?? ''),
    retrying: (a, code) => push(a, 'retry', code),
    deadLettered: (a, code, reason) => push(a, 'dead_lettered', `${code}: ${mask(reason)}`),
  });

  return {
    async snapshot() {
      const now = Date.now();
      if (!deadCache || now - deadCache.at > ttl) deadCache = { at: now, value: (await deps.store.counts()).dead };
      return {
        now,
        startedAt,
        subscribed: deps.subscribed(),
        stopping,
        channels: [...deps.leads()].map(([name, leader]) => ({ name, leader })),
        backlog: await deps.store.backlog(),
        deadLetters: deadCache.value,
        counters: { ...deps.telemetry.counters },
        recent: ring.slice(-RECENT).reverse(),
      };
    },
    markStopping() {
      stopping = true;
    },
    close: unlisten,
  };
}

function deadCountTtlMs(given: number | undefined): number {
  return given ?? 15_000;
}
