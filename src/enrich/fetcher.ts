/**
 * Record fetches from Salesforce's REST API for the enrichment stage: current records by ID
 * (gap events, fields an UPDATE does not carry) and resyncs by `LastModifiedDate`.
 *
 * Requests for one object made in the same event-loop turn are coalesced into one set of
 * `SELECT … WHERE Id IN (…)` queries of at most `idsPerQuery` IDs; fetched records are kept in
 * a short-lived LRU cache, so a burst of updates to one record costs one query. The cache is
 * keyed by the 18-character record ID alone: an ID is unique in its org and its key prefix
 * names its object, so no key string is built per lookup. Describe
 * results are kept for the process's life (fields do not change under a running bridge, and
 * a deploy that adds one is followed by a restart). Transient failures are retried with
 * backoff; what still fails becomes a `FetchError` the stage turns into dead letters.
 */
import { LRUCache } from 'lru-cache';
import { GaveUp, retrying } from '../core/backoff.ts';
import { FetchError, SalesforceCode } from '../core/errors.ts';
import type { Connection } from '../salesforce/auth.ts';

/** One page of a SOQL query. */
export interface QueryPage {
  records: Record<string, unknown>[];
  done: boolean;
  nextRecordsUrl?: string;
}

/** The REST calls the fetcher makes (a jsforce `Connection` adapted by `restOf`). */
export interface SalesforceRest {
  query(soql: string): Promise<QueryPage>;
  queryMore(nextRecordsUrl: string): Promise<QueryPage>;
  describe(entity: string): Promise<{ fields: { name: string }[] }>;
}

/** Adapts a jsforce connection; given a getter, the connection is asked for at the first call. */
export function restOf(conn: Connection | (() => Connection)): SalesforceRest {
  const c = typeof conn === 'function' ? conn : () => conn;
  return {
    query: async (soql) => (await c().query(soql)) as unknown as QueryPage,
    queryMore: async (url) => (await c().queryMore(url)) as unknown as QueryPage,
    describe: async (entity) => (await c().describe(entity)) as unknown as { fields: { name: string }[] },
  };
}

/** The same REST calls, each told to `onCall` first (telemetry counts them). */
export function observeRest(rest: SalesforceRest, onCall: (kind: 'query' | 'queryMore' | 'describe') => void): SalesforceRest {
  return {
    query: (soql) => {
      onCall('query');
      return rest.query(soql);
    },
    queryMore: (url) => {
      onCall('queryMore');
      return rest.queryMore(url);
    },
    describe: (entity) => {
      onCall('describe');
      return rest.describe(entity);
    },
  };
}

/** Options of the fetcher (salesforce.enrichment in the config). */
export interface FetcherOptions {
  idsPerQuery: number;
  cacheTtlMs: number;
  cacheMax: number;
  maxAttempts: number;
  /** Ceiling of the first retry wait (full jitter); doubles per attempt up to 30 s. @default 500 */
  retryDelayMs?: number;
}

/** Salesforce error codes that no retry can fix. */
const PERMANENT: ReadonlySet<string> = new Set([
  SalesforceCode.INVALID_FIELD,
  SalesforceCode.MALFORMED_QUERY,
  SalesforceCode.INVALID_TYPE,
  SalesforceCode.NOT_FOUND,
  SalesforceCode.INVALID_QUERY_FILTER_OPERATOR,
  SalesforceCode.INVALID_QUERY_LOCATOR,
]);
/** Longest wait between two tries of one fetch. */
const MAX_RETRY_WAIT_MS = 30_000;
/** A GET URL longer than this is refused by some proxies; IN lists are cut to stay under it. */
const MAX_SOQL_CHARS = 12_000;

interface Pending {
  ids: Set<string>;
  fields: Set<string>;
  waiters: { ids: string[]; resolve(records: Map<string, Record<string, unknown>>): void; reject(err: unknown): void }[];
}

/** Fetches records for one bridge. */
export class RecordFetcher {
  readonly #rest: SalesforceRest;
  readonly #opts: FetcherOptions;
  readonly #cache: LRUCache<string, Record<string, unknown>> | undefined;
  readonly #describes = new Map<string, Promise<ReadonlySet<string>>>();
  readonly #pending = new Map<string, Pending>();
  #scheduled = false;
  /** When expired records were last dropped from #cache. */
  #purgedAt = 0;
  /** SOQL queries sent (first pages and queryMore), for telemetry. */
  queries = 0;

