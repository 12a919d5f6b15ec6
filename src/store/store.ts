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

/** One delivery attempt in a record's timeline. */
export interface TraceAttempt {
  /** 1 for the first try. */
  attempt: number;
  at: number;
  outcome: 'delivered' | 'retry' | 'dead';
  code: string | null;
  detail: string | null;
  /** Marketing Cloud's identifiers, on the delivered attempt. */
  ids?: DeliveryIds;
}

/** One action (or dead letter) made from a record's event, with every attempt: what `trace` prints. */
export interface TraceEntry {
  id: number;
  idempotencyKey: string;
  correlationId: string;
  /** Received: where the event came from. */
  channel: string;
  replayId: string;
  /** CDC change type, `EVENT` for a platform event; null when the event could not be read. */
  changeType: string | null;
  receivedAt: number;
  recordId: string;
  contactKey: string;
  /** Routed: the route and what it asked Marketing Cloud to do (null target: dead-lettered before routing or mapping finished). */
  route: string;
  target: string | null;
  mode: string | null;
  /** The event definition key, for journeys. */
  batchKey: string | null;
  createdAt: number;
  status: ActionRow['status'];
  attempts: TraceAttempt[];
  /** Delivered: when and with which Marketing Cloud IDs. */
  deliveredAt: number | null;
  deliveryIds: DeliveryIds | null;
  /** Dead-lettered (or the last failure): the stable code and the reason. */
  errorCode: string | null;
  error: string | null;
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
  commitBatch(actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], checkpoints: ReadonlyMap<string, string>): Promise<CommitResult>;
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
  /**
   * The timeline of one record or contact key (exact, 18-character form): every action and
   * dead letter made from its events, oldest first, each with its delivery attempts.
   */
  trace(recordOrContactKey: string): Promise<TraceEntry[]>;
  /**
   * Deletes up to `limit` delivered actions (and their attempt rows) delivered before
   * `deliveredBefore`; pending and dead-lettered actions are never pruned. Returns how many.
   */
  pruneDelivered(deliveredBefore: number, limit: number): Promise<number>;
  /** Resolves when the store can take a write now (readiness probe); rejects with the reason. */
  checkWritable(): Promise<void>;
  close(): Promise<void>;
}
