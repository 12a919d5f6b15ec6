/**
 * The built-in declarative mapper of send routes (target `triggeredSend` or `transactional`):
 * one e-mail to the address in the route's `addressField`, with `mapping.data` as the
 * attributes, to the route's definition. Bad input is a MappingError naming the field and the
 * value (no address, an address that is not one, a missing required attribute, attributes
 * larger than one action may carry): the event is dead-lettered and the stream goes on.
 *
 * Route: {"name": "order-confirmation", "channel": "/event/Order_Confirmed__e",
 *         "target": {"type": "transactional", "definitionKey": "order-confirmation", "addressField": "Email__c"},
 *         "mapping": {"data": {"OrderNumber": "Order_Number__c"}, "required": ["OrderNumber"]}}
 */
import { MappingError, Code } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';
import { emailFrom, sizeProblem } from '../src/route/mapping-checks.ts';
import { fieldValue, mappedData, missingHint } from './journey-entry.ts';

/** Maps `event` to one send as the route's target and `mapping` describe. Pure. */
export default function send(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  const target = route.target;
  if (target.type === 'journey' || target.type === 'dataExtension' || target.type === 'contactDelete') {
    return new MappingError(
      Code.MAPPING_WRONG_TARGET,
      'target.type',
      `route "${route.name}": the send mapper makes sends, not ${target.type} actions`,
    );
  }
  const where = `${event.entityName} ${event.recordId}`;
  if (event.contactKey === '') {
    return new MappingError(
      Code.MAPPING_NO_CONTACT_KEY,
      'recordId',
      `route "${route.name}": ${event.entityName} ${event.changeType} event has no record ID, so no Contact Key`,
    );
  }
  if (target.definitionKey === undefined) {
    return new MappingError(Code.MAPPING_MISSING_FIELD, 'target.definitionKey', `route "${route.name}": no definition key configured`);
  }
  const rawAddress = fieldValue(event, target.addressField);
  if (rawAddress === undefined || rawAddress === null || rawAddress === '') {
    return new MappingError(
      Code.MAPPING_MISSING_FIELD,
      target.addressField,
      `route "${route.name}": address field ${target.addressField} missing on ${where} (${event.changeType})${missingHint(event)}`,
    );
  }
  const address = emailFrom(rawAddress, { field: target.addressField, where });
  if (address instanceof MappingError) return address;
  const attributes = mappedData(event, route);
  if (attributes instanceof MappingError) return attributes;
  const big = sizeProblem(attributes, { field: 'mapping.data', where });
  if (big) return big;
  const payload = { definitionKey: target.definitionKey, contactKey: event.contactKey, address, attributes };
  return [
    target.type === 'triggeredSend' ? { target: 'triggeredSend', mode: 'single', payload } : { target: 'transactional', mode: target.mode, payload },
  ];
}