  constructor(rest: SalesforceRest, opts: FetcherOptions) {
    this.#rest = rest;
    this.#opts = opts;
    this.#cache = opts.cacheMax > 0 && opts.cacheTtlMs > 0 ? new LRUCache({ max: opts.cacheMax, ttl: opts.cacheTtlMs }) : undefined;
  }

  /** The object's field names (describe, cached). @throws FetchError */
  fieldsOf(entity: string): Promise<ReadonlySet<string>> {
    let known = this.#describes.get(entity);
    if (!known) {
      known = this.#retrying(`describe ${entity}`, async () => new Set((await this.#rest.describe(entity)).fields.map((f) => f.name)));
      known.catch(() => this.#describes.delete(entity)); // a failed describe is asked again next time
      this.#describes.set(entity, known);
    }
    return known;
  }

  /**
   * Current values of `fields` of records `ids` (18-character) of `entity`. Records Salesforce
   * did not return (deleted, or never visible to the user) are absent from the map.
   * @throws FetchError
   */
  fetch(entity: string, ids: readonly string[], fields: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    this.#purgeStale();
    return new Promise((resolve, reject) => {
      let p = this.#pending.get(entity);
      if (!p) this.#pending.set(entity, (p = { ids: new Set(), fields: new Set(['Id']), waiters: [] }));
      for (const id of ids) p.ids.add(id);
      for (const f of fields) p.fields.add(f);
      p.waiters.push({ ids: [...ids], resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#drain());
      }
    });
  }

  /**
   * Drops expired records, at most once per TTL. lru-cache drops one only when it is asked for
   * it or needs its room, so a stream of updates to ever new records (a burst) would fill the
   * cache to `cacheMax` with records no event can use any more: ~2 MB of live heap at the
   * default 10,000 instead of the last 5 s of fetches.
   */
  #purgeStale(): void {
    const now = Date.now();
    if (this.#cache === undefined || now - this.#purgedAt < this.#opts.cacheTtlMs) return;
    this.#purgedAt = now;
    this.#cache.purgeStale();
  }

  /** The cached copy of a record when it holds every one of `fields`; never a query. */
  cachedCopy(id: string, fields: readonly string[]): Record<string, unknown> | undefined {
    const cached = this.#cache?.peek(id);
    return cached !== undefined && hasAll(cached, fields) ? cached : undefined;
  }

  /**
   * What a change event says of a record, in stream order: merged into its cached copy, if
   * any, so a later event of the same record is not enriched with values this one replaced
   * (the copy keeps the lifetime of its fetch); a deleted record leaves the cache. With
   * `onlyMissing`, only fields the copy lacks are added (a fresh fetch is newer than the event).
   * Cached copies are replaced, never changed, so a copy handed out stays as it was.
   */
  remember(id: string, fields: Readonly<Record<string, unknown>> | undefined, onlyMissing = false): void {
    const cache = this.#cache;
    if (cache === undefined) return;
    if (fields === undefined) {
      cache.delete(id);
      return;
    }
    const cached = cache.peek(id);
    if (cached !== undefined) cache.set(id, onlyMissing ? { ...fields, ...cached } : { ...cached, ...fields }, { noUpdateTTL: true });
  }

  /**
   * Pages of the records of `entity` modified at or after `since` (ms), oldest first.
   * @throws FetchError
   */
  async *modifiedSince(entity: string, since: number, fields: readonly string[], until?: number): AsyncGenerator<Record<string, unknown>[]> {
    const select = [...new Set(['Id', 'CreatedDate', 'LastModifiedDate', ...fields])].join(', ');
    // `until` leaves out what Salesforce still holds events for: those arrive as events. The
    // instant itself is in: other changes may share it (the same millisecond, or the same second
    // of a LastModifiedDate), and one already brought by its event is left out by the caller.
    const upper = until === undefined ? '' : ` AND LastModifiedDate <= ${new Date(until).toISOString()}`;
    const soql = `SELECT ${select} FROM ${entity} WHERE LastModifiedDate >= ${new Date(since).toISOString()}${upper} ORDER BY LastModifiedDate, Id`;
    let page = await this.#retrying(`resync ${entity}`, () => this.#query(soql));
    for (;;) {
      yield page.records.map(plain);
      if (page.done || !page.nextRecordsUrl) return;
      const next = page.nextRecordsUrl;
      page = await this.#retrying(`resync ${entity}`, () => this.#more(next));
    }
  }

  #drain(): void {
    this.#scheduled = false;
    const work = [...this.#pending];
    this.#pending.clear();
    for (const [entity, p] of work) {
      this.#load(entity, p).then(
        (found) => {
          // One waiter asked for every ID: what was found is its answer as it stands.
          if (p.waiters.length === 1) {
            p.waiters[0]!.resolve(found);
            return;
          }
          for (const w of p.waiters) {
            const out = new Map<string, Record<string, unknown>>();
            for (const id of w.ids) {
              const r = found.get(id);
              if (r) out.set(id, r);
            }
            w.resolve(out);
          }
        },
        (err: unknown) => {
          for (const w of p.waiters) w.reject(err);
        },
      );
    }
  }

  async #load(entity: string, p: Pending): Promise<Map<string, Record<string, unknown>>> {
    const fields = [...p.fields];
    const found = new Map<string, Record<string, unknown>>();
    const missing: string[] = [];
    for (const id of p.ids) {
      const cached = this.#cache?.get(id);
      if (cached && hasAll(cached, fields)) found.set(id, cached);
      else missing.push(id);
    }
    const head = `SELECT ${fields.join(', ')} FROM ${entity} WHERE Id IN (`;
    const chunks: string[][] = [];
    let chunk: string[] = [];
    let length = head.length;
    for (const id of missing) {
      if (chunk.length >= this.#opts.idsPerQuery || length + id.length + 4 > MAX_SOQL_CHARS) {
        chunks.push(chunk);
        chunk = [];
        length = head.length;
      }
      chunk.push(id);
      length += id.length + 4;
    }
    if (chunk.length > 0) chunks.push(chunk);
    await Promise.all(
      chunks.map(async (ids) => {
        const soql = `${head}${ids.map((id) => `'${id}'`).join(', ')})`;
        let page = await this.#retrying(`fetch ${entity}`, () => this.#query(soql));
        for (;;) {
          for (const r of page.records) {
            const record = plain(r);
            const id = String(record.Id ?? '');
            // Merge with what is cached: another route may have asked for other fields.
            const cached = this.#cache?.get(id);
            const merged = cached === undefined ? record : { ...cached, ...record };
            this.#cache?.set(id, merged);
            found.set(id, merged);
          }
          if (page.done || !page.nextRecordsUrl) break;
          const next = page.nextRecordsUrl;
          page = await this.#retrying(`fetch ${entity}`, () => this.#more(next));
        }
      }),
    );
    return found;
  }

