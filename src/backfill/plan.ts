/**
 * What a backfill of one route reads and how a read record becomes that route's actions: the
 * SOQL (Id, SystemModstamp and the fields the route's mapping needs, with `--where` and
 * `--since`), and each record as a CREATE-like change event run through the route's own mapper,
 * so mapping, formatting and checks are the live stream's. Send routes are refused here unless
 * the operator confirmed that messaging existing people is what they want.
 */
import { createHash } from 'node:crypto';
import { Code, ConfigError, MappingError, showValue } from '../core/errors.ts';
import type { MappedAction, NewDeadLetter, NormalizedEvent } from '../core/model.ts';
import type { BridgeConfig, RouteConfig } from '../config/schema.ts';
import { routeNeeds } from '../enrich/needs.ts';
import { tryTo18 } from '../normalize/ids.ts';
import { declarativeMapperOf, type Mapper, type MapperRegistry } from '../route/mapper-loader.ts';
import { versionOf } from '../route/field-format.ts';

/** A route ready to backfill. */
export interface BackfillPlan {
  route: RouteConfig;
  entity: string;
  soql: string;
  /** The fields the query selects (Id and SystemModstamp first). */
  fields: string[];
  mapper: Mapper;
}

/** The object a route's records live in, from its entities or its change event channel. */
export function entityOf(route: RouteConfig): string {
  if (route.entities.length === 1) return route.entities[0]!;
  const m = /^\/data\/([A-Za-z0-9_]+?)(__)?ChangeEvent$/.exec(route.channel);
  if (m && m[1] !== undefined && route.channel !== '/data/ChangeEvents') return m[2] ? `${m[1]}__c` : m[1];
  if (route.channel.startsWith('/event/')) {
    throw new ConfigError(
      '--route',
      `route ${showValue(route.name)} reads platform events (${route.channel}): there are no existing records to backfill`,
    );
  }
  throw new ConfigError(
    '--route',
    `route ${showValue(route.name)} listens on ${route.channel}: name exactly one object in its \`entities\` to backfill it`,
  );
}

/** `--since` as a SOQL datetime literal. */
export function sinceLiteral(since: string): string {
  const text = /^\d{4}-\d{2}-\d{2}$/.test(since) ? `${since}T00:00:00Z` : since;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}(T.*)?$/.test(text) || !Number.isFinite(ms))
    throw new ConfigError('--since', `expected an ISO date or date-time such as 2026-01-31 or 2026-01-31T12:00:00Z, got ${showValue(since)}`);
  return new Date(ms).toISOString();
}

/**
 * The plan for `--route name`.
 * @throws ConfigError for an unknown route, a send route without `confirmSends`, or a route whose fields cannot be known.
 */
export function planBackfill(
  config: BridgeConfig,
  mappers: MapperRegistry,
  opts: { route: string; where?: string; since?: string; confirmSends: boolean },
): BackfillPlan {
  const route = config.routes.find((r) => r.name === opts.route);
  if (!route)
    throw new ConfigError('--route', `no route named ${showValue(opts.route)} (routes: ${config.routes.map((r) => r.name).join(', ') || 'none'})`);
  if (route.target.type !== 'dataExtension' && !opts.confirmSends) {
    throw new ConfigError(
      '--confirm-sends',
      `route ${showValue(route.name)} is a ${route.target.type} route: a backfill would message every existing person it selects; pass --confirm-sends if that is what you want`,
    );
  }
  const entity = entityOf(route);
  const needs = routeNeeds(route);
  if (needs === undefined)
    throw new ConfigError(
      `routes[${config.routes.indexOf(route)}].enrich`,
      `route ${showValue(route.name)} has a custom mapper and no \`enrich\` list, so the fields to read are unknown: list them in \`enrich\``,
    );
  const fields = [...new Set(['Id', 'SystemModstamp', ...needs])];
  const where = [opts.where?.trim(), opts.since === undefined ? undefined : `SystemModstamp >= ${sinceLiteral(opts.since)}`].filter(
    (w): w is string => Boolean(w),
  );
  const soql = `SELECT ${fields.join(', ')} FROM ${entity}${where.length > 0 ? ` WHERE ${where.map((w) => (where.length > 1 ? `(${w})` : w)).join(' AND ')}` : ''}`;
  const mapper = mappers.get(route.mapper ?? declarativeMapperOf(route));
  if (!mapper) throw new ConfigError('--route', `the mapper of route ${showValue(route.name)} is not loaded`);
  return { route, entity, soql, fields, mapper };
}

/** What one record became. */
export type Mapped =
  | { kind: 'actions'; recordId: string; version: number; actions: MappedAction[]; event: NormalizedEvent }
  | { kind: 'dead'; deadLetter: NewDeadLetter };

/** A deterministic key for a backfilled record's action or dead letter (a rerun refuses it twice). */
export function backfillKey(route: string, recordId: string, version: number, index = 0): string {
  return `bf:${createHash('sha256').update(`${route}\u0000${recordId}\u0000${version}\u0000${index}`).digest('base64url').slice(0, 40)}`;
}

/** Runs one record through the route's mapper, as a CREATE of the record as it is now. */
export function mapRecord(plan: BackfillPlan, jobId: string, record: Record<string, string | null>, now: number): Mapped {
  const { route } = plan;
  const rawId = record.Id ?? '';
  const recordId = tryTo18(rawId) ?? '';
  const version = versionOf(record.SystemModstamp) ?? now;
  const fields: Record<string, unknown> = { ...record };
  const event: NormalizedEvent = {
    correlationId: `backfill:${jobId}:${recordId || rawId}`,
    channel: route.channel,
    replayId: `backfill:${jobId}`,
    kind: 'change',
    entityName: plan.entity,
    changeType: 'CREATE',
    recordId,
    contactKey: recordId,
    commitTimestamp: version,
    changedFields: [],
    nulledFields: [],
    fields,
    receivedAt: now,
  };
  const dead = (code: Code, reason: string): Mapped => ({
    kind: 'dead',
    deadLetter: {
      idempotencyKey: backfillKey(route.name, recordId || rawId, version),
      channel: route.channel,
      replayId: event.replayId,
      route: route.name,
      recordId,
      contactKey: recordId,
      correlationId: event.correlationId,
      code,
      reason,
      source: event,
    },
  });
  if (recordId === '') return dead(Code.INVALID_ID, `backfill of route "${route.name}": record Id ${showValue(rawId)} is not a Salesforce ID`);
  let result: MappedAction[] | MappingError;
  try {
    result = plan.mapper(event, route);
  } catch (err) {
    return dead(Code.MAPPER_FAILED, `route "${route.name}": mapper threw: ${(err as Error)?.message ?? String(err)}`);
  }
  if (result instanceof MappingError) return dead(result.code as Code, result.message);
  return { kind: 'actions', recordId, version, actions: result, event };
}
