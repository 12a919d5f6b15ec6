/**
 * Built-in mapper of the generic admin event `MC_Journey_Entry__e`, published from Flow with no
 * code. The event says where it goes, so one route serves every journey an admin wires up:
 *   Record_Id__c             the Contact Key (normalize has made it 18 characters)
 *   Event_Definition_Key__c  the journey's entry event; the route's eventDefinitionKey when blank
 *   Data__c                  JSON object of entry data (optional)
 *   Correlation_Id__c        optional; passed on in the data as `CorrelationId` when given
 *                            (normalize also keeps it as the action's adminCorrelationId: logged, traced)
 * Bad input (Data__c not JSON or not an object, a key that is not text or too long, no key at
 * all, entry data larger than one action may carry) is a MappingError naming the field and the
 * value: the event is dead-lettered and the stream goes on.
 *
 * Route: {"name": "admin-journey-entry", "channel": "/event/MC_Journey_Entry__e",
 *         "target": {"type": "journey", "eventDefinitionKey": "<fallback key>"},
 *         "mapper": "journey-entry-event"}
 *
 * A custom mapper is a default-exported pure function with this signature: no I/O, no clock,
 * and bad data is returned as a MappingError naming the field, never thrown.
 */
import { MappingError, Code } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';
import { jsonObjectFrom, keyFrom, sizeProblem } from '../src/route/mapping-checks.ts';

/** The event fields this mapper reads besides the record ID (`sfmc-bridge check` verifies they exist). */
export const fields = ['Event_Definition_Key__c', 'Data__c', 'Correlation_Id__c'] as const;

/** Maps one `MC_Journey_Entry__e` to one journey entry. */
export default function journeyEntryEvent(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  const where = `${event.entityName} for ${event.recordId}`;
  const data = jsonObjectFrom(event.fields.Data__c, { field: 'Data__c', where });
  if (data instanceof MappingError) return data;
  const key = keyFrom(event.fields.Event_Definition_Key__c, { field: 'Event_Definition_Key__c', where });
  if (key instanceof MappingError) return key;
  const target = route.target;
  const eventDefinitionKey = key ?? (target.type === 'journey' ? target.eventDefinitionKey : undefined);
  if (eventDefinitionKey === undefined) {
    return new MappingError(
      Code.MAPPING_MISSING_FIELD,
      'Event_Definition_Key__c',
      `Event_Definition_Key__c on ${where} is empty and route "${route.name}" names no journey`,
    );
  }
  const correlation = event.fields.Correlation_Id__c;
  const entryData = typeof correlation === 'string' && correlation !== '' ? { ...data, CorrelationId: correlation } : data;
  const big = sizeProblem(entryData, { field: 'Data__c', where });
  if (big) return big;
  return [
    {
      target: 'journey',
      mode: target.type === 'journey' ? target.mode : 'batch',
      payload: { eventDefinitionKey, contactKey: event.contactKey, data: entryData },
    },
  ];
}