  #query(soql: string): Promise<QueryPage> {
    this.queries++;
    return this.#rest.query(soql);
  }

  #more(url: string): Promise<QueryPage> {
    this.queries++;
    return this.#rest.queryMore(url);
  }

  async #retrying<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await retrying(call, {
        maxAttempts: this.#opts.maxAttempts,
        baseMs: this.#opts.retryDelayMs ?? 500,
        capMs: MAX_RETRY_WAIT_MS,
        shouldRetry: (err) => !PERMANENT.has(salesforceCodeOf(err)),
      });
    } catch (gaveUp) {
      const { attempts, cause: err } = gaveUp as GaveUp;
      const code = salesforceCodeOf(err);
      const permanent = PERMANENT.has(code);
      throw new FetchError(code, `${what}: ${(err as Error).message ?? String(err)}${permanent ? '' : ` (after ${attempts} attempts)`}`, permanent, {
        cause: err,
      });
    }
  }
}

/** Salesforce's `errorCode` of a failed REST call (jsforce puts it in `errorCode` or `code`). */
function salesforceCodeOf(err: unknown): string {
  return String((err as { errorCode?: unknown }).errorCode ?? (err as { code?: unknown }).code ?? (err as Error).name ?? 'ERROR');
}

function hasAll(record: Record<string, unknown>, fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i++) if (!Object.hasOwn(record, fields[i]!)) return false;
  return true;
}

/** A SOQL record without jsforce's `attributes`. */
function plain(record: Record<string, unknown>): Record<string, unknown> {
  const { attributes: _attributes, ...rest } = record;
  return rest;
}
