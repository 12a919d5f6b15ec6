/**
 * Routing: which routes an event selects, and what their mappers make of it. Routes are
 * compiled once (sets instead of arrays, mapper functions looked up) so that each event costs
 * a map lookup and a few set probes.
 *
 * Selection, all filters must pass:
 *  - channel: the route's channel is the event's;
 *  - entities (change events): empty, or names the event's entity;
 *  - changeTypes (change events): empty, or names the type; a listed type also selects its
 *    gap twin (UPDATE selects GAP_UPDATE), because a gap is the same change with its data
 *    missing, and dropping it silently would lose it;
 *  - changedFields (change events): empty, or any listed name (either form) is in the event's
 *    changedFields. Salesforce leaves changedFields empty on CREATE and UNDELETE: there, a name
 *    selects when the event carries a value for it. A gap event whose changedFields are
 *    unknown (empty) is selected too, for the same reason as above.
 * Events without a record ID (wildcard IDs, GAP_OVERFLOW) cannot become entries: each route
 * whose channel and entity match gets a `RESYNC_REQUIRED` dead letter instead, so the object's
 * resync is visible and nothing vanishes.
 */
import { ConfigError, showValue, Code } from '../core/errors.ts';
import { MAX_SUBSET_ITEMS, SubsetLists } from '../core/subsets.ts';
import {
  ACTION_TARGETS,
  type DataExtensionRowPayload,
  type JourneyEntryPayload,
  type MappedAction,
  type NewAction,
  type NewDeadLetter,
  type NormalizedEvent,
  type SendPayload,
} from '../core/model.ts';
import { tryTo18 } from '../normalize/ids.ts';
import { idempotencyKey } from '../normalize/idempotency.ts';
import { splitDotted } from '../normalize/compound.ts';
import { declarativeMapperOf, type Mapper, type MapperRegistry } from './mapper-loader.ts';
import type { BridgeConfig, RouteConfig } from '../config/schema.ts';

/** What routing one event produced. */
export interface RouteResult {
  actions: NewAction[];
  deadLetters: NewDeadLetter[];
}

/** Compiled routes. */
export interface Router {
  /** Routes and maps one event; never throws. */
  route(event: NormalizedEvent): RouteResult;
  /** `route`, appending to the caller's arrays. */
  routeInto(event: NormalizedEvent, actions: NewAction[], deadLetters: NewDeadLetter[]): void;
  /**
   * The routes that would map `event` (the enrichment stage asks before fetching fields): one
   * shared, frozen list per combination of a channel's routes, so the same list comes back for
   * every event that selects the same routes.
   */
  selects(event: NormalizedEvent): readonly RouteConfig[];
}

interface CompiledRoute {
  name: string;
  config: RouteConfig;
  mapper: Mapper;
  mapperName: string;
  changeTypes: ReadonlySet<string> | undefined;
  entities: ReadonlySet<string> | undefined;
  changedFields: ReadonlySet<string> | undefined;
  /** Flattened names of `changedFields`, for the CREATE/UNDELETE value check. */
  valueFields: readonly string[];
}

const GAP_TWINS = new Set(['CREATE', 'UPDATE', 'DELETE', 'UNDELETE']);

/** What `selects` returns when no route matches. */
const NO_ROUTES: readonly RouteConfig[] = Object.freeze([]);

function compileRoute(route: RouteConfig, index: number, mappers: MapperRegistry): CompiledRoute {
  const mapperName = route.mapper ?? declarativeMapperOf(route);
  const mapper = mappers.get(mapperName);
  if (mapper === undefined) {
    throw new ConfigError(
      route.mapper === undefined ? `routes[${index}].mapping` : `routes[${index}].mapper`,
      `mapper ${showValue(mapperName)} is not loaded (loadMappers loads every mapper the routes name)`,
    );
  }
  let changeTypes: Set<string> | undefined;
  if (route.changeTypes.length > 0) {
    changeTypes = new Set<string>();
    for (const type of route.changeTypes) {
      changeTypes.add(type);
      if (GAP_TWINS.has(type)) changeTypes.add(`GAP_${type}`);
    }
  }
  return {
    name: route.name,
    config: route,
    mapper,
    mapperName,
    changeTypes,
    entities: route.entities.length > 0 ? new Set(route.entities) : undefined,
    changedFields: route.changedFields.length > 0 ? new Set(route.changedFields) : undefined,
    valueFields: route.changedFields.map((name) => splitDotted(name)?.flat ?? name),
  };
}

