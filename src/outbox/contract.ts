/**
 * The store contract: the outbox of actions, the dead letters and the replay checkpoints.
 * A channel's checkpoint only moves in the same transaction that records what its events
 * became, so a crash at any moment resumes without losing or re-deriving anything.
 */
import type { DeliveryIds, NewAction, NewDeadLetter, StoredAction } from '../core/model.ts';

/**
 * The fields of one delivery status event (MC_Delivery_Status__e), stored with the settlement
 * that produced it, in the same transaction (src/delivery/feedback/status-event.ts builds them).
 */
export type StatusEventFields = Readonly<Record<string, string | number | null>>;

/** A status event waiting to be published. */
export interface PendingStatus {
  id: number;
  actionId: number;
  fields: StatusEventFields;
}

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
  | { id: number; status: 'delivered'; ids: DeliveryIds; feedback?: StatusEventFields }
  | { id: number; status: 'retry'; code: string; reason: string; nextAttemptAt: number }
  | { id: number; status: 'dead'; code: string; reason: string; feedback?: StatusEventFields }
  /**
   * Accepted by an asynchronous API whose outcome is read later (data extension rows): the
   * action stays pending, not an attempt, with the request to confirm and when to look.
   * A null requestId forgets the request (Marketing Cloud no longer knows it): sent again.
   */
  | { id: number; status: 'accepted'; requestId: string | null; row: number; nextAttemptAt: number };

/**
 * A claim on a data extension row's version: `(version, seq)` must be at least the stored
 * one to be sent. `seq` orders two changes of the same version (the outbox id; 0 for a backfill).
 */
export interface RowVersionClaim {
  /** The data extension's external key (and MID). */
  table: string;
  /** The row's primary key values, joined. */
  rowKey: string;
  version: number;
  seq: number;
}

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
  /** The admin's own ID from the event's `Correlation_Id__c`; null when none was given. */
  adminCorrelationId?: string | null;
  payload: unknown;
  attempts: number;
  errorCode: string | null;
  error: string | null;
  deliveryIds: DeliveryIds | null;
  createdAt: number;
  deliveredAt: number | null;
  /** When `dlq discard` took a dead letter out of the queue (stores without a DLQ leave it out). */
  discardedAt?: number | null;
}

/** Which dead letters `deadLetters` returns. */
export interface DeadLetterFilter {
  /** Only this route's (`(normalize)` for events that never reached a route). */
  route?: string;
  /** Only these action IDs. */
  ids?: readonly number[];
  /** Include discarded ones. @default false */
  includeDiscarded?: boolean;
  /** At most this many, oldest first. @default 1000 */
  limit?: number;
}

/** One entry of an action's history (a failed attempt, a requeue, a discard, a re-derivation). */
export interface AttemptRow {
  at: number;
  /** `retry`, `dead`, `requeued`, `discarded`, `rederived`, `rederive_failed`. */
  outcome: string;
  code: string | null;
  detail: string | null;
}

/** What `replaceDeadLetter` did. */
export interface ReplaceResult {
  /** The dead letter's own row became a pending action again (same idempotency key). */
  requeued: boolean;
  /** Other new actions stored. */
  inserted: number;
  /** New dead letters stored (the row's own key failing again is not counted here). */
  deadLettered: number;
  /** The dead letter is still dead (the re-derivation failed the same way). */
  stillDead: boolean;
}

