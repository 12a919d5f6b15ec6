/**
 * The built-in declarative mapper: a route's `mapping` becomes one Journey Builder entry.
 *
 * `mapping.data` maps entry-data names to event fields. A field is named flattened
 * (`LastName`, `BillingStreet`) or as a dotted path into the nested compound value
 * (`Name.LastName`, `BillingAddress.Street`); a dotted path that finds nothing falls back to the
 * flattened name, so both spellings work for compound parts. A field the event does not carry
 * is left out of the entry data; a field set to null is sent as null (the change cleared it).
 * `mapping.required` lists data names that must have a value (not missing, null or ""); without
 * one the event becomes a dead letter naming the field and the record.
 *
 * Paths are compiled once per route (routes are frozen config objects), so the per-event work
 * is property reads and one data object.
 */
import { MappingError, Code } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';
import { splitDotted } from '../src/normalize/compound.ts';
import { sizeProblem, surelyFits } from '../src/route/mapping-checks.ts';

interface CompiledEntry {
  name: string;
  path: string;
  /** Path segments when dotted, else undefined. */
  segments: string[] | undefined;
  /** Flattened name of a dotted compound path (`Name.LastName` → `LastName`). */
  flat: string | undefined;
}

interface CompiledMapping {
  entries: CompiledEntry[];
  required: string[];
}

const compiled = new WeakMap<RouteConfig, CompiledMapping>();

function compile(route: RouteConfig): CompiledMapping {
  let mapping = compiled.get(route);
  if (mapping === undefined) {
    const data = route.mapping?.data ?? {};
    mapping = {
      entries: Object.keys(data).map((name) => {
        const path = data[name]!;
        const dotted = splitDotted(path);
        return { name, path, segments: dotted ? path.split('.') : undefined, flat: dotted?.flat };
      }),
      required: [...(route.mapping?.required ?? [])],
    };
    compiled.set(route, mapping);
  }
  return mapping;
}

function resolve(fields: Record<string, unknown>, entry: CompiledEntry): unknown {
  const direct = fields[entry.path];
  if (direct !== undefined || entry.segments === undefined) return direct;
  let value: unknown = fields;
  for (const segment of entry.segments) {
    if (value === null || typeof value !== 'object') {
      value = undefined;
      break;
    }
    value = (value as Record<string, unknown>)[segment];
  }
  return value !== undefined ? value : fields[entry.flat!];
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function missingReason(event: NormalizedEvent, route: RouteConfig, missing: string[], mapping: CompiledMapping): string {
  const described = missing.map((name) => {
    const path = mapping.entries.find((e) => e.name === name)?.path ?? name;
    return path === name ? `"${name}"` : `"${name}" (from ${path})`;
  });
  const hint = missingHint(event);
  return (
    `route "${route.name}": required field${missing.length > 1 ? 's' : ''} ${described.join(', ')} ` +
    `missing on ${event.entityName} ${event.recordId} (${event.changeType})${hint}`
  );
}

/**
 * `route.mapping.data` resolved against the event: fields it lacks are left out, cleared
 * fields are null; a MappingError naming the first missing `required` key. Shared with the
 * declarative send mapper (there the data are the send's attributes).
 */
export function mappedData(event: NormalizedEvent, route: RouteConfig): Record<string, unknown> | MappingError {
  const mapping = compile(route);
  const data: Record<string, unknown> = {};
  for (const entry of mapping.entries) {
    const value = resolve(event.fields, entry);
    if (value !== undefined) data[entry.name] = value;
  }
  let missing: string[] | undefined;
  for (const name of mapping.required) {
    if (isEmpty(data[name])) (missing ??= []).push(name);
  }
  if (missing !== undefined) {
    return new MappingError(Code.MAPPING_MISSING_FIELD, missing[0]!, missingReason(event, route, missing, mapping));
  }
  return data;
}

/** Reads one field, flattened (`LastName`) or dotted (`Name.LastName`), like `mapping.data` does. */
export function fieldValue(event: NormalizedEvent, path: string): unknown {
  const dotted = splitDotted(path);
  return resolve(event.fields, { name: path, path, segments: dotted ? path.split('.') : undefined, flat: dotted?.flat });
}

/** Why a required value is missing, with the hint for UPDATE, DELETE and gap events. */
export function missingHint(event: NormalizedEvent): string {
  if (event.changeType.startsWith('GAP_')) return '; gap events carry no field data';
  if (event.changeType === 'UPDATE') return '; an UPDATE carries only the fields it changed';
  if (event.changeType === 'DELETE') return '; a DELETE carries no field data';
  return '';
}

/** Maps `event` to one journey entry as `route.mapping` describes. Pure. */
export default function journeyEntry(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  const target = route.target;
  if (target.type !== 'journey') {
    return new MappingError(
      Code.MAPPING_WRONG_TARGET,
      'target.type',
      `route "${route.name}": the journey-entry mapper makes journey entries, not ${target.type} sends`,
    );
  }
  if (event.contactKey === '') {
    return new MappingError(
      Code.MAPPING_NO_CONTACT_KEY,
      'recordId',
      `route "${route.name}": ${event.entityName} ${event.changeType} event has no record ID, so no Contact Key`,
    );
  }
  const data = mappedData(event, route);
  if (data instanceof MappingError) return data;
  const big = surelyFits(data) ? undefined : sizeProblem(data, { field: 'mapping.data', where: `${event.entityName} ${event.recordId}` });
  if (big) return big;
  return [
    {
      target: 'journey',
      mode: target.mode,
      payload: { eventDefinitionKey: target.eventDefinitionKey, contactKey: event.contactKey, data },
    },
  ];
}
