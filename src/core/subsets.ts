/**
 * Shared sublists: the items of a list that a bit mask selects (bit i: item i), made once per
 * list and mask and frozen. A hot path that selects among a few items per event (the routes an
 * event selects, the fields it lacks) asks with the mask and gets the same list back for the
 * same selection, instead of building a list per event.
 */

/** The most items a mask can select among; callers filter longer lists themselves. */
export const MAX_SUBSET_ITEMS = 30;

/** Frozen sublists by list and mask, made on first use. */
export class SubsetLists<T> {
  readonly #byList = new WeakMap<readonly T[], Map<number, readonly T[]>>();

  /** The items of `list` (at most MAX_SUBSET_ITEMS) whose bits are set in `mask`. */
  of(list: readonly T[], mask: number): readonly T[] {
    let byMask = this.#byList.get(list);
    if (byMask === undefined) this.#byList.set(list, (byMask = new Map()));
    let subset = byMask.get(mask);
    if (subset === undefined) {
      subset = Object.freeze(list.filter((_, i) => (mask & (1 << i)) !== 0));
      byMask.set(mask, subset);
    }
    return subset;
  }
}