/** One delivery attempt in a record's timeline. */
export interface TraceAttempt {
  /** 1 for the first try. */
  attempt: number;
  at: number;
  /** `delivered`, `retry`, `dead`, or a dead-letter queue step: `requeued`, `discarded`, `rederived`, `rederive_failed`. */
  outcome: 'delivered' | 'retry' | 'dead' | 'requeued' | 'discarded' | 'rederived' | 'rederive_failed';
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
  /** The admin's own ID from the event's `Correlation_Id__c`; null when none was given. */
  adminCorrelationId: string | null;
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
 * The roles a store plays, one per kind of caller, so each caller is typed with what it uses.
 * Every method is atomic, and asynchronous so that a networked store (Postgres) fits the same
 * contract as the embedded one.
 */

/** The source side: checkpoints to resume from, and the one commit of a batch with its checkpoints. */
export interface IntakeStore {
  /** The stored replay ID of every channel that has one. */
  loadCheckpoints(): Promise<Map<string, string>>;
  /**
   * Stores actions and dead letters derived from a batch of events and moves each named
   * channel's checkpoint, all in one transaction. Keys already stored are refused, not errors.
   */
  commitBatch(
    actions: readonly NewAction[],
    deadLetters: readonly NewDeadLetter[],
    checkpoints: ReadonlyMap<string, string>,
    marks?: ReadonlyMap<string, number>,
  ): Promise<CommitResult>;
  /**
   * The latest CDC commitTimestamp committed per channel (`marks` of commitBatch, stored with the
   * checkpoint): where a reconciliation starts after a refused replay ID or a GAP_OVERFLOW.
   */
  loadCommitMarks?(): Promise<Map<string, number>>;
  /**
   * Actions not yet delivered nor dead-lettered (the backlog). With `upTo`, a store may stop
   * counting there (the answer is then at most `upTo`): the backpressure gate only asks whether
   * the bound is reached.
   */
  backlog(upTo?: number): Promise<number>;
}

/** The dispatcher's side: claims and their outcomes. */
export interface DeliveryStore {
  /** Claims up to `limit` due pending actions (none is handed out twice while in flight), in outbox order. */
  claimDue(limit: number, now: number): Promise<StoredAction[]>;
  /** Records the outcome of delivery attempts, in one transaction. */
  recordAttempts(records: readonly AttemptRecord[], now: number): Promise<void>;
  /** Claims left by a process that died become due again; returns how many (stores that keep claims in memory: 0). */
  recoverInflight(): Promise<number>;
  /** Earliest `next_attempt_at` among pending actions, or undefined when none is pending. */
  nextDueAt(): Promise<number | undefined>;
  /**
   * Shared stores: calls `listener` when another process gave the store work (committed
   * actions, settled or released some); returns the function that stops it. A dispatcher told
   * this way polls only as a fallback.
   */
  onWork?(listener: () => void): () => void;
}

/** What `trace` reads: a record's timeline. */
export interface HistoryStore {
  /** Rows of one record or contact key, oldest first. */
  actionsFor(recordOrContactKey: string): Promise<ActionRow[]>;
  /**
   * The timeline of one record or contact key (exact, 18-character form), or of an admin's
   * correlation ID (`Correlation_Id__c`): every action and dead letter made from its events,
   * oldest first, each with its delivery attempts.
   */
  trace(recordOrContactKey: string): Promise<TraceEntry[]>;
  /** An action's history, oldest first. */
  attemptsOf(id: number): Promise<AttemptRow[]>;
}

/** The dead-letter queue: list, requeue, discard, re-derive. */
export interface DeadLetterStore {
  /** Dead letters, oldest first (the dead-letter queue). */
  deadLetters(filter?: DeadLetterFilter): Promise<ActionRow[]>;
  /**
   * Makes dead letters that carry a deliverable action (a target) pending and due at `now`,
   * with a fresh attempt count; their history stays. Returns the IDs requeued (others are
   * skipped: not dead, discarded, or dead before any action existed: see `replaceDeadLetter`).
   */
  requeue(ids: readonly number[], now: number): Promise<number[]>;
  /** Takes dead letters out of the queue, keeping row and history; returns the IDs discarded. */
  discard(ids: readonly number[], now: number, note?: string): Promise<number[]>;
  /**
   * Replaces a dead letter made before delivery (bad input, failed mapping) with what re-running
   * its planning made, in one transaction: an action with the dead letter's own idempotency key
   * takes over its row (pending, due at `now`); other actions and dead letters are inserted
   * (keys already stored are refused); a row nothing took over is marked discarded. A history
   * entry records what happened.
   */
  replaceDeadLetter(id: number, actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[], now: number): Promise<ReplaceResult>;
  /** An action's history, oldest first. */
  attemptsOf(id: number): Promise<AttemptRow[]>;
}

/** Retention: pruning delivered actions. */
export interface RetentionStore {
  /**
   * Deletes up to `limit` delivered actions (and their attempt rows) delivered before
   * `deliveredBefore`; pending and dead-lettered actions are never pruned. Returns how many.
   */
  pruneDelivered(deliveredBefore: number, limit: number): Promise<number>;
}

/** The admin listener's gauges and readiness probe. */
export interface AdminStore {
  /** Actions not yet delivered nor dead-lettered (the backlog); see `IntakeStore.backlog`. */
  backlog(upTo?: number): Promise<number>;
  /** Counts by status. */
  counts(): Promise<Record<ActionRow['status'], number>>;
  /** Resolves when the store can take a write now (readiness probe); rejects with the reason. */
  checkWritable(): Promise<void>;
  /** Delivery status events waiting to be published (feedback). */
  statusBacklog(): Promise<number>;
}

/** The data extension target's newest-wins guard (and the backfill's). */
export interface RowVersionStore {
  /**
   * Newest-wins guard of data extension rows, in one transaction: each claim whose
   * `(version, seq)` is at least the row's stored one becomes the stored one and answers true;
   * an older one answers false (a newer change was sent already: this one must not overwrite it).
   */
  claimRowVersions(claims: readonly RowVersionClaim[]): Promise<boolean[]>;
}

/** Progress of long jobs (a backfill), so they resume where they stopped. */
export interface JobStore {
  /** A named job's saved state, or undefined. */
  loadJobState(name: string): Promise<unknown>;
  /** Saves (or with undefined, clears) a named job's state. */
  saveJobState(name: string, state: unknown): Promise<void>;
}

/** Durable home of checkpoints and actions: every role, and `close`. */
/**
 * The status outbox of feedback (src/delivery/feedback/publisher.ts): statuses written by
 * `recordAttempts` with the settlement, published in id order, deleted once Salesforce took
 * them, kept with a reason when it refused one for good.
 */
export interface FeedbackStore {
  /** Up to `limit` statuses to publish, oldest first, reserved for this process for `leaseMs`. */
  claimStatuses(limit: number, now: number, leaseMs: number): Promise<PendingStatus[]>;
  /** Removes published statuses; keeps refused ones out of the queue with the reason; releases the rest. */
  settleStatuses(published: readonly number[], refused: readonly { id: number; reason: string }[], now: number): Promise<void>;
  /** Makes reserved statuses available again (a failed call, a pause). */
  releaseStatuses(ids: readonly number[]): Promise<void>;
  /** Statuses waiting to be published. */
  statusBacklog(): Promise<number>;
  /** Adds a status about no action (a target the probe found broken). */
  addStatus(fields: StatusEventFields, now: number): Promise<void>;
}

export interface Store
  extends FeedbackStore,
    IntakeStore,
    DeliveryStore,
    HistoryStore,
    DeadLetterStore,
    RetentionStore,
    AdminStore,
    RowVersionStore,
    JobStore {
  close(): Promise<void>;
}