function changedFieldsMatch(route: CompiledRoute, event: NormalizedEvent): boolean {
  const wanted = route.changedFields;
  if (wanted === undefined || event.kind !== 'change') return true;
  const changed = event.changedFields;
  if (changed.length === 0) {
    if (event.changeType === 'CREATE' || event.changeType === 'UNDELETE') {
      for (const name of route.valueFields) if (event.fields[name] != null) return true;
      return false;
    }
    return event.changeType.startsWith('GAP_');
  }
  for (let i = 0; i < changed.length; i++) if (wanted.has(changed[i]!)) return true;
  return false;
}

// Records are object literals whole, one with and one without adminCorrelationId (absent, not
// undefined, when the event has none): a spread of `{}` in the middle of a literal builds the
// empty object and grows the record's properties one by one, per event.

/**
 * A dead letter of `route` for `event`; `source` is what it keeps as the event (the enriching
 * planner keeps the event as received, before its fetched fields).
 */
export function deadLetter(
  event: NormalizedEvent,
  route: string,
  code: string,
  reason: string,
  index = 0,
  source: NormalizedEvent = event,
): NewDeadLetter {
  const idempotencyKeyOf = idempotencyKey(event, route, index);
  if (event.adminCorrelationId === undefined) {
    return {
      idempotencyKey: idempotencyKeyOf,
      channel: event.channel,
      replayId: event.replayId,
      route,
      recordId: event.recordId,
      contactKey: event.contactKey,
      correlationId: event.correlationId,
      code,
      reason,
      source,
    };
  }
  return {
    idempotencyKey: idempotencyKeyOf,
    channel: event.channel,
    replayId: event.replayId,
    route,
    recordId: event.recordId,
    contactKey: event.contactKey,
    correlationId: event.correlationId,
    adminCorrelationId: event.adminCorrelationId,
    code,
    reason,
    source,
  };
}

/** Why `value` is not a usable action, or undefined. Custom mappers are not trusted blindly. */
function actionProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return `expected an action object, got ${showValue(value)}`;
  const action = value as Record<string, unknown>;
  if (!(ACTION_TARGETS as readonly unknown[]).includes(action.target))
    return `target: expected one of ${ACTION_TARGETS.map((t) => `"${t}"`).join(', ')}, got ${showValue(action.target)}`;
  if (action.mode !== 'batch' && action.mode !== 'single') return `mode: expected "batch" or "single", got ${showValue(action.mode)}`;
  if (action.target === 'triggeredSend' && action.mode !== 'single')
    return `mode: a triggered send is always "single", got ${showValue(action.mode)}`;
  const payload = action.payload as Record<string, unknown> | null | undefined;
  if (payload === null || typeof payload !== 'object') return `payload: expected an object, got ${showValue(payload)}`;
  if (typeof payload.contactKey !== 'string' || payload.contactKey === '')
    return `payload.contactKey: expected a non-empty string, got ${showValue(payload.contactKey)}`;
  if (payload.mid !== undefined && (typeof payload.mid !== 'string' || !/^\d+$/.test(payload.mid)))
    return `payload.mid: expected a MID (digits), got ${showValue(payload.mid)}`;
  if (action.target === 'dataExtension') return rowProblem(payload);
  if (action.target === 'contactDelete')
    return action.mode === 'batch' ? undefined : `mode: a contact deletion is always "batch", got ${showValue(action.mode)}`;
  const keyName = action.target === 'journey' ? 'eventDefinitionKey' : 'definitionKey';
  if (typeof payload[keyName] !== 'string' || (payload[keyName] as string).trim() === '') {
    return `payload.${keyName}: expected a non-empty string, got ${showValue(payload[keyName])}`;
  }
  const bag = action.target === 'journey' ? 'data' : 'attributes';
  if (payload[bag] === null || typeof payload[bag] !== 'object' || Array.isArray(payload[bag]))
    return `payload.${bag}: expected an object, got ${showValue(payload[bag])}`;
  if (action.target !== 'journey' && (typeof payload.address !== 'string' || payload.address === ''))
    return `payload.address: expected an e-mail address, got ${showValue(payload.address)}`;
  return undefined;
}

