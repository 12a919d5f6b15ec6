/**
 * The target contract every Marketing Cloud API implements (journey entry, triggered send,
 * transactional send, data extension rows, and later SMS or push): deliver a chunk of actions,
 * return one outcome per item, never throw. An asynchronous API may answer `accepted`: the
 * action stays pending and comes back with `confirm` set, for the target to read its outcome. Failures become outcomes through `classify` (retry.ts).
 */
import { BridgeError, TransientError, Code } from '../core/errors.ts';
import type { ActionPayload, DeliveryIds, PendingConfirmation } from '../core/model.ts';
import type { McRestClient } from './mc/http.ts';
import { classify, retryAfterOf } from './retry.ts';

/** One action to deliver. */
export interface DeliveryItem<P = ActionPayload> {
  id: number;
  /** Deterministic per action; transactional sends use it as Marketing Cloud's messageKey. */
  idempotencyKey: string;
  payload: P;
  mode: 'batch' | 'single';
  /** An asynchronous request that accepted this item earlier: read its outcome, do not send again. */
  confirm?: PendingConfirmation;
}

/** What happened to one item. */
export type DeliveryOutcome =
  | { id: number; status: 'delivered'; ids: DeliveryIds }
  | { id: number; status: 'retry'; error: BridgeError; retryAfterMs?: number }
  | { id: number; status: 'dead'; error: BridgeError }
  /** Accepted asynchronously: look again after `checkAfterMs` (null requestId: send it again). */
  | { id: number; status: 'accepted'; requestId: string | null; row: number; checkAfterMs: number };

/** Delivers items and returns one outcome per item, in input order; it does not throw. */
export interface Target<P = ActionPayload> {
  deliver(items: DeliveryItem<P>[]): Promise<DeliveryOutcome[]>;
}

/** The REST client of a business unit (MID); `undefined` is the configured account. */
export type ClientFor = (mid: string | undefined) => McRestClient;

/** A single client for every MID, or a per-MID lookup, as one function. */
export function clientLookup(client: McRestClient | ClientFor): ClientFor {
  return typeof client === 'function' ? client : () => client;
}

/** Turns a failure into the outcome `classify` says it deserves. */
export function failed(id: number, err: unknown): DeliveryOutcome {
  const error =
    err instanceof BridgeError
      ? err
      : new TransientError(Code.MC_UNEXPECTED, `unexpected failure: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  if (classify(error) === 'dead') return { id, status: 'dead', error };
  const retryAfterMs = retryAfterOf(error);
  return retryAfterMs === undefined ? { id, status: 'retry', error } : { id, status: 'retry', error, retryAfterMs };
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function runLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Groups items by a key, keeping first-seen order of keys and items. */
export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(item);
  }
  return [...groups.values()];
}
