/**
 * Facts both stores derive the same way for `trace`: what kind of change a dead letter's source
 * was and when it was received, which delivery attempt a history row belongs to, and the trace
 * entry itself. Shared so
 * the embedded and the shared store tell one story.
 */
import type { DeliveryIds } from '../core/model.ts';
import type { TraceAttempt, TraceEntry } from './contract.ts';
import type { DbActionRowOf } from './rows.ts';

/** When and what kind of change a dead letter's source was (a raw message or a normalized event). */
export function sourceFacts(source: unknown): { receivedAt?: number; changeType?: string } {
  if (source === null || typeof source !== 'object') return {};
  const s = source as { receivedAt?: unknown; changeType?: unknown; data?: { payload?: { ChangeEventHeader?: { changeType?: unknown } } } };
  const out: { receivedAt?: number; changeType?: string } = {};
  if (typeof s.receivedAt === 'number') out.receivedAt = s.receivedAt;
  const type = typeof s.changeType === 'string' ? s.changeType : s.data?.payload?.ChangeEventHeader?.changeType;
  if (typeof type === 'string') out.changeType = type.slice(0, 32);
  return out;
}

/** The delivery attempt a history row belongs to: dead-letter queue steps are not attempts, and a requeue starts counting again. */
export function countAttempts(rows: readonly { outcome: string }[], upTo: number): number {
  let n = 0;
  for (let i = 0; i <= upTo; i++) {
    const o = rows[i]!.outcome;
    if (o === 'retry' || o === 'dead') n++;
    else if (o === 'requeued' || o === 'rederived') n = 0;
  }
  return n;
}

/** What a trace entry shows of an action row; both engines' rows carry these columns. */
export type TraceColumns = Pick<
  DbActionRowOf<unknown>,
  | 'id'
  | 'idempotency_key'
  | 'correlation_id'
  | 'admin_correlation_id'
  | 'channel'
  | 'replay_id'
  | 'received_at'
  | 'record_id'
  | 'contact_key'
  | 'route'
  | 'target'
  | 'mode'
  | 'batch_key'
  | 'created_at'
  | 'status'
  | 'attempts'
  | 'delivered_at'
  | 'error_code'
  | 'error'
> & { change_type: string | null };

/** A history row of an action, as both engines read it. */
export interface HistoryColumns {
  at: number;
  outcome: TraceAttempt['outcome'];
  code: string | null;
  detail: string | null;
}

/**
 * One trace entry from an action row, its status as the store sees it (in flight or not), its
 * delivery IDs and its history rows. The successful attempt is the row itself: no attempt row
 * is written on the hot path.
 */
export function traceEntryOf(
  r: TraceColumns,
  status: TraceEntry['status'],
  deliveryIds: DeliveryIds | null,
  history: readonly HistoryColumns[],
): TraceEntry {
  const attempts: TraceAttempt[] = history.map((a, i, all) => ({
    attempt: countAttempts(all, i),
    at: a.at,
    outcome: a.outcome,
    code: a.code,
    detail: a.detail,
  }));
  if (r.status === 'delivered' && r.delivered_at !== null) {
    attempts.push({ attempt: r.attempts, at: r.delivered_at, outcome: 'delivered', code: null, detail: null, ids: deliveryIds ?? {} });
  }
  return {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    correlationId: r.correlation_id,
    adminCorrelationId: r.admin_correlation_id,
    channel: r.channel,
    replayId: r.replay_id,
    changeType: r.change_type,
    receivedAt: r.received_at,
    recordId: r.record_id,
    contactKey: r.contact_key,
    route: r.route,
    target: r.target,
    mode: r.mode,
    batchKey: r.batch_key,
    createdAt: r.created_at,
    status,
    attempts,
    deliveredAt: r.delivered_at,
    deliveryIds,
    errorCode: r.error_code,
    error: r.error,
  };
}