/** What is wrong with a data extension row payload, or undefined. */
function rowProblem(payload: Record<string, unknown>): string | undefined {
  if (typeof payload.key !== 'string' || payload.key.trim() === '')
    return `payload.key: expected a data extension external key, got ${showValue(payload.key)}`;
  if (payload.row === null || typeof payload.row !== 'object' || Array.isArray(payload.row))
    return `payload.row: expected an object, got ${showValue(payload.row)}`;
  if (
    !Array.isArray(payload.primaryKey) ||
    payload.primaryKey.length === 0 ||
    !payload.primaryKey.every((c) => typeof c === 'string' && Object.hasOwn(payload.row as object, c))
  ) {
    return `payload.primaryKey: expected the row's key columns, got ${showValue(payload.primaryKey)}`;
  }
  if (typeof payload.version !== 'number' || !Number.isFinite(payload.version))
    return `payload.version: expected a number (ms), got ${showValue(payload.version)}`;
  return undefined;
}

/** Actions of one target, definition key and MID go out together. */
export function batchKeyOf(action: MappedAction): string {
  return batchKeyFor(action.target, action.payload);
}

/** `batchKeyOf` of an action with this target and payload (no action object built to ask). */
function batchKeyFor(target: MappedAction['target'], payload: MappedAction['payload']): string {
  const key =
    target === 'journey'
      ? (payload as JourneyEntryPayload).eventDefinitionKey
      : target === 'dataExtension'
        ? (payload as DataExtensionRowPayload).key
        : target === 'contactDelete'
          ? 'contactDelete'
          : (payload as SendPayload).definitionKey;
  return payload.mid === undefined ? key : `${key}\u0000${payload.mid}`;
}

function mapInto(route: CompiledRoute, event: NormalizedEvent, actions: NewAction[], deadLetters: NewDeadLetter[]): void {
  let result: unknown;
  try {
    result = route.mapper(event, route.config);
  } catch (err) {
    deadLetters.push(
      deadLetter(
        event,
        route.name,
        Code.MAPPER_FAILED,
        `route "${route.name}": mapper "${route.mapperName}" threw: ${(err as Error)?.message ?? String(err)}`,
      ),
    );
    return;
  }
  if (result instanceof Error) {
    const code = (result as Error & { code?: unknown }).code;
    deadLetters.push(deadLetter(event, route.name, typeof code === 'string' ? code : Code.MAPPER_FAILED, result.message));
    return;
  }
  if (!Array.isArray(result)) {
    deadLetters.push(
      deadLetter(
        event,
        route.name,
        Code.MAPPER_INVALID_RESULT,
        `route "${route.name}": mapper "${route.mapperName}" returned ${showValue(result)}, expected an array of actions or a MappingError`,
      ),
    );
    return;
  }
  for (let i = 0; i < result.length; i++) {
    const problem = actionProblem(result[i]);
    if (problem !== undefined) {
      deadLetters.push(
        deadLetter(event, route.name, Code.MAPPER_INVALID_RESULT, `route "${route.name}": mapper "${route.mapperName}" action [${i}] ${problem}`, i),
      );
      continue;
    }
    const action = result[i] as MappedAction;
    let payload = action.payload;
    if (payload.contactKey !== event.contactKey) {
      // One spelling per contact: a mapper that hands over a 15-character or re-cased ID gets it canonical.
      const canonical = tryTo18(payload.contactKey);
      if (canonical !== undefined && canonical !== payload.contactKey) payload = { ...payload, contactKey: canonical };
    }
    // The route's business unit applies unless the mapper chose one.
    const mid = route.config.target.mid;
    if (mid !== undefined && payload.mid === undefined) payload = { ...payload, mid };
    const key = idempotencyKey(event, route.name, i);
    const batchKey = batchKeyFor(action.target, payload);
    actions.push(
      event.adminCorrelationId === undefined
        ? {
            idempotencyKey: key,
            route: route.name,
            target: action.target,
            mode: action.mode,
            batchKey,
            payload,
            correlationId: event.correlationId,
            channel: event.channel,
            replayId: event.replayId,
            recordId: event.recordId,
            contactKey: payload.contactKey,
            receivedAt: event.receivedAt,
            changeType: event.changeType,
          }
        : {
            idempotencyKey: key,
            route: route.name,
            target: action.target,
            mode: action.mode,
            batchKey,
            payload,
            correlationId: event.correlationId,
            adminCorrelationId: event.adminCorrelationId,
            channel: event.channel,
            replayId: event.replayId,
            recordId: event.recordId,
            contactKey: payload.contactKey,
            receivedAt: event.receivedAt,
            changeType: event.changeType,
          },
    );
  }
}

