/**
 * Per-contact order for the embedded store: a contact's actions go out one at a time, in
 * outbox order. The first claimed action of a contact is its head until it settles (delivered
 * or dead); while the head is in flight or waits for a retry, the contact's later actions are
 * held behind it, so a retry is never overtaken (Email a → b → c reaches Marketing Cloud as
 * a, b, c even when a first met a 500). The Postgres store keeps the same rule in its claim
 * query; here one process owns the file, so the queue lives in memory and is rebuilt on open
 * from the actions that wait for a retry.
 *
 * An empty Contact Key has no order to keep (as in the Postgres claim).
 */
import type { StoredAction } from '../../core/model.ts';

/** Heads, held actions and released ones, per contact. */
export class ContactOrder {
  /** Contact → the id of its action that was claimed and has not settled. */
  readonly #heads = new Map<string, number>();
  /** Contact → new actions waiting behind its head, in id order. */
  readonly #behind = new Map<string, StoredAction[]>();
  /** Actions whose head settled: due now, claimed before new ones. */
  #ready: StoredAction[] = [];

  /** An action that was attempted and still waits for its retry (read on open): its contact waits behind it. */
  seed(id: number, contactKey: string): void {
    if (contactKey !== '' && !this.#heads.has(contactKey)) this.#heads.set(contactKey, id);
  }

  /** Whether the action may go out now; if so it becomes its contact's head. */
  admit(id: number, contactKey: string): boolean {
    if (contactKey === '') return true;
    const head = this.#heads.get(contactKey);
    if (head === undefined) {
      this.#heads.set(contactKey, id);
      return true;
    }
    return head === id;
  }

  /** Holds an action that `admit` refused behind its contact's head. */
  holdBehind(a: StoredAction): void {
    let q = this.#behind.get(a.contactKey);
    if (!q) this.#behind.set(a.contactKey, (q = []));
    // Nearly always an append: new actions arrive in id order.
    let i = q.length;
    while (i > 0 && q[i - 1]!.id > a.id) i--;
    q.splice(i, 0, a);
  }

  /** Up to `max` released actions, oldest first; the caller admits or holds each again. */
  takeReady(max: number): StoredAction[] {
    if (this.#ready.length === 0 || max <= 0) return [];
    this.#ready.sort((a, b) => a.id - b.id);
    const taken = this.#ready.length <= max ? this.#ready : this.#ready.slice(0, max);
    this.#ready = taken === this.#ready ? [] : this.#ready.slice(max);
    return taken;
  }

  /** Released actions waiting to be claimed. */
  get readyCount(): number {
    return this.#ready.length;
  }

  /** An action settled: its contact's next action, if one waits, is due now. */
  settled(id: number, contactKey: string): void {
    if (contactKey === '' || this.#heads.get(contactKey) !== id) return;
    this.#heads.delete(contactKey);
    const q = this.#behind.get(contactKey);
    if (!q) return;
    this.#ready.push(q.shift()!);
    if (q.length === 0) this.#behind.delete(contactKey);
  }
}
