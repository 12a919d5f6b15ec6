/**
 * Deterministic keys. The same Salesforce change, through the same route, always yields the
 * same idempotency key, whichever process or replay produced it; the store refuses a key twice
 * and transactional sends use it as Marketing Cloud's `messageKey`.
 *
 * Key = time + digest, 43 characters of [A-Za-z0-9_-], well under the 64-character limit (and
 * `messageKey`'s 100):
 *  - time: when the event happened at its source, in ms since the epoch, as 11 lower-case hex
 *    digits (the CDC header's commitTimestamp, a platform event's CreatedDate; 0 when the
 *    event has neither). It is part of the event, so a replay yields the same time;
 *  - digest: the first 32 characters (192 bits) of base64url(sha256(v2 \n channel \n identity
 *    \n recordId \n route [\n index])).
 * The time prefix is for the stores: keys of new actions sort after those already stored, so
 * the unique index takes them at its right edge, as it would take a sequence, instead of at
 * random pages all over it (a random 43-character key cost SQLite 10+ µs an action at 200,000
 * rows, mostly in pages rewritten to the WAL; the prefixed key ~3 µs).
 * identity is what names one event at its source:
 *  - change event: `t:<transactionKey>:<sequenceNumber>` (stable across replays and
 *    re-subscriptions; replay IDs are not, after an org migration);
 *  - platform event: `u:<EventUuid>` (API 52.0+), else `r:<replayId>`;
 *  - either, when the identifying fields are missing: `r:<replayId>`.
 * index distinguishes several actions one mapper makes from one event (0 is left out, so
 * single-action keys do not change if a mapper later adds a second action).
 * Changing this recipe re-keys every action: bump `v2` and say so in the release notes.
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
  /** CDC header's commitTimestamp (ms). */
  commitTimestamp?: number | undefined;
  /** Platform event's CreatedDate (ms). */
  publishedAt?: number | undefined;
}

/** Largest time the 11 hex digits hold (year 2527). */
const MAX_KEY_TIME = 16 ** 11 - 1;

// The last time prefix made: the events of a batch mostly share their commit time (a
// transaction's events do; so do the keys of one event's routes and actions).
let lastTime = 0;
let lastPrefix = '00000000000';

function timePrefix(source: KeySource): string {
  const t = source.commitTimestamp ?? source.publishedAt ?? 0;
  const ms = Number.isSafeInteger(t) && t > 0 && t <= MAX_KEY_TIME ? t : 0;
  if (ms !== lastTime) {
    lastTime = ms;
    lastPrefix = ms.toString(16).padStart(11, '0');
  }
  return lastPrefix;
}

/**
 * When a raw event happened at its source (ms): the CDC header's commitTimestamp, else a
 * platform event's CreatedDate (ISO text on CometD, a long on Pub/Sub).
 */
export function sourceTimeOf(data: unknown): number | undefined {
  return commitTimestampOf(data) ?? publishedAtOf((data as { payload?: { CreatedDate?: unknown } } | null)?.payload?.CreatedDate);
}

/** A raw CDC event's commitTimestamp (ms), when it has a valid one. */
export function commitTimestampOf(data: unknown): number | undefined {
  const ts = (data as { payload?: { ChangeEventHeader?: { commitTimestamp?: unknown } } } | null)?.payload?.ChangeEventHeader?.commitTimestamp;
  return typeof ts === 'number' && Number.isFinite(ts) ? ts : undefined;
}

/** A platform event's CreatedDate in ms, from either transport's form. */
export function publishedAtOf(created: unknown): number | undefined {
  if (typeof created === 'number' && Number.isFinite(created)) return created;
  if (typeof created === 'string') {
    const t = Date.parse(created);
    if (!Number.isNaN(t)) return t;
  }
  return undefined;
}

/** Route name used in keys of dead letters made before any route was chosen. */
export const NORMALIZE_ROUTE = '(normalize)';

/**
 * The hash input's parts, joined into one flat string: a template literal of this many parts
 * builds a chain of intermediate strings per key, and hashing flattens it into one more.
 * Slots: 'v2\n', channel, '\n', identity tag, identity, ':' or '', sequence, '\n', recordId,
 * '\n', route, '\n' or '', index. Reused: the key is made synchronously.
 */
const keyParts: (string | number)[] = ['v2\n', '', '\n', '', '', '', '', '\n', '', '\n', '', '', ''];

/** `identity` (see the file comment) into slots 3–6 of `keyParts`. */
function identityInto(source: KeySource): void {
  keyParts[5] = '';
  keyParts[6] = '';
  if (source.kind === 'platform' ? !source.eventUuid : !source.transactionKey) {
    keyParts[3] = 'r:';
    keyParts[4] = source.replayId;
  } else if (source.kind === 'platform') {
    keyParts[3] = 'u:';
    keyParts[4] = source.eventUuid!;
  } else {
    keyParts[3] = 't:';
    keyParts[4] = source.transactionKey!;
    keyParts[5] = ':';
    keyParts[6] = source.sequenceNumber ?? '';
  }
}

/**
 * The idempotency key of one action (or dead letter) made from `source` by `route`; `index`
 * is the action's position among those one mapper returned. See the file comment for the recipe.
 */
export function idempotencyKey(source: KeySource, route: string, index = 0): string {
  keyParts[1] = source.channel;
  identityInto(source);
  keyParts[8] = source.recordId;
  keyParts[10] = route;
  keyParts[11] = index === 0 ? '' : '\n';
  keyParts[12] = index === 0 ? '' : index;
  const text = keyParts.join('');
  keyParts[1] = keyParts[4] = keyParts[8] = keyParts[10] = ''; // hold no event's strings
  return timePrefix(source) + hash('sha256', text, 'base64url').slice(0, 32);
}

/** When the change an idempotency key was made from happened at its source (ms; 0 when unknown): the key's time prefix. */
export function keyTimeOf(key: string): number {
  const t = Number.parseInt(key.slice(0, 11), 16);
  return Number.isSafeInteger(t) ? t : 0;
}

/** Short deterministic correlation ID: 16 hex characters of sha256(channel, replayId, recordId, eventUuid). */
export function correlationIdOf(channel: string, replayId: string, recordId: string, eventUuid?: string): string {
  correlationParts[0] = channel;
  correlationParts[2] = replayId;
  correlationParts[4] = recordId;
  correlationParts[6] = eventUuid ?? '';
  const text = correlationParts.join('');
  correlationParts[0] = correlationParts[2] = correlationParts[4] = correlationParts[6] = '';
  return hash('sha256', text, 'hex').slice(0, 16);
}

/** The correlation ID's hash input, joined flat as `keyParts` is. */
const correlationParts: string[] = ['', '\n', '', '\n', '', '\n', ''];
