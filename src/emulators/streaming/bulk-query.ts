/**
 * Bulk API 2.0 query jobs over the emulator's record table, as jsforce's `bulk2` and the
 * backfill use them:
 *   POST   /services/data/vXX.X/jobs/query {operation: "query"|"queryAll", query} → job info (UploadComplete)
 *   GET    /services/data/vXX.X/jobs/query/{id}                                  → job info (JobComplete)
 *   GET    /services/data/vXX.X/jobs/query/{id}/results[?locator=&maxRecords=]   → CSV page;
 *          `Sforce-Locator` names the next page (`null` on the last), `Sforce-NumberOfRecords` this one's size
 *   PATCH  /services/data/vXX.X/jobs/query/{id} {state: "Aborted"}; DELETE removes the job.
 * A job holds references to the records it matched when it was created (a snapshot, like
 * Salesforce's), and each page is projected and written as CSV when it is read, so a job over a
 * million records costs the emulator an array of references, not a copy of the result.
 */
import { randomBytes } from 'node:crypto';
import { SalesforceCode } from '../../core/errors.ts';
import type { OrgRecord, RecordTable } from './records.ts';
import { checkedQuery, matchingRecords, type SoqlQuery } from './soql.ts';

/** A reply of the Bulk API front: JSON, or CSV text with headers. */
export interface BulkReply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

interface QueryJob {
  id: string;
  operation: string;
  query: SoqlQuery;
  hits: OrgRecord[];
  state: 'UploadComplete' | 'JobComplete' | 'Aborted';
  createdDate: string;
}

/** Records per results page when the client does not say (Salesforce's is larger; smaller shows paging). */
const DEFAULT_PAGE = 10_000;

/** The emulator's query jobs. */
export class BulkQueryJobs {
  readonly #jobs = new Map<string, QueryJob>();
  readonly #records: RecordTable;
  readonly #apiVersion: string;
  /** Locators handed out, so a client cannot make up offsets. */
  readonly #locators = new Map<string, { job: string; at: number }>();
  readonly #pageSize: number;

  constructor(records: RecordTable, apiVersion: string, pageSize = DEFAULT_PAGE) {
    this.#records = records;
    this.#apiVersion = apiVersion;
    this.#pageSize = pageSize;
  }

  /** Handles `rest` (the path after `/services/data/vXX.X`), or undefined when it is not a query job path. */
  handle(method: string, rest: string, query: URLSearchParams, body: string): BulkReply | undefined {
    if (rest === '/jobs/query' && method === 'POST') return this.#create(body);
    const m = /^\/jobs\/query\/([A-Za-z0-9]+)(\/results)?$/.exec(rest);
    if (!m) return undefined;
    const job = this.#jobs.get(m[1]!);
    if (!job) return sfError(404, SalesforceCode.NOT_FOUND, `The requested resource does not exist: query job ${m[1]}`);
    if (m[2]) return method === 'GET' ? this.#results(job, query) : sfError(405, SalesforceCode.METHOD_NOT_ALLOWED, 'HTTP Method not allowed');
    if (method === 'GET') {
      // Processing is instant here; the first look after creation already finds it complete.
      if (job.state === 'UploadComplete') job.state = 'JobComplete';
      return { status: 200, body: this.#info(job) };
    }
    if (method === 'PATCH') {
      job.state = 'Aborted';
      return { status: 200, body: this.#info(job) };
    }
    if (method === 'DELETE') {
      this.#jobs.delete(job.id);
      return { status: 204 };
    }
    return sfError(405, SalesforceCode.METHOD_NOT_ALLOWED, 'HTTP Method not allowed');
  }

  #create(body: string): BulkReply {
    let spec: { operation?: unknown; query?: unknown };
    try {
      spec = JSON.parse(body) as typeof spec;
    } catch {
      return sfError(400, SalesforceCode.MALFORMED_QUERY ?? 'JSON_PARSER_ERROR', 'request body is not JSON');
    }
    if (spec.operation !== 'query' && spec.operation !== 'queryAll')
      return sfError(400, 'INVALIDJOB', `operation must be query or queryAll, got ${JSON.stringify(spec.operation)}`);
    const checked = checkedQuery(String(spec.query ?? ''), this.#records);
    if (!('query' in checked)) return sfError(400, checked.errorCode, checked.message);
    const q = checked.query;
    const job: QueryJob = {
      id: `750${randomBytes(8).toString('hex').slice(0, 15)}`,
      operation: spec.operation,
      query: q,
      hits: matchingRecords(q, this.#records.all(q.object)),
      state: 'UploadComplete',
      createdDate: new Date().toISOString(),
    };
    this.#jobs.set(job.id, job);
    return { status: 200, body: this.#info(job) };
  }

  #results(job: QueryJob, query: URLSearchParams): BulkReply {
    if (job.state === 'Aborted') return sfError(400, 'INVALIDJOBSTATE', `Job ${job.id} was aborted`);
    if (job.state !== 'JobComplete') return sfError(400, 'INVALIDJOBSTATE', `Job ${job.id} is not complete yet`);
    let at = 0;
    const locator = query.get('locator');
    if (locator !== null && locator !== '') {
      const l = this.#locators.get(locator);
      if (!l || l.job !== job.id) return sfError(400, 'INVALID_LOCATOR', `Invalid locator ${locator}`);
      at = l.at;
    }
    const max = Math.max(1, Math.min(1_000_000, Number(query.get('maxRecords') ?? this.#pageSize) || this.#pageSize));
    const page = job.hits.slice(at, at + max);
    const next = at + page.length;
    let nextLocator = 'null';
    if (next < job.hits.length) {
      nextLocator = randomBytes(6).toString('base64url');
      this.#locators.set(nextLocator, { job: job.id, at: next });
    }
    const lines = [job.query.fields.map(csvCell).join(',')];
    for (const r of page) lines.push(job.query.fields.map((f) => csvCell(r[f])).join(','));
    return {
      status: 200,
      text: `${lines.join('\n')}\n`,
      headers: { 'content-type': 'text/csv', 'sforce-locator': nextLocator, 'sforce-numberofrecords': String(page.length) },
    };
  }

  #info(job: QueryJob): Record<string, unknown> {
    return {
      id: job.id,
      operation: job.operation,
      object: job.query.object,
      createdById: '005000000000001AAA',
      createdDate: job.createdDate,
      systemModstamp: job.createdDate,
      state: job.state,
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(this.#apiVersion),
      lineEnding: 'LF',
      columnDelimiter: 'COMMA',
      ...(job.state === 'JobComplete' ? { numberRecordsProcessed: job.hits.length, retries: 0, totalProcessingTime: 1 } : {}),
    };
  }
}

/** A CSV cell as Bulk API 2.0 writes it: null is empty, text with a comma, quote or newline is quoted. */
function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const text = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function sfError(status: number, errorCode: string, message: string): BulkReply {
  return { status, body: [{ errorCode, message }] };
}
