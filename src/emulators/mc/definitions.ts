/**
 * Definition lookups and contact deletion, as Marketing Cloud answers them:
 * `GET /interaction/v1/eventDefinitions/key:{key}` (a journey ID or name in place of the key
 * gets Marketing Cloud's unhelpful 400), `GET /messaging/v1/email/definitions/{definitionKey}`
 * (status Active, Inactive or Deleted), `POST /contacts/v1/contacts/actions/delete?type=keys`
 * (an OperationID, processed later, one operation at a time) and its status call. Also the
 * scope each REST route needs, so a token without it is answered 403 as Marketing Cloud does.
 */
import { randomUUID } from 'node:crypto';
import type { McState } from './state.ts';
import { isRecord, mcError, parseJson, type ParsedRequest, type Reply } from './http.ts';

const EVENT_DEFINITION_PREFIX = '/interaction/v1/eventDefinitions/key:';
const SEND_DEFINITION_PREFIX = '/messaging/v1/email/definitions/';
export const CONTACT_DELETE_PATH = '/contacts/v1/contacts/actions/delete';
export const CONTACT_DELETE_STATUS_PATH = '/contacts/v1/contacts/actions/delete/status';

/** Every scope the emulated installed package holds unless told otherwise. */
export const ALL_SCOPES = [
  'journeys_execute',
  'journeys_read',
  'email_send',
  'email_read',
  'list_and_subscribers_read',
  'list_and_subscribers_write',
  'data_extensions_read',
  'data_extensions_write',
] as const;

/** The scope a REST request needs, or undefined when the emulator does not check one. */
export function requiredScope(method: string, path: string): string | undefined {
  if (path.startsWith('/interaction/')) return method === 'GET' ? 'journeys_read' : 'journeys_execute';
  if (path.startsWith('/messaging/')) return method === 'GET' ? 'email_read' : 'email_send';
  if (path.startsWith('/contacts/')) return method === 'GET' ? 'list_and_subscribers_read' : 'list_and_subscribers_write';
  if (path.startsWith('/data/') || path.startsWith('/hub/')) return method === 'GET' ? 'data_extensions_read' : 'data_extensions_write';
  return undefined;
}

/** Marketing Cloud's answer to a token that lacks the scope. */
export function insufficientScope(scope: string): Reply {
  return mcError(403, 0, `Insufficient privileges to complete this action (the token lacks scope ${scope}).`);
}

/** The key in an event definition lookup path, or undefined. */
export function eventDefinitionLookupKey(path: string): string | undefined {
  return path.startsWith(EVENT_DEFINITION_PREFIX) ? decodeURIComponent(path.slice(EVENT_DEFINITION_PREFIX.length)) : undefined;
}

/** The key in a transactional send definition lookup path, or undefined. */
export function sendDefinitionLookupKey(path: string): string | undefined {
  if (!path.startsWith(SEND_DEFINITION_PREFIX)) return undefined;
  const rest = path.slice(SEND_DEFINITION_PREFIX.length);
  return rest === '' || rest.includes('/') ? undefined : decodeURIComponent(rest);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `GET /interaction/v1/eventDefinitions/key:{key}`. */
export function handleEventDefinition(state: McState, key: string): Reply {
  if (!state.eventDefinitionExists(key)) {
    // What Marketing Cloud does with a journey ID or a name: a 400 that does not say why.
    if (GUID.test(key) || /\s/.test(key)) return mcError(400, 10000, 'The request is invalid.');
    return mcError(404, 30002, `Event definition with key ${key} was not found.`);
  }
  return { status: 200, body: { id: state.idOf(key), eventDefinitionKey: key, name: key, type: 'APIEvent', mode: 'Production' } };
}

/** `GET /messaging/v1/email/definitions/{definitionKey}`: status Active, Inactive or Deleted. */
export function handleSendDefinition(state: McState, key: string): Reply {
  const status = state.definitionStatus.get(key);
  if (status === undefined && state.knownSendKeys && !state.knownSendKeys.has(key)) {
    return mcError(404, 30003, `Definition ${key} was not found.`);
  }
  const shown = status === 'paused' ? 'Inactive' : status === 'deleted' ? 'Deleted' : 'Active';
  return { status: 200, body: { requestId: randomUUID(), definitionKey: key, definitionId: state.idOf(key), name: key, status: shown } };
}

/** `POST /contacts/v1/contacts/actions/delete?type=keys`: queues one deletion operation. */
export function handleContactDelete(state: McState, req: ParsedRequest, now: number): Reply {
  if (req.query.get('type') !== 'keys') return mcError(400, 10001, 'The emulator supports type=keys only.');
  const body = parseJson(req.text);
  const values = isRecord(body) ? (body.values ?? body.Values) : undefined;
  if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string' && v !== '')) {
    return mcError(400, 10001, 'values must be a non-empty array of contact keys.');
  }
  if (!isRecord(body) || body.DeleteOperationType !== 'ContactAndAttributes') {
    return mcError(400, 10001, 'DeleteOperationType must be ContactAndAttributes.');
  }
  const operationID = state.queueDeletion(values as string[], now);
  return {
    status: 200,
    body: {
      operationInitiated: true,
      operationID,
      requestServiceMessageID: randomUUID(),
      hasErrors: false,
      resultMessages: [],
      serviceMessageID: randomUUID(),
    },
  };
}

/** `GET /contacts/v1/contacts/actions/delete/status?operationID=`. */
export function handleContactDeleteStatus(state: McState, req: ParsedRequest, now: number): Reply {
  const id = Number(req.query.get('operationID'));
  const op = Number.isInteger(id) ? state.deletionStatus(id, now) : undefined;
  if (!op) return mcError(404, 10002, `No deletion operation ${req.query.get('operationID') ?? ''}.`);
  return {
    status: 200,
    body: {
      operation: {
        operationID: op.operationID,
        deleteType: 'ContactAndAttributes',
        expectedListCount: op.contactKeys.length,
        status: op.status,
        createdDate: new Date(op.requestedAt).toISOString(),
      },
      requestServiceMessageID: randomUUID(),
      resultMessages: [],
      serviceMessageID: randomUUID(),
    },
  };
}
