/**
 * Publishing platform events over REST, as Salesforce does it: sObject collections
 * (`POST /services/data/vXX.X/composite/sobjects`, at most 200 records, `allOrNone`) and the
 * single-record `POST .../sobjects/X__e`. Each accepted record is published on `/event/X__e`
 * (so a subscriber, a Flow in a real org, sees it) and answered `{id, success: true, errors:
 * [{statusCode: "OPERATION_ENQUEUED", message: <EventUuid>}]}`; past the org's hourly
 * publishing allocation a record is refused with `LIMIT_EXCEEDED`, and an injected outage
 * answers `PLATFORM_EVENT_PUBLISHING_UNAVAILABLE`.
 */

/** One record as the emulator published it. */
export interface PublishedRecord {
  type: string;
  fields: Record<string, unknown>;
  replayId: number;
  at: number;
}

/** Answer of the REST front (the shape rest.ts returns). */
interface Reply {
  status: number;
  body: unknown;
}

const MAX_RECORDS = 200;
const HOUR_MS = 3_600_000;

/** The org's platform event publishing over REST. */
export class EventPublishing {
  readonly published: PublishedRecord[] = [];
  /** Events allowed per rolling hour; undefined: no limit. */
  hourlyLimit: number | undefined;
  /** Records to refuse with PLATFORM_EVENT_PUBLISHING_UNAVAILABLE. */
  unavailable = 0;
  readonly #publish: (type: string, fields: Record<string, unknown>) => { replayId: number; eventUuid: string };
  readonly #times: number[] = [];
  #seq = 0;

  constructor(publish: (type: string, fields: Record<string, unknown>) => { replayId: number; eventUuid: string }) {
    this.#publish = publish;
  }

  /** `POST .../composite/sobjects`. */
  collection(text: string): Reply {
    let body: { allOrNone?: unknown; records?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return error(400, 'JSON_PARSER_ERROR', 'The request body is not JSON.');
    }
    const records = body?.records;
    if (!Array.isArray(records)) return error(400, 'INVALID_FIELD', 'records: expected an array');
    if (records.length > MAX_RECORDS)
      return error(400, 'EXCEEDED_ID_LIMIT', `record limit reached. cannot submit more than ${MAX_RECORDS} records into this call`);
    const types = records.map((r) => (r as { attributes?: { type?: unknown } })?.attributes?.type);
    const bad = types.findIndex((t) => typeof t !== 'string' || !t.endsWith('__e'));
    if (bad >= 0) return error(400, 'INVALID_TYPE', `records[${bad}].attributes.type: the emulator publishes platform events (X__e) only`);
    if (body.allOrNone === true && this.#refusalFor(records.length) !== undefined) {
      return { status: 200, body: records.map(() => ({ success: false, errors: [this.#refusalFor(records.length)!] })) };
    }
    return { status: 200, body: records.map((r, i) => this.#one(types[i] as string, r as Record<string, unknown>)) };
  }

  /** `POST .../sobjects/X__e`. */
  single(type: string, text: string): Reply {
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return error(400, 'JSON_PARSER_ERROR', 'The request body is not JSON.');
    }
    const result = this.#one(type, fields);
    return result.success ? { status: 201, body: result } : { status: 400, body: result.errors };
  }

  #refusalFor(n: number): { statusCode: string; message: string; fields: string[] } | undefined {
    if (this.unavailable > 0)
      return {
        statusCode: 'PLATFORM_EVENT_PUBLISHING_UNAVAILABLE',
        message: 'Publishing platform event messages failed because a service was temporarily unavailable. Try again later.',
        fields: [],
      };
    const now = Date.now();
    while (this.#times.length > 0 && this.#times[0]! <= now - HOUR_MS) this.#times.shift();
    if (this.hourlyLimit !== undefined && this.#times.length + n > this.hourlyLimit) {
      return {
        statusCode: 'LIMIT_EXCEEDED',
        message: 'The number of published platform event messages exceeded the hourly publishing limit.',
        fields: [],
      };
    }
    return undefined;
  }

  #one(
    type: string,
    record: Record<string, unknown>,
  ): { id?: string; success: boolean; errors: { statusCode: string; message: string; fields: string[] }[] } {
    const refusal = this.#refusalFor(1);
    if (refusal) {
      if (refusal.statusCode === 'PLATFORM_EVENT_PUBLISHING_UNAVAILABLE') this.unavailable--;
      return { success: false, errors: [refusal] };
    }
    const { attributes: _attributes, ...fields } = record;
    const now = Date.now();
    this.#times.push(now);
    const { replayId, eventUuid } = this.#publish(type, fields);
    this.published.push({ type, fields, replayId, at: now });
    // The Id of a published event is not unique and not delivered; Salesforce returns one anyway.
    const id = `e00xx${String(++this.#seq).padStart(10, '0')}AAA`;
    return { id, success: true, errors: [{ statusCode: 'OPERATION_ENQUEUED', message: eventUuid, fields: [] }] };
  }
}

function error(status: number, errorCode: string, message: string): Reply {
  return { status, body: [{ message, errorCode }] };
}
