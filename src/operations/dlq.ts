/**
 * The dead-letter queue's operations, apart from the command line that calls them.
 *
 * Retrying a dead letter means one of two things, decided by when it died:
 *  - At delivery (it has a target: Marketing Cloud refused it, or retries ran out): the stored
 *    action is sent again as it is, with a fresh attempt count. Fix the cause in Marketing
 *    Cloud first (activate the definition, reactivate the contact), then retry.
 *  - Before delivery (bad input, failed mapping, no route or channel: no target): the stored
 *    source is mapped again with the CURRENT config and mappers, so fixing a route or a mapper
 *    and retrying is the repair. The source is the normalized event for a route's dead letter
 *    (re-run through that route only), or the raw message for one that failed normalization
 *    (re-run through the whole planner). An action that gets the dead letter's own
 *    idempotency key takes over its row and history; the same failure again leaves it dead
 *    with the new reason; anything else is stored and the dead letter is marked as replaced.
 * Either way the action's history (`attemptsOf`) keeps every attempt, requeue and discard.
 */
import type { BridgeConfig } from '../config/schema.ts';
import { NORMALIZE_ROUTE } from '../normalize/idempotency.ts';
import type { MapperRegistry } from '../route/mapper-loader.ts';
import type { NormalizedEvent, RawEvent } from '../core/model.ts';
import { compileRoutes } from '../route/routes.ts';
import type { ActionRow, DeadLetterFilter, DeadLetterStore } from '../outbox/contract.ts';
import { createPlanner } from '../pipeline/planner.ts';

/** What happened to one dead letter on retry. */
export interface RetryOutcome {
  id: number;
  /** `requeued`: due again; `rederived`: mapped again into new actions; `still_dead`: failed the same way; `skipped`: not retried. */
  result: 'requeued' | 'rederived' | 'still_dead' | 'skipped';
  detail: string;
}

/** Config parts a re-derivation needs (no credentials). */
export type DlqConfig = Pick<BridgeConfig, 'channels' | 'routes'>;

/** Retries the dead letters selected by `filter` (see the file comment for what that means). */
export async function retryDeadLetters(
  store: DeadLetterStore,
  config: DlqConfig,
  mappers: MapperRegistry,
  filter: DeadLetterFilter,
  now = Date.now(),
): Promise<RetryOutcome[]> {
  const rows = await store.deadLetters({ ...filter, limit: filter.limit ?? Number.MAX_SAFE_INTEGER });
  const out: RetryOutcome[] = [];
  const deliverable = rows.filter((r) => r.target !== null).map((r) => r.id);
  const requeued = new Set(await store.requeue(deliverable, now));
  for (const id of deliverable) {
    out.push(requeued.has(id) ? { id, result: 'requeued', detail: 'due again' } : { id, result: 'skipped', detail: 'no longer a dead letter' });
  }
  for (const row of rows) {
    if (row.target === null) out.push(await rederive(store, config, mappers, row, now));
  }
  return out.sort((a, b) => a.id - b.id);
}

async function rederive(store: DeadLetterStore, config: DlqConfig, mappers: MapperRegistry, row: ActionRow, now: number): Promise<RetryOutcome> {
  let actions;
  let deadLetters;
  if (row.route === NORMALIZE_ROUTE) {
    const raw = row.payload as RawEvent | null;
    if (!raw || typeof raw !== 'object' || typeof raw.channel !== 'string')
      return { id: row.id, result: 'skipped', detail: 'no stored source message' };
    ({ actions, deadLetters } = createPlanner(config, mappers)([raw]));
  } else {
    const route = config.routes.find((r) => r.name === row.route);
    if (!route) return { id: row.id, result: 'skipped', detail: `route ${JSON.stringify(row.route)} is no longer in the config` };
    const event = row.payload as NormalizedEvent | null;
    if (!event || typeof event !== 'object' || typeof event.channel !== 'string' || typeof event.fields !== 'object') {
      return { id: row.id, result: 'skipped', detail: 'no stored source event' };
    }
    ({ actions, deadLetters } = compileRoutes({ routes: [route] }, mappers).route(event));
  }
  const r = await store.replaceDeadLetter(row.id, actions, deadLetters, now);
  if (r.stillDead)
    return { id: row.id, result: 'still_dead', detail: deadLetters.find((d) => d.idempotencyKey === row.idempotencyKey)?.reason ?? 'failed again' };
  const parts = [
    r.requeued ? 'due again' : 'replaced',
    r.inserted > 0 ? `${r.inserted} new action(s)` : '',
    r.deadLettered > 0 ? `${r.deadLettered} new dead letter(s)` : '',
  ].filter(Boolean);
  return { id: row.id, result: r.requeued ? 'requeued' : 'rederived', detail: parts.join(', ') };
}
