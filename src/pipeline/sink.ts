/**
 * The stage between a subscriber and the outbox: plan a received batch into actions
 * and dead letters, and commit them with the channels' checkpoints in one transaction.
 */
import type { Gate, BatchSink } from '../../subscribers/types.ts';
import type { IntakeStore } from '../outbox/contract.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { Planner } from './planner.ts';
import type { NewAction, NewDeadLetter, RawEvent } from '../core/model.ts';
import { commitTimestampOf } from '../normalize/idempotency.ts';

/** Builds the sink a subscriber hands its batches to. */
export function createPipelineSink(deps: {
  planner: Planner;
  store: IntakeStore;
  telemetry: Telemetry;
  onCommitted(inserted: number): void;
  /** Feedback: the status event of a dead letter whose route has feedback on (stored with it). */
  feedbackFor?(d: NewDeadLetter, at: number): NewDeadLetter['feedback'];
}): BatchSink {
  const { planner, store, telemetry, onCommitted, feedbackFor } = deps;
  const stage = { commitExtra: createDerivedCommit(deps) };
  return async (batch, checkpoints) => {
    const plan = await planner(batch, stage);
    const { actions } = plan;
    const deadLetters = feedbackFor ? withFeedback(plan.deadLetters, feedbackFor) : plan.deadLetters;
    const result = await store.commitBatch(actions, deadLetters, checkpoints, commitMarks(batch));
    telemetry.batchCommitted(batch, result, checkpoints);
    for (let i = 0; i < actions.length; i++) telemetry.actionRouted(actions[i]!);
    for (let i = 0; i < deadLetters.length; i++) telemetry.rejected(deadLetters[i]!);
    onCommitted(result.inserted);
  };
}

/**
 * Commits actions and dead letters made apart from a received batch (enrichment follow-ups,
 * reconciliation): in one transaction, with no checkpoint moving, told to telemetry like a batch.
 */
export function createDerivedCommit(deps: {
  store: IntakeStore;
  telemetry: Telemetry;
  onCommitted(inserted: number): void;
  feedbackFor?(d: NewDeadLetter, at: number): NewDeadLetter['feedback'];
}): (actions: NewAction[], deadLetters: NewDeadLetter[]) => Promise<void> {
  return async (actions, planned) => {
    const deadLetters = deps.feedbackFor ? withFeedback(planned, deps.feedbackFor) : planned;
    const result = await deps.store.commitBatch(actions, deadLetters, new Map());
    deps.telemetry.batchCommitted([], result, new Map());
    for (const d of deadLetters) deps.telemetry.rejected(d);
    deps.onCommitted(result.inserted);
  };
}

/** Dead letters with their status events attached, where their route asks for one. */
function withFeedback(deadLetters: NewDeadLetter[], feedbackFor: (d: NewDeadLetter, at: number) => NewDeadLetter['feedback']): NewDeadLetter[] {
  if (deadLetters.length === 0) return deadLetters;
  const now = Date.now();
  return deadLetters.map((d) => {
    const feedback = feedbackFor(d, now);
    return feedback ? { ...d, feedback } : d;
  });
}

/** The latest CDC commitTimestamp per channel in a batch (stored with the checkpoint). */
export function commitMarks(batch: readonly RawEvent[]): Map<string, number> | undefined {
  let marks: Map<string, number> | undefined;
  for (let i = 0; i < batch.length; i++) {
    const raw = batch[i]!;
    const ts = commitTimestampOf(raw.data);
    if (ts === undefined) continue;
    marks ??= new Map();
    if ((marks.get(raw.channel) ?? 0) < ts) marks.set(raw.channel, ts);
  }
  return marks;
}

/** How long a counted backlog is trusted, with this process's commits since added to it (ms). */
export const BACKLOG_COUNT_FRESH_MS = 1000;

/**
 * The backpressure gate: resolves at once while the backlog (plus what the subscriber still
 * holds uncommitted) is under `maxBacklog`, else when the dispatcher has brought the backlog
 * back under. The subscriber awaits it before asking for more.
 *
 * The last count plus what this process committed since (`committed`) bounds the backlog from
 * above, deliveries only lower it: while that stays under the bound the gate opens without
 * counting again, so a shared store is not asked before every fetch. Other instances' commits
 * are not in that sum; a count at least every `freshMs` brings them in. Before closing, it counts.
 */
export function createBacklogGate(
  store: Pick<IntakeStore, 'backlog'>,
  maxBacklog: number,
  freshMs = BACKLOG_COUNT_FRESH_MS,
): { gate: Gate; release(): Promise<void>; committed(inserted: number): void } {
  let waiters: (() => void)[] = [];
  let counted = 0;
  let countedAt = Number.NEGATIVE_INFINITY;
  let since = 0;
  const count = async (): Promise<number> => {
    // Reset before asking: a commit that lands while the count runs is added (at worst twice).
    since = 0;
    counted = await store.backlog(maxBacklog);
    countedAt = Date.now();
    return counted;
  };
  const release = async (): Promise<void> => {
    if (waiters.length === 0 || (await count()) >= maxBacklog) return;
    const ready = waiters;
    waiters = [];
    for (const w of ready) w();
  };
  const gate: Gate = async (pending = 0) => {
    if (Date.now() - countedAt < freshMs && counted + since + pending < maxBacklog) return;
    if ((await count()) + pending < maxBacklog) return;
    await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return {
    gate,
    release,
    committed: (inserted) => {
      since += inserted;
    },
  };
}
