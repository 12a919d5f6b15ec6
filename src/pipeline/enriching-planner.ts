/**
 * The enriching planner: the asynchronous stage between receiving a batch and committing it.
 *
 *   normalize → skip own changes → fetch what is missing → route + map
 *
 * - Loop prevention: a change whose `changeOrigin` names a client in
 *   `salesforce.ignoreChangeOrigins` is skipped (counted, not stored).
 * - Gap events (GAP_CREATE/UPDATE/UNDELETE) carry no fields: the current record is fetched by
 *   ID (batched across the batch's events) and routed as the gap twin of its change type.
 *   GAP_DELETE needs nothing (the record is gone; the route maps what the header gives).
 * - GAP_OVERFLOW and wildcard IDs (`001*`) name no records: the object is resynced by
 *   `LastModifiedDate` since the last commit timestamp seen on the channel.
 * - An UPDATE carries only what changed: fields its selected routes need and it lacks are
 *   fetched (batched per object, coalesced across events, briefly cached).
 * Events keep their order: the batch comes out in the order it went in, so the events of one
 * transaction (`transactionKey`, rising `sequenceNumber`) are stored in sequence. The
 * pipeline commits the result with the batch's checkpoints, so the checkpoint moves only with
 * what the events became. Nothing throws: a record that cannot be fetched, a field the object
 * lacks, a malformed event: each becomes a dead letter with a reason, and the batch goes on.
 */
import type { Logger } from 'pino';
import type { BridgeConfig, ChannelConfig, RouteConfig } from '../config/schema.ts';
import { Code, FetchError, showValue } from '../core/errors.ts';
import { idempotencyKey } from '../normalize/idempotency.ts';
import type { NewAction, NewDeadLetter, NormalizedEvent, RawEvent } from '../core/model.ts';
import type { MapperRegistry } from '../route/mapper-loader.ts';
import { normalizeInto } from '../normalize/events.ts';
import { compileRoutes, deadLetter, type Router } from '../route/routes.ts';
import type { SalesforceTelemetry } from '../telemetry/salesforce.ts';
import { rawDeadLetter, type Planner, type PlannedBatch } from './planner.ts';
import type { RecordFetcher } from '../enrich/fetcher.ts';
import { unionNeeds } from '../enrich/needs.ts';
import { MAX_SUBSET_ITEMS, SubsetLists } from '../core/subsets.ts';
import { resync, resyncFields } from './resync.ts';

/** When nothing was committed on a channel yet, an overflow resync looks back this far. */
const DEFAULT_LOOKBACK_MS = 60 * 60_000;

/** What the stage needs. */
export interface EnrichDeps {
  config: Pick<BridgeConfig, 'channels' | 'routes' | 'salesforce'>;
  mappers: MapperRegistry;
  fetcher: RecordFetcher;
  telemetry: SalesforceTelemetry;
  logger: Logger;
  /** Last commitTimestamp committed per channel (from the store). */
  marks: ReadonlyMap<string, number>;
}

/** The routing outcome of one event: route normally, or dead-letter some routes. */
interface Plan {
  event: NormalizedEvent;
  skip: boolean;
  /** Fields fetched for it (merged under the event's own). */
  fetched: Record<string, unknown> | undefined;
  /** Dead letters replacing the listed routes' actions. */
  refused: Map<string, { code: string; reason: string }> | undefined;
  /** GAP_OVERFLOW or wildcard: resync this object since this time instead. */
  resyncSince: number | undefined;
}

/** Fields to fetch for one plan's record: `wanted` undefined means every field of the object. */
interface FetchRequest {
  plan: Plan;
  routes: readonly RouteConfig[];
  wanted: readonly string[] | undefined;
  gap: boolean;
}

/**
 * A batch as planned: every message's plans and early dead letters (made before routing) in
 * flat lists, message `i` owning `plans[planEnds[i - 1] .. planEnds[i])` and likewise for
 * `early`, instead of two arrays and a holder object per message.
 */
interface Planned {
  plans: Plan[];
  planEnds: number[];
  early: NewDeadLetter[];
  earlyEnds: number[];
}

