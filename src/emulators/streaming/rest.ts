/**
 * The REST endpoints jsforce and @salesforce/core call, served from the emulator's record
 * table: `GET /services/data` (versions), `GET /services/data/vXX.X/` (resources),
 * `GET .../query?q=` with `nextRecordsUrl` paging, `GET .../sobjects/<Obj>/describe`, platform
 * event publishing (`POST .../composite/sobjects`, publish.ts), and the token endpoint. Every call is recorded, so tests can count the queries a bridge made.
 */
import { randomBytes } from 'node:crypto';
import { type OAuthEndpoint } from './oauth.ts';
import type { RecordTable } from './records.ts';
import { checkedQuery, runSoql } from './soql.ts';
import { BulkQueryJobs } from './bulk-query.ts';
import { SalesforceCode } from '../../core/errors.ts';
import type { EventPublishing } from './publish.ts';

/** One REST call the emulator answered. */
export interface RestCall {
  method: string;
  path: string;
  /** The SOQL of a query call. */
  soql?: string;
  status: number;
  at: number;
}

/** An answer of the REST front: JSON, or (Bulk API results) text with its own headers. */
export interface RestReply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

/** A REST request, as the HTTP front hands it over. */
export interface RestRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: string;
}

interface Cursor {
  object: string;
  records: Record<string, unknown>[];
  at: number;
}

const CURSOR_LIMIT = 1000;

/** Serves the REST API of one emulator. */
export class RestApi {
  readonly calls: RestCall[] = [];
  readonly #records: RecordTable;
  readonly #oauth: OAuthEndpoint;
  readonly #isValid: (token: string | undefined) => boolean;
  readonly #apiVersion: string;
  readonly #batchSize: number;
  readonly #cursors = new Map<string, Cursor>();
  readonly #bulk: BulkQueryJobs;
  readonly #events: EventPublishing | undefined;
  #instanceUrl = '';

  constructor(opts: {
    records: RecordTable;
    oauth: OAuthEndpoint;
    isValid(token: string | undefined): boolean;
    apiVersion: string;
    queryBatchSize: number;
    bulkPageSize?: number;
    events?: EventPublishing;
  }) {
    this.#events = opts.events;
    this.#records = opts.records;
    this.#oauth = opts.oauth;
    this.#isValid = opts.isValid;
    this.#apiVersion = opts.apiVersion;
    this.#batchSize = opts.queryBatchSize;
    this.#bulk = new BulkQueryJobs(opts.records, opts.apiVersion, opts.bulkPageSize);
  }

  /** The URL the emulator listens on (known only once it does). */
  set instanceUrl(url: string) {
    this.#instanceUrl = url;
  }

  /** Handles one request under `/services/`. */
  handle(req: RestRequest): RestReply {
    const call: RestCall = { method: req.method, path: req.path, status: 0, at: Date.now() };
    const reply = this.#route(req, call);
    call.status = reply.status;
    this.calls.push(call);
    return reply;
  }

