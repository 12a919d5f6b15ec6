/**
 * Resyncs: when a channel's events cannot be trusted to be complete (a GAP_OVERFLOW, a
 * wildcard record ID, a replay ID Salesforce no longer retains), the current records of the
 * object modified since the last commit seen are queried by `LastModifiedDate` and routed as
 * gap events (GAP_CREATE when created in the window, else GAP_UPDATE), page by page.
 *
 * A resynced record's identity is (object, record, LastModifiedDate): the same record state
 * reached twice (two overlapping resyncs, a replay after a crash) gets the same idempotency
 * key and is refused by the store the second time. The same state reached once by its event
 * and once by a resync has two identities (the resync cannot know the event's transaction),
 * so a resync leaves out a record when the store already holds an action of that record and
 * route from a change at or after its LastModifiedDate (`alreadyHas`): the change at the
 * window's start, whose event was committed before the loss, is not entered twice.
 */
import { isChangeChannel } from '../config/checks.ts';
import type { BridgeConfig, RouteConfig } from '../config/schema.ts';
import { correlationIdOf } from '../normalize/idempotency.ts';
import { tryTo18 } from '../normalize/ids.ts';
import type { NewAction, NewDeadLetter, NormalizedEvent } from '../core/model.ts';
import type { Router } from '../route/routes.ts';
import type { RecordFetcher } from '../enrich/fetcher.ts';
import { unionNeeds } from '../enrich/needs.ts';

/** What a resync needs from the bridge. */
export interface ResyncDeps {
  fetcher: RecordFetcher;
  router: Router;
  config: Pick<BridgeConfig, 'routes'>;
  /** Whether the store holds an action of this record and route from a change at or after `at` (ms). */
  alreadyHas?(recordId: string, route: string, at: number): Promise<boolean>;
}

/** The objects a channel carries, as far as the config tells: its own, or its routes' `entities`. */
export function entitiesOf(channel: string, routes: readonly RouteConfig[]): string[] {
  const m = /^\/data\/([A-Za-z][A-Za-z0-9_]*?)(__)?ChangeEvent$/.exec(channel);
  if (m && m[1] !== '' && channel !== '/data/ChangeEvents') return [m[2] ? `${m[1]}__c` : m[1]!];
  const named = new Set<string>();
  for (const r of routes) if (r.channel === channel) for (const e of r.entities) named.add(e);
  return [...named];
}

/** Fields to select for `entity` on `channel`: what its routes need, or all fields when one does not say. */
export async function resyncFields(deps: ResyncDeps, channel: string, entity: string): Promise<{ fields: string[]; unknown: string[] }> {
  const routes = deps.config.routes.filter((r) => r.channel === channel && (r.entities.length === 0 || r.entities.includes(entity)));
  const known = await deps.fetcher.fieldsOf(entity);
  const needs = unionNeeds(routes);
  if (needs === undefined) return { fields: [...known], unknown: [] };
  return { fields: needs.filter((f) => known.has(f)), unknown: needs.filter((f) => !known.has(f)) };
}

/**
 * Queries `entity` records modified since `since` and routes them; `onPage` receives each
 * page's actions and dead letters (to commit them). Returns the number of records.
 */
export async function resync(
  deps: ResyncDeps,
  at: { channel: string; replayId: string; entity: string; since: number; until?: number },
  onPage: (actions: NewAction[], deadLetters: NewDeadLetter[]) => Promise<void>,
): Promise<number> {
  const { fields } = await resyncFields(deps, at.channel, at.entity);
  let total = 0;
  for await (const page of deps.fetcher.modifiedSince(at.entity, at.since, fields, at.until)) {
    const routed: NewAction[] = [];
    const deadLetters: NewDeadLetter[] = [];
    const modifiedAt = new Map<NewAction, number>();
    for (const record of page) {
      const event = resyncEvent(at, record);
      if (!event) continue;
      const before = routed.length;
      deps.router.routeInto(event, routed, deadLetters);
      for (let i = before; i < routed.length; i++) modifiedAt.set(routed[i]!, event.commitTimestamp ?? 0);
    }
    const actions: NewAction[] = [];
    for (const a of routed) {
      if (deps.alreadyHas && (await deps.alreadyHas(a.recordId, a.route, modifiedAt.get(a) ?? 0))) continue;
      actions.push(a);
    }
    total += page.length;
    await onPage(actions, deadLetters);
  }
  return total;
}

/** A resynced record as a gap event of the channel. */
export function resyncEvent(
  at: { channel: string; replayId: string; entity: string; since: number },
  record: Record<string, unknown>,
): NormalizedEvent | undefined {
  const recordId = typeof record.Id === 'string' ? tryTo18(record.Id) : undefined;
  if (recordId === undefined) return undefined;
  const modified = typeof record.LastModifiedDate === 'string' ? record.LastModifiedDate : '';
  const created = typeof record.CreatedDate === 'string' ? Date.parse(record.CreatedDate) : NaN;
  return {
    correlationId: correlationIdOf(at.channel, at.replayId, recordId),
    channel: at.channel,
    replayId: at.replayId,
    kind: isChangeChannel(at.channel) ? 'change' : 'platform',
    entityName: at.entity,
    changeType: created >= at.since ? 'GAP_CREATE' : 'GAP_UPDATE',
    recordId,
    contactKey: recordId,
    transactionKey: `resync:${at.entity}:${modified}`,
    sequenceNumber: 0,
    commitTimestamp: Date.parse(modified) || undefined,
    commitNumber: undefined,
    commitUser: undefined,
    changeOrigin: undefined,
    eventUuid: undefined,
    changedFields: [],
    nulledFields: [],
    fields: record,
    receivedAt: Date.now(),
  };
}
