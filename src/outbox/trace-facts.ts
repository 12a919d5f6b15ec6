/**
 * Facts both stores derive the same way for `trace`: what kind of change a dead letter's source
 * was and when it was received, and which delivery attempt a history row belongs to. Shared so
 * the embedded and the shared store tell one story.
 */

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