  #route(req: RestRequest, call: RestCall): RestReply {
    if (req.path === '/services/oauth2/token') {
      if (req.method !== 'POST') return sfError(405, SalesforceCode.METHOD_NOT_ALLOWED, 'HTTP Method not allowed');
      return this.#oauth.handle(this.#instanceUrl, new URLSearchParams(req.body), req.authorization);
    }
    if (!this.#isValid(bearer(req.authorization))) return sfError(401, SalesforceCode.INVALID_SESSION_ID, 'Session expired or invalid');
    const jobs = /^\/services\/data\/v\d+\.\d(\/jobs\/query.*)$/.exec(req.path);
    if (jobs)
      return (
        this.#bulk.handle(req.method, jobs[1]!.replace(/\/$/, ''), req.query, req.body) ??
        sfError(404, SalesforceCode.NOT_FOUND, 'The requested resource does not exist')
      );
    if (req.method === 'POST' && this.#events) {
      const p = /^\/services\/data\/v\d+\.\d\/(composite\/sobjects|sobjects\/([A-Za-z0-9_]+__e))\/?$/.exec(req.path);
      if (p) return p[2] === undefined ? this.#events.collection(req.body) : this.#events.single(p[2], req.body);
    }
    if (req.method !== 'GET') return sfError(405, SalesforceCode.METHOD_NOT_ALLOWED, `HTTP Method '${req.method}' not allowed. Allowed are GET`);
    if (req.path === '/services/data' || req.path === '/services/data/') {
      return {
        status: 200,
        body: ['58.0', '59.0', '60.0', '61.0', this.#apiVersion]
          .filter((v, i, a) => a.indexOf(v) === i)
          .map((version) => ({ label: `v${version}`, url: `/services/data/v${version}`, version })),
      };
    }
    const m = /^\/services\/data\/v(\d+\.\d)(\/.*)?$/.exec(req.path);
    if (!m) return sfError(404, SalesforceCode.NOT_FOUND, 'The requested resource does not exist');
    const base = `/services/data/v${m[1]}`;
    const rest = (m[2] ?? '/').replace(/\/$/, '') || '/';
    if (rest === '/') return { status: 200, body: { query: `${base}/query`, sobjects: `${base}/sobjects` } };
    if (rest === '/query') {
      const soql = req.query.get('q') ?? '';
      call.soql = soql;
      return this.#query(base, soql);
    }
    const more = /^\/query\/([A-Za-z0-9-]+)$/.exec(rest);
    if (more) return this.#queryMore(base, more[1]!);
    const describe = /^\/sobjects\/([A-Za-z0-9_]+)\/describe$/.exec(rest);
    if (describe) return this.#describe(base, describe[1]!);
    return sfError(404, SalesforceCode.NOT_FOUND, 'The requested resource does not exist');
  }

  #query(base: string, soql: string): RestReply {
    const checked = checkedQuery(soql, this.#records);
    if (!('query' in checked)) return sfError(400, checked.errorCode, checked.message);
    const q = checked.query;
    const records = runSoql(q, this.#records.all(q.object), (id) => this.#records.get(q.object, id));
    for (const r of records) (r.attributes as { url: string }).url = `${base}/sobjects/${q.object}/${String(r.Id ?? '')}`;
    return { status: 200, body: this.#page(base, { object: q.object, records, at: 0 }, records.length) };
  }

  #queryMore(base: string, locator: string): RestReply {
    const cursor = this.#cursors.get(locator.replace(/-\d+$/, ''));
    if (!cursor) return sfError(400, SalesforceCode.INVALID_QUERY_LOCATOR, 'invalid query locator');
    return { status: 200, body: this.#page(base, cursor, cursor.records.length) };
  }

  #page(base: string, cursor: Cursor, totalSize: number): Record<string, unknown> {
    const records = cursor.records.slice(cursor.at, cursor.at + this.#batchSize);
    cursor.at += records.length;
    const done = cursor.at >= cursor.records.length;
    const body: Record<string, unknown> = { totalSize, done, records };
    if (!done) {
      let id = [...this.#cursors].find(([, c]) => c === cursor)?.[0];
      if (id === undefined) {
        id = `01g${randomBytes(6).toString('hex')}`;
        this.#cursors.set(id, cursor);
        if (this.#cursors.size > CURSOR_LIMIT) this.#cursors.delete(this.#cursors.keys().next().value!);
      }
      body.nextRecordsUrl = `${base}/query/${id}-${cursor.at}`;
    }
    return body;
  }

  #describe(base: string, object: string): RestReply {
    if (!this.#records.has(object)) return sfError(404, SalesforceCode.NOT_FOUND, 'The requested resource does not exist');
    const fields = this.#records.fieldsOf(object).map((name) => ({
      name,
      label: name,
      type:
        name === 'Id' ? 'id' : /Date$/.test(name) ? 'datetime' : /Id$/.test(name) ? 'reference' : /^(Is|Has)[A-Z]/.test(name) ? 'boolean' : 'string',
      nillable: name !== 'Id',
      updateable: !['Id', 'CreatedDate', 'CreatedById', 'LastModifiedDate', 'LastModifiedById', 'SystemModstamp', 'IsDeleted', 'Name'].includes(name),
    }));
    return {
      status: 200,
      body: {
        name: object,
        label: object,
        keyPrefix: KEY_PREFIXES[object] ?? 'a00',
        custom: object.endsWith('__c'),
        queryable: true,
        urls: { describe: `${base}/sobjects/${object}/describe`, sobject: `${base}/sobjects/${object}` },
        fields,
      },
    };
  }
}

/** Key prefixes of the standard objects the emulator holds (an ID's first three characters). */
const KEY_PREFIXES: Record<string, string> = { Account: '001', Contact: '003', Lead: '00Q', User: '005', Case: '500', Opportunity: '006' };

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^(?:Bearer|OAuth)\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/** Salesforce's REST error body: an array of `{message, errorCode}`. */
function sfError(status: number, errorCode: string, message: string): RestReply {
  return { status, body: [{ message, errorCode }] };
}
