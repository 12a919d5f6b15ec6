/**
 * The store contract: the outbox of actions, the dead letters and the replay checkpoints.
 * A channel's checkpoint only moves in the same transaction that records what its events
 * became, so a crash at any moment resumes without losing or re-deriving anything.
 */
import type { DeliveryIds, NewAction, NewDeadLetter, StoredAction } from '../model.ts';

/** What one `commitBatch` did. */
export interface CommitResult {
  /** Actions newly stored. */
  inserted: number;
  /** Actions (or dead letters) whose idempotency key was already stored: refused. */
  duplicates: number;
  /** Dead letters newly stored. */
  deadLettered: number;
}

/** How one delivery attempt ended, as the dispatcher records it. */
export type AttemptRecord =
  | { id: number; status: 'delivered'; ids: DeliveryIds }
  | { id: number; status: 'retry'; code: string; reason: string; nextAttemptAt: number }
  | { id: number; status: 'dead'; code: string; reason: string };

/** An outbox row, as `trace`, `dlq` and tests read it. */
export interface ActionRow {
  id: number;
  idempotencyKey: string;
  status: 'pending' | 'inflight' | 'delivered' | 'dead';
  route: string;
  target: string | null;
  channel: string;
  replayId: string;
  recordId: string;
  contactKey: string;
  correlationId: string;
  payload: unknown;
  attempts: number;
  errorCode: string | null;
  error: string | null;
  deliveryIds: DeliveryIds | null;
  createdAt: number;
  deliveredAt: number | null;
}

/**
 * Durable home of checkpoints and actions. Every method is atomic, and asynchronous so that a
 * networked store (Postgres) fits the same contract as the embedded one.
 */
export interface Store {
  /** The stored replay ID of every channel that has one. */
  loadCheckpoints(): Promise<Map<string, string>>;
  /**
   * Stores actions and dead letters derived from a batch of events and moves each named
   * channel's checkpoint, all in one transaction. Keys already stored are refused, not errors.
   */
  commitBatch(actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], checkpoints: ReadonlyMap<string, string>,
    marks?: ReadonlyMap<string, number>): Promise<CommitResult>;
  /**
   * The latest CDC commitTimestamp committed per channel (`marks` of commitBatch, stored with the
   * checkpoint): where a reconciliation starts after a refused replay ID or a GAP_OVERFLOW.
   */
  loadCommitMarks?(): Promise<Map<string, number>>;
  /** Claims up to `limit` due pending actions (none is handed out twice while in flight), in outbox order. */
  claimDue(limit: number, now: number): Promise<StoredAction[]>;
  /** Records the outcome of delivery attempts, in one transaction. */
  recordAttempts(records: readonly AttemptRecord[], now: number): Promise<void>;
  /** Claims left by a process that died become due again; returns how many (stores that keep claims in memory: 0). */
  recoverInflight(): Promise<number>;
  /** Actions not yet delivered nor dead-lettered (the backlog). */
  backlog(): Promise<number>;
  /** Earliest `next_attempt_at` among pending actions, or undefined when none is pending. */
  nextDueAt(): Promise<number | undefined>;
  /** Rows of one record or contact key, oldest first. */
  actionsFor(recordOrContactKey: string): Promise<ActionRow[]>;
  /** Counts by status. */
  counts(): Promise<Record<ActionRow['status'], number>>;
  close(): Promise<void>;
}
