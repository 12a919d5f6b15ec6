/**
 * The data extension target: keeps one row per record current, newest change first.
 *
 * - async (`batch` mode): `PUT /data/v1/async/dataextensions/key:{key}/rows` with `{"items"}`
 *   answers 202 and a requestId. Nothing is written yet, so each item comes back `accepted`
 *   (pending in the outbox with the requestId and its position), and when the dispatcher hands
 *   it back with `confirm`, `GET /data/v1/async/{requestId}/status` then `.../results` say
 *   which rows were written; a rejected row is a dead letter with Marketing Cloud's code and
 *   message. An item is delivered only once its row is known written.
 * - sync (`single` mode): `POST /hub/v1/dataevents/key:{key}/rowset`, at most 50 rows, all or
 *   nothing; a refused request is split to find the row Marketing Cloud refuses.
 *
 * Newest wins: the changes of one row in a chunk collapse into one (columns merged in version
 * order), and the store's row versions (`claimRowVersions`) refuse a change older than one
 * already sent, across retries, restarts and backfills. A superseded change counts as delivered:
 * what it carried is in the newer row.
 */
import { Code, PermanentError, TransientError } from '../../core/errors.ts';
import type { DataExtensionRowPayload } from '../../core/model.ts';
import type { RowVersionClaim } from '../../outbox/contract.ts';
import type { McRestClient } from '../mc/http.ts';
import {
  clientLookup,
  failed,
  groupBy,
  runLimited,
  type ClientFor,
  type DeliveryItem as TargetItem,
  type DeliveryOutcome,
  type Target as TargetOf,
} from '../target.ts';

/** A row to upsert. */
export type DeliveryItem = TargetItem<DataExtensionRowPayload>;
/** The data extension target. */
export type Target = TargetOf<DataExtensionRowPayload>;

/** What the target asks of the store: the newest-wins guard. */
export interface RowVersionGuard {
  claimRowVersions(claims: readonly RowVersionClaim[]): Promise<boolean[]>;
}

/** Data extension target options. */
export interface DataExtensionTargetOptions {
  /** Rows per async request. @default 500 */
  batchSize?: number;
  /** Requests in flight at once within one `deliver` call. @default 4 */
  concurrency?: number;
  /** Wait before reading an accepted request's status, and between reads while pending (ms). @default 1000 */
  confirmAfterMs?: number;
  /** Newest-wins guard across calls; without one, only a chunk's own changes are collapsed. */
  versions?: RowVersionGuard;
}

/** Most rows the synchronous rowset endpoint takes per request. */
export const SYNC_MAX_ROWS = 50;
/** Results per page read from `/data/v1/async/{id}/results`. */
const RESULTS_PAGE = 500;

/** `key:{key}` rows path of the async API. */
export const asyncRowsPath = (key: string) => `/data/v1/async/dataextensions/key:${encodeURIComponent(key)}/rows`;
/** Sync rowset path. */
export const syncRowsetPath = (key: string) => `/hub/v1/dataevents/key:${encodeURIComponent(key)}/rowset`;

/** The row's identity in its data extension: primary key values, joined. */
export function rowKeyOf(p: DataExtensionRowPayload): string {
  return p.primaryKey.map((c) => String(p.row[c] ?? '')).join('\u0000');
}

/** The guard's table name: the data extension and the business unit it lives in. */
export function tableOf(p: Pick<DataExtensionRowPayload, 'key' | 'mid'>): string {
  return p.mid === undefined ? p.key : `${p.key}\u0000${p.mid}`;
}

interface ResultItem {
  status?: unknown;
  errorCode?: unknown;
  message?: unknown;
}

