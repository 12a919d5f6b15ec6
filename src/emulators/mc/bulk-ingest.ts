/**
 * The Bulk Data Ingest API, for loads of millions of rows:
 *   POST /data/v1/bulk/ingest {destinationCustomerKey, updateType, contentType: "JSON", expiryTime?}
 *     → 201 {bulkApiDefinitionId, id, status: "Created"}
 *   PUT  /data/v1/bulk/ingest/{id}/batches   [rows...] or {"data": [rows...]}  → 202 {batchId, rows}
 *   POST /data/v1/bulk/ingest/{id}/batches/complete                        → 202 {status: "Queued"}
 *   GET  /data/v1/bulk/ingest/{id}                                         → the definition and status
 *   GET  /data/v1/bulk/ingest/{id}/summary           → {status, totalRows, successCount, errorCount}
 *   GET  /data/v1/bulk/ingest/{id}/validation/summary → {errorCount, errors: [{rowNumber, errorCode, message}]}
 * Staged rows are checked and written when the job is processed (on the first read after
 * complete): a job staged but never completed writes nothing, which is what lets a backfill that
 * died before `complete` start the page again without writing twice.
 */
import { randomUUID } from 'node:crypto';
import { isRecord, mcError, parseJson, type ParsedRequest, type Reply } from './http.ts';
import type { DeTables, RowError } from './rows.ts';
import type { McState } from './state.ts';

interface IngestJob {
  id: string;
  key: string;
  updateType: string;
  status: 'Created' | 'Queued' | 'Completed';
  staged: Record<string, unknown>[][];
  totalRows: number;
  successCount: number;
  errors: ({ rowNumber: number } & RowError)[];
}

/** The emulator's ingest jobs. */
export class IngestJobs {
  readonly jobs = new Map<string, IngestJob>();
  reset(): void {
    this.jobs.clear();
  }
}

const BASE = '/data/v1/bulk/ingest';
// Errors kept per job: enough to act on, bounded for a million bad rows.
const MAX_ERRORS = 1000;

/** Routes a Bulk Data Ingest request, or undefined when the path is not one of its. */
export function bulkIngestRoute(state: McState, tables: DeTables, jobs: IngestJobs, req: ParsedRequest): ((now: number) => Reply) | undefined {
  if (!req.path.startsWith(BASE)) return undefined;
  const rest = req.path.slice(BASE.length);
  if (rest === '' && req.method === 'POST') return () => create(tables, jobs, req);
  const m = /^\/([0-9a-fA-F-]{8,})(\/batches|\/batches\/complete|\/summary|\/validation\/summary)?$/.exec(rest);
  if (!m) return undefined;
  const job = jobs.jobs.get(m[1]!);
  const what = `${req.method} ${m[2] ?? ''}`;
  const known = ['PUT /batches', 'POST /batches/complete', 'GET ', 'GET /summary', 'GET /validation/summary'];
  if (!known.includes(what)) return undefined;
  if (!job) return () => mcError(404, 10002, `Bulk ingest job ${m[1]} was not found.`);
  return () => {
    switch (what) {
      case 'PUT /batches':
        return stage(job, req);
      case 'POST /batches/complete':
        if (job.status !== 'Created') return mcError(400, 10003, `Job ${job.id} is already ${job.status}.`);
        job.status = 'Queued';
        return { status: 202, body: { bulkApiDefinitionId: job.id, status: job.status } };
      case 'GET ':
        return { status: 200, body: describe(process(state, tables, job)) };
      case 'GET /summary': {
        process(state, tables, job);
        return {
          status: 200,
          body: {
            bulkApiDefinitionId: job.id,
            status: job.status,
            totalRows: job.totalRows,
            successCount: job.successCount,
            errorCount: job.errors.length,
          },
        };
      }
      default:
        process(state, tables, job);
        return { status: 200, body: { bulkApiDefinitionId: job.id, errorCount: job.errors.length, errors: job.errors.slice(0, MAX_ERRORS) } };
    }
  };
}

function create(tables: DeTables, jobs: IngestJobs, req: ParsedRequest): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body) || typeof body.destinationCustomerKey !== 'string' || body.destinationCustomerKey === '') {
    return mcError(400, 10001, 'destinationCustomerKey is required.');
  }
  const updateType = typeof body.updateType === 'string' ? body.updateType : 'Upsert';
  if (!/^(upsert|insert|update|overwrite)$/i.test(updateType)) return mcError(400, 10001, `updateType '${updateType}' is not supported.`);
  if (tables.definitions.size > 0 && !tables.definitions.has(body.destinationCustomerKey)) {
    return mcError(404, 10000, `Data extension with key '${body.destinationCustomerKey}' was not found.`);
  }
  const job: IngestJob = {
    id: randomUUID(),
    key: body.destinationCustomerKey,
    updateType,
    status: 'Created',
    staged: [],
    totalRows: 0,
    successCount: 0,
    errors: [],
  };
  jobs.jobs.set(job.id, job);
  return { status: 201, body: describe(job) };
}

function stage(job: IngestJob, req: ParsedRequest): Reply {
  if (job.status !== 'Created') return mcError(400, 10003, `Job ${job.id} is ${job.status}: no more data can be staged.`);
  const body = parseJson(req.text);
  const rows = Array.isArray(body) ? body : isRecord(body) && Array.isArray(body.data) ? body.data : undefined;
  if (!rows || rows.length === 0) return mcError(400, 10001, 'A batch must be a non-empty JSON array of rows (or {"data": [...]}).');
  job.staged.push(rows as Record<string, unknown>[]);
  job.totalRows += rows.length;
  return { status: 202, body: { bulkApiDefinitionId: job.id, batchId: randomUUID(), rows: rows.length } };
}

/** Processes a queued job on first look: every staged row checked, the valid ones written. */
function process(state: McState, tables: DeTables, job: IngestJob): IngestJob {
  if (job.status !== 'Queued') return job;
  let n = 0;
  for (const batch of job.staged) {
    for (const row of batch) {
      n++;
      const refused = state.refusalsFor([tables.contactKeyOf(row)])?.get(tables.contactKeyOf(row));
      const problem = refused ? { errorCode: String(refused.errorcode), message: refused.message } : tables.problem(job.key, row);
      if (problem) {
        if (job.errors.length < MAX_ERRORS) job.errors.push({ rowNumber: n, ...problem });
        continue;
      }
      tables.upsert(job.key, row);
      job.successCount++;
    }
  }
  job.staged = [];
  job.status = 'Completed';
  return job;
}

function describe(job: IngestJob): Record<string, unknown> {
  return {
    bulkApiDefinitionId: job.id,
    id: job.id,
    destinationCustomerKey: job.key,
    updateType: job.updateType,
    contentType: 'JSON',
    status: job.status,
  };
}
