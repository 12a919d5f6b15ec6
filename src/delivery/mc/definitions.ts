/**
 * Lookups of the things a route sends to, as Marketing Cloud reports them: an event definition
 * by key, a transactional send definition and its status, a data extension. Each answers a
 * verdict instead of throwing, because `check`, the start-up probe and the periodic probe all
 * want "what is wrong with this key", not an exception. The seeds' gotchas are named here: a
 * journey ID or name where the event definition key belongs gets a 400 that does not say so,
 * and an inactive transactional definition accepts messages and then holds them for three days.
 */
import { BridgeError } from '../../core/errors.ts';
import type { McRestClient } from './http.ts';

/** What a probe can check. */
export type DefinitionKind = 'eventDefinition' | 'sendDefinition' | 'triggeredSendDefinition' | 'dataExtension';

/**
 * ok: usable. missing: not found. inactive: exists but will not send. misnamed: a journey ID
 * or name where a key belongs. unchecked: no REST call can tell (classic triggered sends).
 * unreachable: the lookup itself failed (network, 5xx, auth): nothing is known.
 */
export type DefinitionState = 'ok' | 'missing' | 'inactive' | 'misnamed' | 'unchecked' | 'unreachable';

/** The verdict on one key. */
export interface DefinitionVerdict {
  kind: DefinitionKind;
  key: string;
  state: DefinitionState;
  /** One sentence an operator can act on. */
  detail: string;
}

/** True for the states that mean a send to the key will be refused or silently held. */
export function isBroken(state: DefinitionState): boolean {
  return state === 'missing' || state === 'inactive' || state === 'misnamed';
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NOT_FOUND = [400, 404];

/** Looks one key up; never throws. */
export async function lookupDefinition(client: McRestClient, kind: DefinitionKind, key: string): Promise<DefinitionVerdict> {
  const verdict = (state: DefinitionState, detail: string): DefinitionVerdict => ({ kind, key, state, detail });
  try {
    switch (kind) {
      case 'eventDefinition': {
        const res = await client.request('GET', `/interaction/v1/eventDefinitions/key:${encodeURIComponent(key)}`, undefined, { accept: NOT_FOUND });
        if (res.status < 300) return verdict('ok', `event definition ${key} exists`);
        if (GUID.test(key))
          return verdict(
            'misnamed',
            `${JSON.stringify(key)} looks like a journey ID (a GUID), not an event definition key: use the entry source's key (Journey Builder → entry source → Event Definition Key, often APIEvent-…)`,
          );
        if (/\s/.test(key))
          return verdict(
            'misnamed',
            `${JSON.stringify(key)} looks like a journey or entry source name, not an event definition key: use the entry source's key (often APIEvent-…)`,
          );
        return verdict(
          'missing',
          `event definition key ${JSON.stringify(key)} does not exist in this business unit (Marketing Cloud answered ${res.status})`,
        );
      }
      case 'sendDefinition': {
        const res = await client.request<{ status?: unknown }>('GET', `/messaging/v1/email/definitions/${encodeURIComponent(key)}`, undefined, {
          accept: NOT_FOUND,
        });
        if (res.status >= 300)
          return verdict('missing', `transactional send definition ${JSON.stringify(key)} does not exist (Marketing Cloud answered ${res.status})`);
        const status = String(res.body?.status ?? '').toLowerCase();
        if (status === 'active') return verdict('ok', `transactional send definition ${key} is Active`);
        if (status === 'deleted') return verdict('missing', `transactional send definition ${JSON.stringify(key)} is Deleted`);
        return verdict(
          'inactive',
          `transactional send definition ${JSON.stringify(key)} is ${String(res.body?.status ?? 'not Active')}: Marketing Cloud would queue its messages for up to three days without sending them`,
        );
      }
      case 'dataExtension': {
        const res = await client.request('GET', `/data/v1/customobjectdata/key/${encodeURIComponent(key)}/rowset?$pageSize=1`, undefined, {
          accept: NOT_FOUND,
        });
        if (res.status < 300) return verdict('ok', `data extension ${key} exists`);
        return verdict(
          'missing',
          `data extension ${JSON.stringify(key)} does not exist or is not visible to the package (Marketing Cloud answered ${res.status})`,
        );
      }
      case 'triggeredSendDefinition':
        // Only SOAP (TriggeredSendDefinition.TriggeredSendStatus) tells; the bridge speaks REST.
        return verdict(
          'unchecked',
          `classic triggered send definition ${key} cannot be checked over REST; a paused or inactive one answers 400 to the first send, which dead-letters it with that reason`,
        );
    }
  } catch (err) {
    const code = err instanceof BridgeError ? err.code : 'ERROR';
    return verdict('unreachable', `could not look up ${key}: ${code}: ${(err as Error).message}`);
  }
}