/** Builds the target on a REST client (or one per business unit MID). */
export function createDataExtensionTarget(clients: McRestClient | ClientFor, opts: DataExtensionTargetOptions = {}): Target {
  const clientFor = clientLookup(clients);
  const batchSize = Math.max(1, opts.batchSize ?? 500);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const confirmAfterMs = opts.confirmAfterMs ?? 1000;

  /** Collapses a group to one item per row (columns merged in version order); the others are superseded. */
  function collapse(list: DeliveryItem[], out: Map<number, DeliveryOutcome>): DeliveryItem[] {
    const byRow = new Map<string, DeliveryItem[]>();
    for (const item of list) {
      const k = rowKeyOf(item.payload);
      const same = byRow.get(k);
      if (same) same.push(item);
      else byRow.set(k, [item]);
    }
    const winners: DeliveryItem[] = [];
    for (const same of byRow.values()) {
      if (same.length === 1) {
        winners.push(same[0]!);
        continue;
      }
      same.sort((a, b) => a.payload.version - b.payload.version || a.id - b.id);
      const newest = same.at(-1)!;
      const row = Object.assign({}, ...same.map((i) => i.payload.row)) as DataExtensionRowPayload['row'];
      winners.push({ ...newest, payload: { ...newest.payload, row } });
      for (const older of same.slice(0, -1)) out.set(older.id, { id: older.id, status: 'delivered', ids: {} });
    }
    return winners.sort((a, b) => a.id - b.id);
  }

  /** The items no newer change has overtaken (the store's row versions). */
  async function newestOnly(items: DeliveryItem[], out: Map<number, DeliveryOutcome>): Promise<DeliveryItem[]> {
    if (!opts.versions || items.length === 0) return items;
    const claims = items.map((i) => ({ table: tableOf(i.payload), rowKey: rowKeyOf(i.payload), version: i.payload.version, seq: i.id }));
    const won = await opts.versions.claimRowVersions(claims);
    return items.filter((item, i) => {
      if (!won[i]) out.set(item.id, { id: item.id, status: 'delivered', ids: {} });
      return won[i];
    });
  }

  async function sendAsync(chunk: DeliveryItem[]): Promise<DeliveryOutcome[]> {
    const { key, mid } = chunk[0]!.payload;
    try {
      const res = await clientFor(mid).request<{ requestId?: unknown }>('PUT', asyncRowsPath(key), { items: chunk.map((i) => i.payload.row) });
      const requestId = res.body?.requestId;
      if (typeof requestId !== 'string' || requestId === '') {
        throw new TransientError(
          Code.MC_NO_REQUEST_ID,
          `Marketing Cloud accepted rows for data extension ${key} (${res.status}) without a requestId; they are sent again`,
        );
      }
      return chunk.map((i, row) => ({ id: i.id, status: 'accepted', requestId, row, checkAfterMs: confirmAfterMs }));
    } catch (err) {
      return chunk.map((i) => failed(i.id, err));
    }
  }

  async function sendSync(chunk: DeliveryItem[]): Promise<DeliveryOutcome[]> {
    const { key, mid } = chunk[0]!.payload;
    const body = chunk.map(({ payload: p }) => {
      const keys: Record<string, unknown> = {};
      const values: Record<string, unknown> = {};
      for (const [c, v] of Object.entries(p.row)) (p.primaryKey.includes(c) ? keys : values)[c] = v;
      return { keys, values };
    });
    try {
      await clientFor(mid).post(syncRowsetPath(key), body);
      return chunk.map((i) => ({ id: i.id, status: 'delivered', ids: {} }));
    } catch (err) {
      // All or nothing: one bad row refuses the request; alone, each row gets its own answer.
      if (err instanceof PermanentError && chunk.length > 1) return (await runLimited(chunk, concurrency, (i) => sendSync([i]))).flat();
      return chunk.map((i) => failed(i.id, err));
    }
  }

  async function confirm(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
    const { requestId } = items[0]!.confirm!;
    const client = clientFor(items[0]!.payload.mid);
    const again = (id: string | null, after: number) =>
      items.map((i): DeliveryOutcome => ({ id: i.id, status: 'accepted', requestId: id, row: i.confirm!.row, checkAfterMs: after }));
    let status: { requestStatus?: unknown; hasErrors?: unknown } | undefined;
    try {
      const res = await client.get<{ status?: typeof status }>(`/data/v1/async/${encodeURIComponent(requestId)}/status`);
      status = res.body?.status;
    } catch (err) {
      // Marketing Cloud no longer knows the request (expired, or never queued): send the rows again.
      if (err instanceof PermanentError && err.status === 404) return again(null, 0);
      return items.map((i) => failed(i.id, err));
    }
    const state = String(status?.requestStatus ?? '').toLowerCase();
    if (state === 'pending' || state === '') return again(requestId, confirmAfterMs);
    if (status?.hasErrors === false) return items.map((i) => ({ id: i.id, status: 'delivered', ids: { requestId } }));
    let results: ResultItem[];
    try {
      results = await readResults(client, requestId, Math.max(...items.map((i) => i.confirm!.row)) + 1);
    } catch (err) {
      return items.map((i) => failed(i.id, err));
    }
    return items.map((i) => rowOutcome(i, results, requestId));
  }

  return {
    async deliver(items: DeliveryItem[]): Promise<DeliveryOutcome[]> {
      const out = new Map<number, DeliveryOutcome>();
      const confirming = items.filter((i) => i.confirm !== undefined);
      for (const list of groupBy(confirming, (i) => i.confirm!.requestId)) for (const o of await confirm(list)) out.set(o.id, o);
      const fresh = items.filter((i) => i.confirm === undefined);
      for (const list of groupBy(fresh, (i) => `${i.mode}\u0000${i.payload.key}\u0000${i.payload.mid ?? ''}`)) {
        let winners = collapse(list, out);
        try {
          winners = await newestOnly(winners, out);
        } catch (err) {
          for (const i of winners) out.set(i.id, failed(i.id, err));
          continue;
        }
        const size = list[0]!.mode === 'single' ? Math.min(batchSize, SYNC_MAX_ROWS) : batchSize;
        const chunks: DeliveryItem[][] = [];
        for (let i = 0; i < winners.length; i += size) chunks.push(winners.slice(i, i + size));
        const send = list[0]!.mode === 'single' ? sendSync : sendAsync;
        for (const outcomes of await runLimited(chunks, concurrency, send)) for (const o of outcomes) out.set(o.id, o);
      }
      return items.map((i) => out.get(i.id) ?? { id: i.id, status: 'retry', error: new TransientError(Code.NO_OUTCOME, 'no outcome for this row') });
    },
  };
}

