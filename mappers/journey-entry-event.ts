/**
 * Example custom mapper, and the one the generic admin event needs: `MC_Journey_Entry__e`,
 * published from Flow with no code. The event says where it goes, so one route serves every
 * journey an admin wires up:
 *   Record_Id__c             the Contact Key (normalize has made it 18 characters)
 *   Event_Definition_Key__c  the journey's entry event; the route's eventDefinitionKey when blank
 *   Data__c                  JSON object of entry data (optional)
 *   Correlation_Id__c        optional; passed on in the data as `CorrelationId` when given
 *
 * Route: {"name": "admin-journey-entry", "channel": "/event/MC_Journey_Entry__e",
 *         "target": {"type": "journey", "eventDefinitionKey": "<fallback key>"},
 *         "mapper": "journey-entry-event"}
 *
 * A custom mapper is a default-exported pure function with this signature: no I/O, no clock,
 * and bad data is returned as a MappingError naming the field, never thrown.
 */
import { MappingError } from '../src/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';

/** The event fields this mapper reads besides the record ID (`sfmc-bridge check` verifies they exist). */
export const fields = ['Event_Definition_Key__c', 'Data__c', 'Correlation_Id__c'] as const;

/** Stable code: a field holds a value the mapper cannot use. */
export const MAPPING_BAD_VALUE = 'MAPPING_BAD_VALUE';

function parseData(event: NormalizedEvent): Record<string, unknown> | MappingError {
  const raw = event.fields.Data__c;
  if (raw === undefined || raw === null || raw === '') return {};
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (err) {
      return new MappingError(MAPPING_BAD_VALUE, 'Data__c',
        `Data__c on ${event.entityName} for ${event.recordId} is not valid JSON (${(err as Error).message}): ${raw.slice(0, 60)}`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return new MappingError(MAPPING_BAD_VALUE, 'Data__c',
      `Data__c on ${event.entityName} for ${event.recordId} must be a JSON object, got ${JSON.stringify(value)?.slice(0, 60)}`);
  }
  return value as Record<string, unknown>;
}

/** Maps one `MC_Journey_Entry__e` to one journey entry. */
export default function journeyEntryEvent(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  const data = parseData(event);
  if (data instanceof MappingError) return data;
  const key = event.fields.Event_Definition_Key__c;
  if (key !== undefined && key !== null && typeof key !== 'string') {
    return new MappingError(MAPPING_BAD_VALUE, 'Event_Definition_Key__c',
      `Event_Definition_Key__c on ${event.entityName} for ${event.recordId} must be text, got ${JSON.stringify(key)}`);
  }
  const eventDefinitionKey = typeof key === 'string' && key.trim() !== '' ? key.trim() : route.target.eventDefinitionKey;
  const correlation = event.fields.Correlation_Id__c;
  const entryData = typeof correlation === 'string' && correlation !== '' ? { ...data, CorrelationId: correlation } : data;
  return [{
    target: 'journey',
    mode: route.target.mode,
    payload: { eventDefinitionKey, contactKey: event.contactKey, data: entryData },
  }];
}
