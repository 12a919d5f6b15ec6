/**
 * What replacing a dead letter means, decided once for both engines (`Store.replaceDeadLetter`
 * in sqlite/history.ts and postgres/history.ts): which re-derived action takes over the dead
 * letter's own row, which are new, and what the row and its history say afterwards. The
 * engines only run the SQL.
 */
import type { NewAction, NewDeadLetter } from '../core/model.ts';
import type { ReplaceResult } from './contract.ts';

/** Re-running a dead letter's planning, sorted by what happens to each result. */
export interface Replacement {
  /** The action with the dead letter's own idempotency key: it takes over the row (pending again). */
  takeover: NewAction | undefined;
  /** Other actions: inserted (keys already stored are refused). */
  actions: NewAction[];
  /** Other dead letters: inserted (keys already stored are refused). */
  deadLetters: NewDeadLetter[];
  /** The dead letter's own key failing again: the row stays dead with the new reason. */
  sameFailure: NewDeadLetter | undefined;
}

/** Sorts what re-running planning made against the dead letter's idempotency key. */
export function sortReplacement(key: string, actions: readonly NewAction[], deadLetters: readonly NewDeadLetter[]): Replacement {
  const out: Replacement = { takeover: undefined, actions: [], deadLetters: [], sameFailure: undefined };
  for (const a of actions) {
    if (a.idempotencyKey === key) out.takeover = a;
    else out.actions.push(a);
  }
  for (const d of deadLetters) {
    if (d.idempotencyKey === key) out.sameFailure = d;
    else out.deadLetters.push(d);
  }
  return out;
}

/** What becomes of the dead letter's row, and the history entry that says so. */
export interface ReplacementEnding {
  /** `requeued`: pending again (done with the takeover); `still-dead`: new code and reason; `discarded`: nothing took it over. */
  row: 'requeued' | 'still-dead' | 'discarded';
  history: { outcome: 'rederived' | 'rederive_failed'; code: string | null; detail: string };
  result: ReplaceResult;
}

/** The ending, once the engine has stored the other actions and dead letters (`inserted`, `deadLettered` newly stored). */
export function replacementEnding(r: Replacement, inserted: number, deadLettered: number): ReplacementEnding {
  const result: ReplaceResult = { requeued: r.takeover !== undefined, inserted, deadLettered, stillDead: false };
  if (r.takeover) {
    return {
      row: 'requeued',
      result,
      history: {
        outcome: 'rederived',
        code: null,
        detail: `mapping re-run: pending again${inserted > 0 ? `, with ${inserted} more action(s)` : ''}`,
      },
    };
  }
  if (r.sameFailure) {
    return {
      row: 'still-dead',
      result: { ...result, stillDead: true },
      history: { outcome: 'rederive_failed', code: r.sameFailure.code, detail: r.sameFailure.reason },
    };
  }
  return {
    row: 'discarded',
    result,
    history: { outcome: 'rederived', code: null, detail: `replaced by ${inserted} action(s) and ${deadLettered} dead letter(s)` },
  };
}

/** The error both engines throw when the ID is not a dead letter still in the queue. */
export function notInQueue(id: number): Error {
  return new Error(`action ${id} is not a dead letter in the queue`);
}
