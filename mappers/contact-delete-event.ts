/**
 * Built-in mapper of the admin event `MC_Contact_Delete__e`, for deletions that do not come
 * from a CDC delete (a privacy request handled in a Flow, a contact kept in Salesforce but to be
 * forgotten by Marketing Cloud). The event names the record:
 *   Record_Id__c       the Contact Key (normalize has made it 18 characters)
 *   Correlation_Id__c  optional, the Flow's own reference (kept in the log, not sent)
 * The deletion takes the same path as a CDC delete: confirmDeletes, the hourly cap, dry run.
 *
 * Route: {"name": "admin-contact-delete", "channel": "/event/MC_Contact_Delete__e",
 *         "target": {"type": "contactDelete", "confirmDeletes": true}, "mapper": "contact-delete-event"}
 */
import { MappingError, Code } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';

/** The event fields this mapper reads besides the record ID (`sfmc-bridge check` verifies they exist). */
export const fields = [] as const;

/** Maps one `MC_Contact_Delete__e` to one deletion. Pure. */
export default function contactDeleteEvent(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  if (route.target.type !== 'contactDelete') {
    return new MappingError(
      Code.MAPPING_WRONG_TARGET,
      'target.type',
      `route "${route.name}": the contact-delete-event mapper makes deletions, not ${route.target.type} actions`,
    );
  }
  if (event.contactKey === '') {
    return new MappingError(
      Code.MAPPING_NO_CONTACT_KEY,
      'Record_Id__c',
      `route "${route.name}": ${event.entityName} has no Record_Id__c, so no Contact Key to delete`,
    );
  }
  return [{ target: 'contactDelete', mode: 'batch', payload: { contactKey: event.contactKey } }];
}
