/**
 * Writes a backfill page of rows to a data extension, in one of two ways:
 *  - Bulk Data Ingest (large loads): create a job for the data extension, stage the rows in
 *    batches, complete it, then read its summary and validation errors. Nothing is written
 *    until `complete`, which is what makes a page exactly-once across a crash: the job is saved
 *    in the backfill's state before `complete`, and a resumed backfill asks that job how it
 *    ended instead of writing the page again (a job never completed wrote nothing).
 *  - async rows (below the threshold): `PUT /data/v1/async/dataextensions/key:{key}/rows`, then
 *    status and results, like the live target. Written on acceptance: a crash between the PUT and
 *    saving the state writes that page again (an upsert of the same values).
 * Either way the outcome is per row: written, or rejected with Marketing Cloud's reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, TransientError } from '../core/errors.ts';
import type { McRestClient } from '../delivery/mc/http.ts';
import { asyncRowsPath } from '../delivery/targets/data-extension.ts';

/** A row Marketing Cloud did not write, by its position in the page's rows. */
export interface RowRejection {
  index: number;
  code: string;
  message: string;
}

/** A write started and not yet known finished: saved in the backfill's state. */
export type PendingWrite = { kind: 'ingest'; id: string; rows: number } | { kind: 'async'; requestIds: string[]; chunk: number; rows: number };

/** How a page's write ended. */
export interface WriteResult {
  written: number;
  rejected: RowRejection[];
}

/** Rows staged per ingest batch request. */
const STAGE_ROWS = 5000;
/** Rows per async request. */
const ASYNC_ROWS = 500;

/** Writes pages of rows to one data extension. */
export class DataExtensionWriter {
  readonly #client: McRestClient;
  readonly #key: string;
  readonly #pollMs: number;

  constructor(client: McRestClient, key: string, opts: { pollMs?: number } = {}) {
    this.#client = client;
    this.#key = key;
    this.#pollMs = opts.pollMs ?? 1000;
  }

  /**
   * Stages `rows` in a new ingest job; calls `beforeComplete` with the job (to save it) and
   * completes it. Returns the pending write to `finish`.
   */
  async startIngest(rows: readonly Record<string, unknown>[], beforeComplete: (p: PendingWrite) => Promise<void>): Promise<PendingWrite> {
    const created = await this.#client.post<{ id?: unknown; bulkApiDefinitionId?: unknown }>('/data/v1/bulk/ingest', {
      destinationCustomerKey: this.#key,
      updateType: 'Upsert',
      contentType: 'JSON',
      expiryTime: new Date(Date.now() + 24 * 3_600_000).toISOString(),
    });
    const id = created.body?.bulkApiDefinitionId ?? created.body?.id;
    if (typeof id !== 'string')
      throw new TransientError(Code.BACKFILL_WRITE_FAILED, `Bulk Data Ingest answered without a job id for data extension ${this.#key}`);
    for (let i = 0; i < rows.length; i += STAGE_ROWS) {
      await this.#client.request('PUT', `/data/v1/bulk/ingest/${id}/batches`, { data: rows.slice(i, i + STAGE_ROWS) });
    }
    const pending: PendingWrite = { kind: 'ingest', id, rows: rows.length };
    await beforeComplete(pending);
    await this.#client.post(`/data/v1/bulk/ingest/${id}/batches/complete`, {});
    return pending;
  }

  /** Sends `rows` as async upserts; calls `accepted` with the requests (to save them). */
  async startAsync(rows: readonly Record<string, unknown>[], accepted: (p: PendingWrite) => Promise<void>): Promise<PendingWrite> {
    const requestIds: string[] = [];
    for (let i = 0; i < rows.length; i += ASYNC_ROWS) {
      const res = await this.#client.request<{ requestId?: unknown }>('PUT', asyncRowsPath(this.#key), { items: rows.slice(i, i + ASYNC_ROWS) });
      if (typeof res.body?.requestId !== 'string')
        throw new TransientError(Code.BACKFILL_WRITE_FAILED, `async rows for ${this.#key} were accepted without a requestId`);
      requestIds.push(res.body.requestId);
    }
    const pending: PendingWrite = { kind: 'async', requestIds, chunk: ASYNC_ROWS, rows: rows.length };
    await accepted(pending);
    return pending;
  }

  /**
   * Waits until a pending write has ended and says how. For an ingest job never completed
   * (the process died before `complete`), answers undefined: nothing was written.
   */
  async finish(pending: PendingWrite): Promise<WriteResult | undefined> {
    return pending.kind === 'ingest' ? this.#finishIngest(pending) : this.#finishAsync(pending);
  }

  async #finishIngest(p: Extract<PendingWrite, { kind: 'ingest' }>): Promise<WriteResult | undefined> {
    for (;;) {
      const res = await this.#client.get<{ status?: unknown; successCount?: unknown }>(`/data/v1/bulk/ingest/${p.id}/summary`);
      const status = String(res.body?.status ?? '');
      if (status === 'Created') return undefined;
      if (status === 'Completed' || status === 'CompletedWithErrors' || status === 'Failed') {
        const validation = await this.#client.get<{ errors?: unknown }>(`/data/v1/bulk/ingest/${p.id}/validation/summary`);
        const errors = Array.isArray(validation.body?.errors)
          ? (validation.body.errors as { rowNumber?: unknown; errorCode?: unknown; message?: unknown }[])
          : [];
        const rejected = errors
          .map((e) => ({ index: Number(e.rowNumber) - 1, code: String(e.errorCode ?? 'unknown'), message: String(e.message ?? '') }))
          .filter((e) => Number.isInteger(e.index) && e.index >= 0 && e.index < p.rows);
        return { written: typeof res.body?.successCount === 'number' ? res.body.successCount : p.rows - rejected.length, rejected };
      }
      await sleep(this.#pollMs);
    }
  }

  async #finishAsync(p: Extract<PendingWrite, { kind: 'async' }>): Promise<WriteResult> {
    const rejected: RowRejection[] = [];
    for (const [n, requestId] of p.requestIds.entries()) {
      for (;;) {
        const res = await this.#client.get<{ status?: { requestStatus?: unknown; hasErrors?: unknown } }>(`/data/v1/async/${requestId}/status`);
        if (String(res.body?.status?.requestStatus ?? '').toLowerCase() !== 'pending') {
          if (res.body?.status?.hasErrors !== false) {
            const results = await this.#client.get<{ items?: unknown }>(`/data/v1/async/${requestId}/results?page=1&pageSize=${p.chunk}`);
            const items = Array.isArray(results.body?.items)
              ? (results.body.items as { status?: unknown; errorCode?: unknown; message?: unknown }[])
              : [];
            items.forEach((item, i) => {
              if (String(item.status).toLowerCase() === 'error')
                rejected.push({ index: n * p.chunk + i, code: String(item.errorCode ?? 'unknown'), message: String(item.message ?? '') });
            });
          }
          break;
        }
        await sleep(this.#pollMs);
      }
    }
    return { written: p.rows - rejected.length, rejected };
  }
}