/**
 * Compiles the config's routes against loaded mappers.
 * @throws ConfigError when a route's mapper is not in `mappers`.
 */
export function compileRoutes(config: Pick<BridgeConfig, 'routes'>, mappers: MapperRegistry): Router {
  const byChannel = new Map<string, CompiledRoute[]>();
  config.routes.forEach((route, i) => {
    const list = byChannel.get(route.channel) ?? [];
    list.push(compileRoute(route, i, mappers));
    byChannel.set(route.channel, list);
  });
  // Each channel's route configs, in the order of its compiled routes: what `selects` picks from.
  const configsOf = new Map([...byChannel].map(([channel, routes]) => [routes, routes.map((r) => r.config)] as const));

  const routeInto = (event: NormalizedEvent, actions: NewAction[], deadLetters: NewDeadLetter[]): void => {
    const routes = byChannel.get(event.channel);
    if (routes === undefined) return;
    const isChange = event.kind === 'change';
    for (let r = 0; r < routes.length; r++) {
      const route = routes[r]!;
      if (isChange && route.entities !== undefined && !route.entities.has(event.entityName)) continue;
      if (event.recordId === '') {
        deadLetters.push(
          deadLetter(
            event,
            route.name,
            Code.RESYNC_REQUIRED,
            `${event.entityName} ${event.changeType} on ${event.channel} names no records (wildcard IDs or overflow): route "${route.name}" needs a resync of ${event.entityName}`,
          ),
        );
        continue;
      }
      if (isChange && route.changeTypes !== undefined && !route.changeTypes.has(event.changeType)) continue;
      if (!changedFieldsMatch(route, event)) continue;
      mapInto(route, event, actions, deadLetters);
    }
  };

  const selected = (route: CompiledRoute, event: NormalizedEvent, isChange: boolean): boolean => {
    if (isChange && route.entities !== undefined && !route.entities.has(event.entityName)) return false;
    if (isChange && route.changeTypes !== undefined && !route.changeTypes.has(event.changeType)) return false;
    return changedFieldsMatch(route, event);
  };
  // The selected routes by bit mask (bit r: the channel's route r).
  const selections = new SubsetLists<RouteConfig>();
  const selects = (event: NormalizedEvent): readonly RouteConfig[] => {
    const routes = byChannel.get(event.channel);
    if (routes === undefined || event.recordId === '') return NO_ROUTES;
    const isChange = event.kind === 'change';
    if (routes.length > MAX_SUBSET_ITEMS) return routes.filter((route) => selected(route, event, isChange)).map((route) => route.config);
    let mask = 0;
    for (let r = 0; r < routes.length; r++) if (selected(routes[r]!, event, isChange)) mask |= 1 << r;
    return mask === 0 ? NO_ROUTES : selections.of(configsOf.get(routes)!, mask);
  };

  return {
    routeInto,
    selects,
    route(event) {
      const result: RouteResult = { actions: [], deadLetters: [] };
      routeInto(event, result.actions, result.deadLetters);
      return result;
    },
  };
}
