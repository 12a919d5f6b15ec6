/**
 * The backfill's source: a Salesforce Bulk API 2.0 query job, read one page at a time.
 * jsforce's `QueryJobV2` creates and polls the job (a client we did not write); the pages are
 * fetched here, by `Sforce-Locator`, because jsforce's own `result()` pipes every page into one
 * stream and fails from the second page on (jsforce/jsforce#1546), and because a resumed
 * backfill must start at a saved locator. A page is parsed (csv-parse) and handed over before
 * the next is asked for, so memory holds one page, never the result.
 */
import { parse } from 'csv-parse/sync';
import { QueryJobV2 } from 'jsforce/lib/api/bulk2.js';
import { request } from 'undici';
import { Code, TransientError } from '../core/errors.ts';
import type { SalesforceSession } from '../salesforce/auth.ts';

/** One page of records: field → value (Bulk API CSV: an empty cell is null). */
export interface SourcePage {
  records: Record<string, string | null>[];
  /** Locator of the next page; null after the last. */
  next: string | null;
}

/** The query job behind a backfill. */
export interface QueryJob {
  id: string;
  /** Records the job found. */
  total: number;
}

/** Reads Bulk API 2.0 query jobs of one org. */
export class BulkQuerySource {
  readonly #session: SalesforceSession;
  readonly #apiVersion: string;
  readonly #pollTimeoutMs: number;

  constructor(session: SalesforceSession, apiVersion: string, opts: { pollTimeoutMs?: number } = {}) {
    this.#session = session;
    this.#apiVersion = apiVersion;
    this.#pollTimeoutMs = opts.pollTimeoutMs ?? 30 * 60_000;
  }

  /** Creates a query job and waits until Salesforce has run it. */
  async open(soql: string): Promise<QueryJob> {
    const job = new QueryJobV2(this.#session.connection as never, {
      bodyParams: { operation: 'query', query: soql },
      pollingOptions: { pollInterval: 1000, pollTimeout: this.#pollTimeoutMs },
    });
    await job.open();
    await job.poll(250, this.#pollTimeoutMs);
    return this.resume(job.id!);
  }

  /** The state of an existing job (a resumed backfill reads on from its saved locator). */
  async resume(jobId: string): Promise<QueryJob> {
    const info = (await this.#session.connection.bulk2.job('query', { id: jobId }).check()) as { state?: string; numberRecordsProcessed?: number };
    if (info.state !== 'JobComplete')
      throw new TransientError(Code.BACKFILL_QUERY_FAILED, `Bulk API query job ${jobId} is ${info.state ?? 'in an unknown state'}, not JobComplete`);
    return { id: jobId, total: info.numberRecordsProcessed ?? 0 };
  }

  /**
   * The current values of a few records (REST query by Id, at most 200 a call): what a record
   * overtaken by a live change during its page's write is rewritten from.
   */
  async current(entity: string, fields: readonly string[], ids: readonly string[]): Promise<Record<string, string | null>[]> {
    const out: Record<string, string | null>[] = [];
    for (let i = 0; i < ids.length; i += 200) {
      const list = ids
        .slice(i, i + 200)
        .map((id) => `'${id.replace(/[^A-Za-z0-9]/g, '')}'`)
        .join(', ');
      const res = (await this.#session.connection.query(`SELECT ${fields.join(', ')} FROM ${entity} WHERE Id IN (${list})`)) as {
        records: Record<string, unknown>[];
      };
      for (const r of res.records) {
        const row: Record<string, string | null> = {};
        for (const f of fields) row[f] = r[f] === undefined || r[f] === null ? null : String(r[f]);
        out.push(row);
      }
    }
    return out;
  }

  /** One page of results; `locator` null or '' is the first page. */
  async page(jobId: string, locator: string | null, maxRecords: number): Promise<SourcePage> {
    const path = `/services/data/v${this.#apiVersion}/jobs/query/${encodeURIComponent(jobId)}/results?maxRecords=${maxRecords}${locator ? `&locator=${encodeURIComponent(locator)}` : ''}`;
    const url = new URL(path, this.#session.auth.instanceUrl).toString();
    let token = await this.#session.auth.getAccessToken(false);
    for (let attempt = 1; ; attempt++) {
      const res = await request(url, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'text/csv' } });
      const text = await res.body.text();
      if (res.statusCode === 401 && attempt === 1) {
        token = await this.#session.auth.getAccessToken(true, token);
        continue;
      }
      if (res.statusCode >= 300) {
        throw new TransientError(Code.BACKFILL_QUERY_FAILED, `Bulk API results of job ${jobId} answered ${res.statusCode}: ${text.slice(0, 200)}`);
      }
      const header = res.headers['sforce-locator'];
      const next = Array.isArray(header) ? header[0] : header;
      const rows = parse(text, { columns: true, skip_empty_lines: true, relax_quotes: false }) as Record<string, string>[];
      return { records: rows.map(nullEmpty), next: next === undefined || next === 'null' || next === '' ? null : next };
    }
  }
}

function nullEmpty(r: Record<string, string>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(r)) out[k] = v === '' ? null : v;
  return out;
}