/** Reads an async request's per-row results, page by page, until `rows` are known or none are left. */
async function readResults(client: McRestClient, requestId: string, rows: number): Promise<ResultItem[]> {
  const all: ResultItem[] = [];
  for (let page = 1; ; page++) {
    const res = await client.get<{ items?: unknown; count?: unknown }>(
      `/data/v1/async/${encodeURIComponent(requestId)}/results?page=${page}&pageSize=${RESULTS_PAGE}`,
    );
    const items = Array.isArray(res.body?.items) ? (res.body.items as ResultItem[]) : [];
    all.push(...items);
    const count = typeof res.body?.count === 'number' ? res.body.count : all.length;
    if (items.length < RESULTS_PAGE || all.length >= count || all.length >= rows) return all;
  }
}

/**
 * One row's outcome from the results: by position when the results list every row, else by
 * an error message naming the row's key value. A row the results cannot account for while the
 * request reports errors is a dead letter saying so (an upsert is safe to retry from the queue).
 */
function rowOutcome(item: DeliveryItem, results: readonly ResultItem[], requestId: string): DeliveryOutcome {
  const p = item.payload;
  const where = `row ${p.contactKey} of data extension ${p.key} (request ${requestId})`;
  const reject = (r: ResultItem): DeliveryOutcome => {
    const code = typeof r.errorCode === 'string' || typeof r.errorCode === 'number' ? r.errorCode : 'unknown';
    const message = typeof r.message === 'string' ? r.message.slice(0, 300) : '';
    return {
      id: item.id,
      status: 'dead',
      error: new PermanentError(Code.MC_ROW_REJECTED, `Marketing Cloud rejected ${where}: ${code}${message ? `: ${message}` : ''}`, {
        mcErrorCode: code,
      }),
    };
  };
  const isError = (r: ResultItem | undefined) => r !== undefined && String(r.status ?? '').toLowerCase() === 'error';
  const row = item.confirm!.row;
  const positional = results.length > row && results.every((r) => r.status !== undefined);
  if (positional && results.some((r) => !isError(r)))
    return isError(results[row]) ? reject(results[row]!) : { id: item.id, status: 'delivered', ids: { requestId } };
  const keyValues = p.primaryKey.map((c) => String(p.row[c] ?? '')).filter((v) => v !== '');
  const named = results.find((r) => isError(r) && typeof r.message === 'string' && keyValues.some((v) => (r.message as string).includes(v)));
  if (named) return reject(named);
  if (positional) return isError(results[row]) ? reject(results[row]!) : { id: item.id, status: 'delivered', ids: { requestId } };
  return {
    id: item.id,
    status: 'dead',
    error: new PermanentError(
      Code.MC_ROW_UNCONFIRMED,
      `Marketing Cloud reported errors for request ${requestId} without saying which rows; ${where} is not known written (retry it from the dead-letter queue: an upsert is safe to repeat)`,
    ),
  };
}
