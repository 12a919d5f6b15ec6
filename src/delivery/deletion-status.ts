/**
 * Follows the contact deletions Marketing Cloud accepted: asks
 * `GET /contacts/v1/contacts/actions/delete/status?operationID=` every `pollMs` until the
 * operation is Completed (or failed), and reports the outcome once. Deletion runs one operation
 * at a time per account and can take hours, so this is slow polling by design. The operations
 * followed are those accepted since start; the OperationID is also stored with each action, so
 * `trace` shows it and the status call can be made by hand after a restart.
 */
import { BridgeError } from '../core/errors.ts';
import type { ClientFor } from './target.ts';

/** Status path of a deletion operation. */
export function deleteStatusPath(operationId: string): string {
  return `/contacts/v1/contacts/actions/delete/status?operationID=${encodeURIComponent(operationId)}`;
}

/** Where the follower reports. */
export interface DeletionStatusEvents {
  /** The operation finished: `status` is Marketing Cloud's (Completed, or a failure such as Error). */
  settled?(operationId: string, status: string, contacts: number): void;
  /** A status call failed (it is tried again next round). */
  pollFailed?(operationId: string, reason: string): void;
}

interface Followed {
  operationId: string;
  mid: string | undefined;
  contacts: number;
}

const DONE = new Set(['completed', 'complete', 'succeeded']);
const FAILED = new Set(['error', 'failed', 'invalid', 'cancelled', 'canceled']);

/** Polls the status of accepted deletion operations until each settles. */
export class DeletionFollower {
  readonly #clientFor: ClientFor;
  readonly #pollMs: number;
  readonly #events: DeletionStatusEvents;
  readonly #pending = new Map<string, Followed>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: { clientFor: ClientFor; pollMs: number; events?: DeletionStatusEvents }) {
    this.#clientFor = opts.clientFor;
    this.#pollMs = opts.pollMs;
    this.#events = opts.events ?? {};
  }

  /** Operations not settled yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Starts following an operation Marketing Cloud accepted. */
  follow(operationId: string, mid: string | undefined, contacts: number): void {
    if (this.#stopped) return;
    this.#pending.set(operationId, { operationId, mid, contacts });
    this.#timer ??= setTimeout(() => this.#tick(), this.#pollMs);
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = undefined;
    this.#round = this.poll().finally(() => {
      this.#round = undefined;
      if (!this.#stopped && this.#pending.size > 0) {
        this.#timer = setTimeout(() => this.#tick(), this.#pollMs);
        this.#timer.unref();
      }
    });
  }

  /** Asks once for the status of every pending operation. */
  async poll(): Promise<void> {
    for (const op of [...this.#pending.values()]) {
      try {
        const res = await this.#clientFor(op.mid).get<{ operation?: { status?: unknown } }>(deleteStatusPath(op.operationId));
        const status = String(res.body?.operation?.status ?? '');
        const s = status.toLowerCase();
        if (DONE.has(s) || FAILED.has(s)) {
          this.#pending.delete(op.operationId);
          this.#events.settled?.(op.operationId, status, op.contacts);
        }
      } catch (err) {
        const reason = err instanceof BridgeError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
        this.#events.pollFailed?.(op.operationId, reason);
      }
    }
  }

  /** Stops polling (operations still pending are named in the log by the caller). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }
}
