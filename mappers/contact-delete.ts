/**
 * Built-in mapper of contactDelete routes on a change channel: a CDC DELETE (or its GAP_ twin)
 * of a record becomes one Contact Delete of its Contact Key. An UNDELETE cannot bring back a
 * contact Marketing Cloud deleted: it is dead-lettered with CONTACT_UNDELETE_IRREVERSIBLE, so
 * the log line and `dlq list` say that the record is back in Salesforce but not in Marketing
 * Cloud (it returns there with its next change that a journey or send route carries).
 *
 * Route: {"name": "contact-delete", "channel": "/data/ContactChangeEvent",
 *         "changeTypes": ["DELETE", "UNDELETE"],
 *         "target": {"type": "contactDelete", "confirmDeletes": true}, "mapper": "contact-delete"}
 */
import { MappingError, Code } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';

/** Maps a DELETE to one deletion; an UNDELETE to a dead letter saying it is not reversible. Pure. */
export default function contactDelete(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  if (route.target.type !== 'contactDelete') {
    return new MappingError(
      Code.MAPPING_WRONG_TARGET,
      'target.type',
      `route "${route.name}": the contact-delete mapper makes deletions, not ${route.target.type} actions`,
    );
  }
  if (event.contactKey === '') {
    return new MappingError(
      Code.MAPPING_NO_CONTACT_KEY,
      'recordId',
      `route "${route.name}": ${event.entityName} ${event.changeType} event has no record ID, so no Contact Key`,
    );
  }
  if (event.changeType === 'UNDELETE' || event.changeType === 'GAP_UNDELETE') {
    return new MappingError(
      Code.CONTACT_UNDELETE_IRREVERSIBLE,
      'changeType',
      `route "${route.name}": ${event.entityName} ${event.recordId} was undeleted in Salesforce; a contact deleted in Marketing Cloud cannot be restored (it comes back only with its data, on its next change a route sends)`,
    );
  }
  if (event.changeType !== 'DELETE' && event.changeType !== 'GAP_DELETE') {
    return new MappingError(
      Code.MAPPING_WRONG_TARGET,
      'changeType',
      `route "${route.name}": the contact-delete mapper deletes on DELETE only, got ${event.changeType}`,
    );
  }
  return [{ target: 'contactDelete', mode: 'batch', payload: { contactKey: event.contactKey } }];
}
