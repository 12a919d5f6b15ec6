/**
 * Deterministic keys. The same Salesforce change, through the same route, always yields the
 * same idempotency key, whichever process or replay produced it; the store refuses a key twice
 * and transactional sends use it as Marketing Cloud's `messageKey`.
 *
 * Key = base64url(sha256(v1 \n channel \n identity \n recordId \n route [\n index])): 43
 * characters of [A-Za-z0-9_-], well under the 64-character limit (and `messageKey`'s 100).
 * identity is what names one event at its source:
 *  - change event: `t:<transactionKey>:<sequenceNumber>` (stable across replays and
 *    re-subscriptions; replay IDs are not, after an org migration);
 *  - platform event: `u:<EventUuid>` (API 52.0+), else `r:<replayId>`;
 *  - either, when the identifying fields are missing: `r:<replayId>`.
 * index distinguishes several actions one mapper makes from one event (0 is left out, so
 * single-action keys do not change if a mapper later adds a second action).
 * Changing this recipe re-keys every action: bump `v1` and say so in the release notes.
 *
 * The correlation ID is shorter (16 hex characters) because it is for people and logs, not
 * for uniqueness guarantees.
 */
import { hash } from 'node:crypto';

/**
 * What identifies one event at its source: a `NormalizedEvent` fits, so does the header of a
 * raw event that failed normalization (recordId is then the raw value, or empty).
 */
export interface KeySource {
  channel: string;
  replayId: string;
  kind: 'change' | 'platform';
  recordId: string;
  transactionKey?: string | undefined;
  sequenceNumber?: number | undefined;
  eventUuid?: string | undefined;
}

/** Route name used in keys of dead letters made before any route was chosen. */
export const NORMALIZE_ROUTE = '(normalize)';

function identityOf(source: KeySource): string {
  if (source.kind === 'platform') {
    return source.eventUuid ? `u:${source.eventUuid}` : `r:${source.replayId}`;
  }
  return source.transactionKey ? `t:${source.transactionKey}:${source.sequenceNumber ?? ''}` : `r:${source.replayId}`;
}

/**
 * The idempotency key of one action (or dead letter) made from `source` by `route`; `index`
 * is the action's position among those one mapper returned. See the file comment for the recipe.
 */
export function idempotencyKey(source: KeySource, route: string, index = 0): string {
  let text = `v1\n${source.channel}\n${identityOf(source)}\n${source.recordId}\n${route}`;
  if (index !== 0) text += `\n${index}`;
  return hash('sha256', text, 'base64url');
}

/** Short deterministic correlation ID: 16 hex characters of sha256(channel, replayId, recordId, eventUuid). */
export function correlationIdOf(channel: string, replayId: string, recordId: string, eventUuid?: string): string {
  return hash('sha256', `${channel}\n${replayId}\n${recordId}\n${eventUuid ?? ''}`, 'hex').slice(0, 16);
}
