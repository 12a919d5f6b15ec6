/**
 * Built-in mapper of the generic admin event `MC_Send__e`, published from Flow with no code.
 * The event says what to send and to whom:
 *   Record_Id__c       the Contact Key (normalize has made it 18 characters)
 *   Definition_Key__c  the send definition (transactional) or external key (classic);
 *                      the route's definitionKey when blank
 *   Email__c           the recipient's address
 *   Attributes__c      JSON object of attributes (optional)
 *   Api__c             `transactional` or `classic`; the route's target type when blank
 *   Correlation_Id__c  optional; not sent: normalize keeps it as the action's adminCorrelationId
 *                      (logged, traced), as for every platform event that carries the field
 * Bad input (an address that is not one, attributes that do not parse or are not an object,
 * an unknown Api__c, no definition key, attributes larger than one action may carry) is a
 * MappingError naming the field and the value: the event is dead-lettered, the stream goes on.
 *
 * Route: {"name": "admin-send", "channel": "/event/MC_Send__e",
 *         "target": {"type": "transactional"}, "mapper": "send-event"}
 */
import { MappingError, Code } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';
import { emailFrom, jsonObjectFrom, keyFrom, sizeProblem } from '../src/route/mapping-checks.ts';

/** The event fields this mapper reads besides the record ID (`sfmc-bridge check` verifies they exist). */
export const fields = ['Definition_Key__c', 'Email__c', 'Attributes__c', 'Api__c'] as const;

/** Maps one `MC_Send__e` to one triggered or transactional send. */
export default function sendEvent(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  const where = `${event.entityName} for ${event.recordId}`;
  const f = event.fields;
  const target = route.target;
  const apiText = keyFrom(f.Api__c, { field: 'Api__c', where }, 40);
  if (apiText instanceof MappingError) return apiText;
  let api: 'transactional' | 'triggeredSend';
  if (apiText === undefined) api = target.type === 'triggeredSend' ? 'triggeredSend' : 'transactional';
  else if (apiText.toLowerCase() === 'transactional') api = 'transactional';
  else if (apiText.toLowerCase() === 'classic') api = 'triggeredSend';
  else
    return new MappingError(
      Code.MAPPING_BAD_VALUE,
      'Api__c',
      `Api__c on ${where} must be "transactional" or "classic", got ${JSON.stringify(apiText)}`,
    );

  const key = keyFrom(f.Definition_Key__c, { field: 'Definition_Key__c', where });
  if (key instanceof MappingError) return key;
  const definitionKey = key ?? (target.type === 'triggeredSend' || target.type === 'transactional' ? target.definitionKey : undefined);
  if (definitionKey === undefined) {
    return new MappingError(
      Code.MAPPING_MISSING_FIELD,
      'Definition_Key__c',
      `Definition_Key__c on ${where} is empty and route "${route.name}" names no definition`,
    );
  }
  const address = emailFrom(f.Email__c, { field: 'Email__c', where });
  if (address instanceof MappingError) return address;
  const attributes = jsonObjectFrom(f.Attributes__c, { field: 'Attributes__c', where });
  if (attributes instanceof MappingError) return attributes;
  const big = sizeProblem(attributes, { field: 'Attributes__c', where });
  if (big) return big;

  const payload = { definitionKey, contactKey: event.contactKey, address, attributes };
  if (api === 'triggeredSend') return [{ target: 'triggeredSend', mode: 'single', payload }];
  return [{ target: 'transactional', mode: target.type === 'transactional' ? target.mode : 'batch', payload }];
}