const NOTHING_MISSING: readonly string[] = Object.freeze([]);

/** Origins look like `com/salesforce/api/soap/62.0;client=SomeApp`. */
function clientOf(changeOrigin: string | undefined): string | undefined {
  if (!changeOrigin) return undefined;
  const m = /(?:^|;)\s*client=([^;]*)/.exec(changeOrigin);
  return m ? m[1]!.trim() : undefined;
}

function allKnown(fields: readonly string[], known: ReadonlySet<string>): boolean {
  for (let i = 0; i < fields.length; i++) if (!known.has(fields[i]!)) return false;
  return true;
}

/** Builds the enriching planner. */
export function createEnrichingPlanner(deps: EnrichDeps): Planner & { router: Router } {
  const { config, fetcher, telemetry, logger } = deps;
  const channels = new Map<string, ChannelConfig>(config.channels.map((c) => [c.name, c]));
  const router = compileRoutes(config, deps.mappers);
  const ignored = new Set(config.salesforce.ignoreChangeOrigins);
  const seen = new Map(deps.marks);
  // Scratch, reused: filled and emptied without an await between. Messages' events are appended
  // and the list emptied once per batch (emptying it drops its backing store).
  const events: NormalizedEvent[] = [];
  // The last origin and its client: a stream's events mostly share one origin text.
  let lastOrigin: string | undefined;
  let lastClient: string | undefined;
  /** True when `changeOrigin` names a client whose changes are not ours to forward. */
  const isIgnoredOrigin = (changeOrigin: string | undefined): boolean => {
    if (ignored.size === 0 || !changeOrigin) return false;
    if (changeOrigin !== lastOrigin) {
      lastOrigin = changeOrigin;
      lastClient = clientOf(changeOrigin);
    }
    return lastClient !== undefined && ignored.has(lastClient);
  };

  const refuse = (plan: Plan, routes: readonly RouteConfig[], code: string, reason: (r: RouteConfig) => string): void => {
    plan.refused ??= new Map();
    for (const r of routes) if (!plan.refused.has(r.name)) plan.refused.set(r.name, { code, reason: reason(r) });
  };

  /**
   * Fetches what the batch's requests want, per object: one describe lookup and one coalesced
   * fetch for all of an object's records (not one per event), then each plan gets its record,
   * or its routes refused: unknown fields, record not found, fetch failed.
   */
  const fetchAll = async (requests: readonly FetchRequest[]): Promise<void> => {
    const byEntity = new Map<string, FetchRequest[]>();
    for (const q of requests) {
      const entity = q.plan.event.entityName;
      const list = byEntity.get(entity);
      if (list === undefined) byEntity.set(entity, [q]);
      else list.push(q);
    }
    await Promise.all([...byEntity].map(([entity, list]) => fetchEntity(entity, list)));
  };

  const fetchEntity = async (entity: string, list: readonly FetchRequest[]): Promise<void> => {
    const failed = (err: unknown, which: readonly FetchRequest[]): void => {
      const reason = err instanceof FetchError ? err.message : String((err as Error)?.message ?? err);
      for (const { plan: p, routes } of which) {
        const e = p.event;
        telemetry.fetchFailed(e.entityName, reason);
        refuse(
          p,
          routes,
          Code.ENRICH_FETCH_FAILED,
          (r) => `route "${r.name}": fetching ${e.entityName} ${e.recordId} (${e.changeType}) failed: ${reason}`,
        );
      }
    };
    let known: ReadonlySet<string>;
    try {
      known = await fetcher.fieldsOf(entity);
    } catch (err) {
      failed(err, list);
      return;
    }
    const wanted: FetchRequest[] = [];
    const ids: string[] = [];
    const fields = new Set<string>();
    for (let i = 0; i < list.length; i++) {
      const q = list[i]!;
      const e = q.plan.event;
      let want = q.wanted ?? [...known];
      if (!allKnown(want, known)) {
        const unknown = want.filter((f) => !known.has(f));
        for (const r of q.routes) {
          const bad = (unionNeeds([r]) ?? []).filter((f) => unknown.includes(f) && !Object.hasOwn(e.fields, f));
          if (bad.length > 0) {
            refuse(
              q.plan,
              [r],
              Code.ENRICH_UNKNOWN_FIELD,
              () =>
                `route "${r.name}": field${bad.length > 1 ? 's' : ''} ${bad.map((f) => showValue(f)).join(', ')} not on ${e.entityName} (describe), so it cannot be fetched for ${e.recordId}`,
            );
          }
        }
        want = want.filter((f) => known.has(f));
      }
      if (want.length === 0) continue;
      wanted.push(q);
      ids.push(e.recordId);
      for (let f = 0; f < want.length; f++) fields.add(want[f]!);
    }
    if (wanted.length === 0) return;
    let found: Map<string, Record<string, unknown>>;
    try {
      found = await fetcher.fetch(entity, ids, [...fields]);
    } catch (err) {
      failed(err, wanted);
      return;
    }
    let enriched = 0;
    let gaps = 0;
    for (let i = 0; i < wanted.length; i++) {
      const { plan: p, routes, gap } = wanted[i]!;
      const e = p.event;
      const record = found.get(e.recordId);
      if (!record) {
        refuse(
          p,
          routes,
          Code.ENRICH_RECORD_NOT_FOUND,
          (r) =>
            `route "${r.name}": ${e.entityName} ${e.recordId} (${e.changeType}) could not be fetched: Salesforce returned no such record (deleted since, or not visible to the integration user)`,
        );
        continue;
      }
      p.fetched = record;
      if (gap) gaps++;
      else enriched++;
    }
    if (gaps > 0) telemetry.gapFetched(gaps);
    if (enriched > 0) telemetry.enriched(enriched);
  };

  /**
   * Fields an UPDATE selected by `routes` needs, memoized per list: the router hands out one
   * shared list per combination of routes, so this is a lookup per event.
   */
  const updateNeeds = (routes: readonly RouteConfig[]): readonly string[] => {
    let needs = updateNeedsOf.get(routes);
    if (needs === undefined) {
      needs = unionNeeds(routes.filter((r) => r.enrich.length > 0 || r.mapping !== undefined)) ?? [];
      updateNeedsOf.set(routes, needs);
    }
    return needs;
  };
  const updateNeedsOf = new WeakMap<readonly RouteConfig[], readonly string[]>();

  /**
   * The fields of `needs` an event lacks, in `needs`' order: `needs` itself when it lacks all of
   * them, else one list built once per combination (no array per event).
   */
  const missingOf = (needs: readonly string[], fields: Readonly<Record<string, unknown>>): readonly string[] => {
    if (needs.length > MAX_SUBSET_ITEMS) return needs.filter((f) => !Object.hasOwn(fields, f));
    let mask = 0;
    let count = 0;
    for (let i = 0; i < needs.length; i++) {
      if (!Object.hasOwn(fields, needs[i]!)) {
        mask |= 1 << i;
        count++;
      }
    }
    if (count === 0) return NOTHING_MISSING;
    return count === needs.length ? needs : missingLists.of(needs, mask);
  };
  const missingLists = new SubsetLists<string>();

  const plan = (e: NormalizedEvent, requests: FetchRequest[]): Plan => {
    const p: Plan = { event: e, skip: false, fetched: undefined, refused: undefined, resyncSince: undefined };
    if (e.kind !== 'change') return p;
    const before = seen.get(e.channel);
    if (e.commitTimestamp !== undefined && (before === undefined || e.commitTimestamp > before)) seen.set(e.channel, e.commitTimestamp);
    if (isIgnoredOrigin(e.changeOrigin)) {
      p.skip = true;
      telemetry.skippedOwnChange(e);
      return p;
    }
    if (e.recordId === '') {
      p.resyncSince = before ?? (e.commitTimestamp ?? Date.now()) - DEFAULT_LOOKBACK_MS;
      return p;
    }
    const routes = router.selects(e);
    const gap = e.changeType.startsWith('GAP_');
    if (gap) {
      if (routes.length > 0 && e.changeType !== 'GAP_DELETE') requests.push({ plan: p, routes, wanted: unionNeeds(routes), gap: true });
    } else if (e.changeType === 'UPDATE' && routes.length > 0) {
      const missing = missingOf(updateNeeds(routes), e.fields);
      // A cached copy serves the event as the stream stands here, before later events of
      // the batch are merged into it; only a record not cached is fetched.
      if (missing.length > 0) {
        const cached = fetcher.cachedCopy(e.recordId, missing);
        if (cached === undefined) requests.push({ plan: p, routes, wanted: missing, gap: false });
        else {
          p.fetched = cached;
          telemetry.enriched(1);
        }
      }
    }
    // In stream order: a cached copy must not outlive what an event changed (the next event
    // of the record would be enriched with the value this one replaced).
    if (e.changeType === 'DELETE' || e.changeType === 'GAP_DELETE') fetcher.remember(e.recordId, undefined);
    else if (!gap) fetcher.remember(e.recordId, e.fields);
    return p;
  };

  /**
   * After a fetch: a fresh copy is newer than the batch's events, but it holds only the fields
   * asked for. What the events said of the others is added to it, the latest event first.
   */
  const fillFetched = (plans: readonly Plan[], requests: readonly FetchRequest[]): void => {
    const fetched = new Set<string>();
    for (let i = 0; i < requests.length; i++) {
      const q = requests[i]!;
      if (!q.gap && q.plan.fetched !== undefined) fetched.add(q.plan.event.recordId);
    }
    if (fetched.size === 0) return;
    for (let j = plans.length - 1; j >= 0; j--) {
      const e = plans[j]!.event;
      if (e.kind === 'change' && fetched.has(e.recordId) && !e.changeType.startsWith('GAP_') && e.changeType !== 'DELETE') {
        fetcher.remember(e.recordId, e.fields, true);
      }
    }
  };

  /** Normalizes and plans every message of `batch`, in order; fetch requests go to `requests`. */
  const planAll = (batch: readonly RawEvent[], requests: FetchRequest[]): Planned => {
    const planned: Planned = { plans: [], planEnds: [], early: [], earlyEnds: [] };
    const { plans, early } = planned;
    for (let b = 0; b < batch.length; b++) {
      const raw = batch[b]!;
      const channel = channels.get(raw.channel);
      if (channel === undefined) {
        early.push(rawDeadLetter(raw, Code.UNKNOWN_CHANNEL, `channel ${JSON.stringify(raw.channel)} is not declared in the config`));
      } else {
        const plansBefore = plans.length;
        const earlyBefore = early.length;
        const eventsFrom = events.length;
        try {
          normalizeInto(raw, channel, events, early);
          for (let e = eventsFrom; e < events.length; e++) plans.push(plan(events[e]!, requests));
        } catch (err) {
          plans.length = plansBefore;
          early.length = earlyBefore;
          early.push(rawDeadLetter(raw, Code.PLAN_FAILED, `planning failed: ${(err as Error)?.message ?? String(err)}`));
        }
      }
      planned.planEnds.push(plans.length);
      planned.earlyEnds.push(early.length);
    }
    events.length = 0;
    return planned;
  };

  const planner = async (batch: readonly RawEvent[], stage?: Parameters<Planner>[1]): Promise<PlannedBatch> => {
    const requests: FetchRequest[] = [];
    const { plans, planEnds, early, earlyEnds } = planAll(batch, requests);
    if (requests.length > 0) {
      await fetchAll(requests); // settles its failures into the plans
      fillFetched(plans, requests);
    }

    const actions: NewAction[] = [];
    const deadLetters: NewDeadLetter[] = [];
    let planFrom = 0;
    let earlyFrom = 0;
    for (let i = 0; i < batch.length; i++) {
      const actionsBefore = actions.length;
      const deadBefore = deadLetters.length;
      const planTo = planEnds[i]!;
      const earlyTo = earlyEnds[i]!;
      try {
        for (let d = earlyFrom; d < earlyTo; d++) deadLetters.push(early[d]!);
        for (let j = planFrom; j < planTo; j++) {
          const p = plans[j]!;
          if (p.skip) continue;
          if (p.resyncSince !== undefined) {
            await resyncFor(p.event, p.resyncSince, stage, deadLetters);
            continue;
          }
          routePlan(p, actions, deadLetters);
        }
      } catch (err) {
        // All or nothing per message, so a retry of the dead letter cannot duplicate actions.
        actions.length = actionsBefore;
        deadLetters.length = deadBefore;
        deadLetters.push(rawDeadLetter(batch[i]!, Code.PLAN_FAILED, `planning failed: ${(err as Error)?.message ?? String(err)}`));
      }
      planFrom = planTo;
      earlyFrom = earlyTo;
    }
    return { actions, deadLetters };
  };

  const routePlan = (p: Plan, actions: NewAction[], deadLetters: NewDeadLetter[]): void => {
    if (p.refused === undefined) {
      // The event is this batch's own (normalized here, its fields object its own: fetched
      // only for change events, whose fields normalize builds), and routing is its last use:
      // its fields take the fetched ones under them in place of a copy of the event.
      if (p.fetched !== undefined) p.event.fields = { ...p.fetched, ...p.event.fields };
      return router.routeInto(p.event, actions, deadLetters);
    }
    const event = p.fetched === undefined ? p.event : { ...p.event, fields: { ...p.fetched, ...p.event.fields } };
    const mine: NewAction[] = [];
    const theirs: NewDeadLetter[] = [];
    router.routeInto(event, mine, theirs);
    for (const a of mine) if (!p.refused.has(a.route)) actions.push(a);
    for (const d of theirs) if (!p.refused.has(d.route)) deadLetters.push(d);
    for (const [route, why] of p.refused) deadLetters.push(deadLetter(event, route, why.code, why.reason, 0, p.event));
  };

  /** Resyncs the object of an overflow or wildcard event; pages are committed as they come. */
  const resyncFor = async (e: NormalizedEvent, since: number, stage: Parameters<Planner>[1], deadLetters: NewDeadLetter[]): Promise<void> => {
    const at = { channel: e.channel, replayId: e.replayId, entity: e.entityName, since };
    const routes = config.routes.filter((r) => r.channel === e.channel && (r.entities.length === 0 || r.entities.includes(e.entityName)));
    if (routes.length === 0) return;
    const why = e.changeType === 'GAP_OVERFLOW' ? 'GAP_OVERFLOW' : 'wildcard record IDs';
    try {
      const { unknown } = await resyncFields({ fetcher, router, config }, e.channel, e.entityName);
      if (unknown.length > 0)
        logger.warn(
          { event: 'resync_unknown_fields', entity: e.entityName, fields: unknown },
          `fields ${unknown.join(', ')} are not on ${e.entityName}; resync selects the others`,
        );
      const pending: { actions: NewAction[]; deadLetters: NewDeadLetter[] } = { actions: [], deadLetters: [] };
      const n = await resync({ fetcher, router, config }, at, async (a, d) => {
        if (stage) await stage.commitExtra(a, d);
        else {
          pending.actions.push(...a);
          pending.deadLetters.push(...d);
        }
      });
      if (!stage) throw new Error('resync needs a pipeline stage to commit its pages');
      telemetry.reconciled(e.channel, e.entityName, since, n, why);
    } catch (err) {
      const reason = err instanceof FetchError ? err.message : String((err as Error)?.message ?? err);
      telemetry.reconcileFailed(e.channel, e.entityName, reason);
      for (const r of routes) {
        deadLetters.push({
          idempotencyKey: idempotencyKey(e, r.name),
          channel: e.channel,
          replayId: e.replayId,
          route: r.name,
          recordId: '',
          contactKey: '',
          correlationId: e.correlationId,
          code: Code.RESYNC_FAILED,
          reason: `route "${r.name}": ${e.entityName} ${e.changeType} (${why}) needs a resync since ${new Date(since).toISOString()}, which failed: ${reason}`,
          source: e,
        });
      }
    }
  };

  return Object.assign(planner, { router });
}
