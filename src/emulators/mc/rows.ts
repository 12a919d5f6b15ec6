/**
 * Data extension rows as Marketing Cloud stores them, and the two row APIs:
 *  - async: `POST|PUT /data/v1/async/dataextensions/key:{key}/rows` `{"items": [...]}` → 202
 *    `{requestId}`; processed in arrival order after `asyncDelayMs`; `GET /data/v1/async/{id}/status`
 *    (`requestStatus` Pending | Complete, `hasErrors`) and `GET .../results` (one item per row, in
 *    request order, `status` OK | Error with `errorCode` and a message naming the field);
 *  - sync: `POST /hub/v1/dataevents/key:{key}/rowset` `[{keys, values}]`, all or nothing: 200 with
 *    the rows, or 400 naming the first bad row's field.
 * Rows are checked against the data extension's fields when it is defined (unknown column,
 * missing primary key or required value, type, length); an undefined data extension takes any
 * row, keyed by its ContactKey (or first) column. Member faults refuse rows by Contact Key.
 */
import { randomUUID } from 'node:crypto';
import { isRecord, mcError, parseJson, type ParsedRequest, type Reply } from './http.ts';
import type { McState } from './state.ts';

/** A data extension field, as the emulator checks rows against it. */
export interface DeField {
  name: string;
  /** Text, Number, Decimal, Date, Boolean, EmailAddress, Phone, Locale. */
  type: string;
  isPrimaryKey?: boolean;
  isRequired?: boolean;
  maxLength?: number;
}

/** A data extension known to the emulator. */
export interface DeDefinition {
  key: string;
  fields: DeField[];
}

/** One row's error, as the results endpoint reports it. */
export interface RowError {
  errorCode: string;
  message: string;
}

interface AsyncRequest {
  requestId: string;
  key: string;
  items: Record<string, unknown>[];
  acceptedAt: number;
  results?: ({ status: 'OK' } | ({ status: 'Error' } & RowError))[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The emulator's data extensions: definitions, rows, write counts and async requests. */
export class DeTables {
  readonly definitions = new Map<string, DeDefinition>();
  /** Rows per data extension, by primary key; bodies dropped when not recorded (benchmarks). */
  readonly rows = new Map<string, Map<string, Record<string, unknown> | true>>();
  /** How many times each row was written: the exactly-once view. */
  readonly writes = new Map<string, Map<string, number>>();
  readonly requests = new Map<string, AsyncRequest>();
  #queue: AsyncRequest[] = [];
  asyncDelayMs = 0;
  readonly recordBodies: boolean;
  constructor(recordBodies: boolean) {
    this.recordBodies = recordBodies;
  }

  /** Why `row` cannot be written to `key`, or undefined. */
  problem(key: string, row: unknown): RowError | undefined {
    if (!isRecord(row)) return { errorCode: 'InvalidRow', message: 'A row must be a JSON object.' };
    const def = this.definitions.get(key);
    if (!def) return undefined;
    for (const column of Object.keys(row)) {
      if (!def.fields.some((f) => f.name.toLowerCase() === column.toLowerCase()))
        return { errorCode: 'InvalidColumn', message: `Field '${column}' does not exist in data extension ${key}.` };
    }
    for (const f of def.fields) {
      const value = valueOf(row, f.name);
      const empty = value === undefined || value === null || value === '';
      if (empty && f.isPrimaryKey) return { errorCode: 'MissingPrimaryKey', message: `Primary key field '${f.name}' has no value.` };
      if (empty && f.isRequired && value !== undefined) return { errorCode: 'RequiredField', message: `Field '${f.name}' is required.` };
      if (empty) continue;
      const text = String(value);
      const bad = typeProblem(f.type, value, text);
      if (bad) return { errorCode: 'InvalidValue', message: `Field '${f.name}' value '${text.slice(0, 60)}' is not a valid ${f.type}.` };
      if (f.maxLength !== undefined && (f.type === 'Text' || f.type === 'EmailAddress' || f.type === 'Phone') && text.length > f.maxLength) {
        return { errorCode: 'ValueTooLong', message: `Field '${f.name}' is ${text.length} characters, more than its length of ${f.maxLength}.` };
      }
    }
    return undefined;
  }

  /** The row's primary key in `key`. */
  primaryKeyOf(key: string, row: Record<string, unknown>): string {
    const def = this.definitions.get(key);
    const columns = def ? def.fields.filter((f) => f.isPrimaryKey).map((f) => f.name) : [];
    if (columns.length === 0) columns.push(Object.hasOwn(row, 'ContactKey') ? 'ContactKey' : (Object.keys(row)[0] ?? ''));
    return columns.map((c) => String(valueOf(row, c) ?? '')).join('|');
  }

  /** The Contact Key a row carries (member faults refuse by it). */
  contactKeyOf(row: Record<string, unknown>): string {
    return String(row.ContactKey ?? row.SubscriberKey ?? Object.values(row)[0] ?? '');
  }

  /** Upserts a valid row (partial rows keep the columns they do not name). */
  upsert(key: string, row: Record<string, unknown>): void {
    const pk = this.primaryKeyOf(key, row);
    let table = this.rows.get(key);
    if (!table) this.rows.set(key, (table = new Map()));
    const before = table.get(pk);
    table.set(pk, this.recordBodies ? { ...(before === true || before === undefined ? {} : before), ...row } : true);
    let counts = this.writes.get(key);
    if (!counts) this.writes.set(key, (counts = new Map()));
    counts.set(pk, (counts.get(pk) ?? 0) + 1);
  }

  /** Queues an async request. */
  accept(key: string, items: Record<string, unknown>[], now: number): string {
    const request: AsyncRequest = { requestId: randomUUID(), key, items, acceptedAt: now };
    this.requests.set(request.requestId, request);
    this.#queue.push(request);
    return request.requestId;
  }

  /** Processes the queued requests that are due, oldest first (Marketing Cloud's pipeline keeps order). */
  processDue(state: McState, now: number): void {
    while (this.#queue.length > 0 && this.#queue[0]!.acceptedAt + this.asyncDelayMs <= now) {
      const request = this.#queue.shift()!;
      const refusals = state.refusalsFor(request.items.map((r) => this.contactKeyOf(r)));
      request.results = request.items.map((row) => {
        const refused = refusals?.get(this.contactKeyOf(row));
        const problem = refused ? { errorCode: String(refused.errorcode), message: refused.message } : this.problem(request.key, row);
        if (problem) {
          state.counters.rejected++;
          return { status: 'Error' as const, ...problem };
        }
        this.upsert(request.key, row);
        return { status: 'OK' as const };
      });
      // Bodies are not needed once processed; results stay for the status and results endpoints.
      request.items = [];
    }
  }

  reset(): void {
    this.rows.clear();
    this.writes.clear();
    this.requests.clear();
    this.#queue = [];
  }
}

function valueOf(row: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(row, name)) return row[name];
  const lower = name.toLowerCase();
  const k = Object.keys(row).find((c) => c.toLowerCase() === lower);
  return k === undefined ? undefined : row[k];
}

function typeProblem(type: string, value: unknown, text: string): boolean {
  switch (type) {
    case 'Number':
      return !/^[+-]?\d+$/.test(text);
    case 'Decimal':
      return !/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text);
    case 'Date':
      return Number.isNaN(Date.parse(text));
    case 'Boolean':
      return !(typeof value === 'boolean' || /^(true|false|1|0|yes|no|y|n)$/i.test(text));
    case 'EmailAddress':
      return !EMAIL.test(text);
    case 'Phone':
      return !/^\+?\d{7,15}$/.test(text.replace(/[\s().-]/g, ''));
    default:
      return false;
  }
}

/** `/data/v1/async/dataextensions/key:{key}/rows` → the key. */
export function asyncRowsKey(path: string): string | undefined {
  const m = /^\/data\/v1\/async\/dataextensions\/key:([^/]+)\/rows$/.exec(path);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** `/hub/v1/dataevents/key:{key}/rowset` → the key. */
export function rowsetKey(path: string): string | undefined {
  const m = /^\/hub\/v1\/dataevents\/key:([^/]+)\/rowset$/.exec(path);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** `/data/v1/async/{id}/status|results` → [id, which]. */
export function asyncRequestPath(path: string): [string, 'status' | 'results'] | undefined {
  const m = /^\/data\/v1\/async\/([0-9a-fA-F-]{8,})\/(status|results)$/.exec(path);
  return m ? [m[1]!, m[2] as 'status' | 'results'] : undefined;
}

function unknownDe(tables: DeTables, key: string): Reply | undefined {
  if (tables.definitions.size === 0 || tables.definitions.has(key)) return undefined;
  return mcError(404, 10000, `Data extension with key '${key}' was not found.`);
}

/** Async insert or upsert: queued, answered 202 with a requestId. */
export function handleAsyncRows(state: McState, tables: DeTables, req: ParsedRequest, key: string, now: number): Reply {
  const body = parseJson(req.text);
  if (!isRecord(body) || !Array.isArray(body.items) || body.items.length === 0)
    return mcError(400, 10001, 'Request body must be a JSON object with a non-empty items array.');
  const missing = unknownDe(tables, key);
  if (missing) return missing;
  const requestId = tables.accept(key, body.items as Record<string, unknown>[], now);
  state.counters.batches++;
  tables.processDue(state, now);
  return { status: 202, body: { requestId, resultMessages: [] } };
}

/** Status or results of an async request. */
export function handleAsyncRequest(
  state: McState,
  tables: DeTables,
  req: ParsedRequest,
  id: string,
  which: 'status' | 'results',
  now: number,
): Reply {
  tables.processDue(state, now);
  const request = tables.requests.get(id);
  if (!request) return mcError(404, 10002, `Request ${id} was not found.`);
  const done = request.results !== undefined;
  if (which === 'status') {
    const hasErrors = done && request.results!.some((r) => r.status === 'Error');
    return {
      status: 200,
      body: {
        status: {
          callDateTime: new Date(request.acceptedAt).toISOString(),
          hasErrors,
          requestStatus: done ? 'Complete' : 'Pending',
          resultStatus: done ? (hasErrors ? 'Error' : 'OK') : 'Pending',
          requestId: id,
          ...(done ? { completionDateTime: new Date(request.acceptedAt + tables.asyncDelayMs).toISOString() } : {}),
        },
        requestId: randomUUID(),
      },
    };
  }
  const results = request.results ?? [];
  const pageSize = Math.max(1, Math.min(5000, Number(req.query.get('pageSize') ?? 50) || 50));
  const page = Math.max(1, Number(req.query.get('page') ?? 1) || 1);
  return {
    status: 200,
    body: { page, pageSize, count: results.length, items: results.slice((page - 1) * pageSize, page * pageSize), requestId: id },
  };
}

/** `/data/v1/customobjectdata/key/{key}/rowset` → the key. */
export function rowsetReadKey(path: string): string | undefined {
  const m = /^\/data\/v1\/customobjectdata\/key\/([^/]+)\/rowset$/.exec(path);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** Reads rows a page at a time (`$page`, `$pageSize`), as `{keys, values}` items; 404 for an unknown data extension. */
export function handleRowsetRead(tables: DeTables, req: ParsedRequest, key: string): Reply {
  if (tables.definitions.size > 0 ? !tables.definitions.has(key) : !tables.rows.has(key))
    return mcError(404, 10000, `Data extension with key '${key}' was not found.`);
  const pageSize = Math.max(1, Math.min(2500, Number(req.query.get('$pageSize') ?? 2500) || 2500));
  const page = Math.max(1, Number(req.query.get('$page') ?? 1) || 1);
  const all = [...(tables.rows.get(key)?.values() ?? [])];
  const pkNames = tables.definitions
    .get(key)
    ?.fields.filter((f) => f.isPrimaryKey)
    .map((f) => f.name) ?? ['ContactKey'];
  const items = all.slice((page - 1) * pageSize, page * pageSize).map((r) => {
    const row = r === true ? {} : r;
    const keys: Record<string, unknown> = {};
    const values: Record<string, unknown> = {};
    for (const [c, v] of Object.entries(row)) (pkNames.includes(c) ? keys : values)[c.toLowerCase()] = v;
    return { keys, values };
  });
  return { status: 200, body: { customObjectKey: key, page, pageSize, count: all.length, items } };
}

/** Sync rowset upsert: all rows or none. */
export function handleRowset(state: McState, tables: DeTables, req: ParsedRequest, key: string): Reply {
  const body = parseJson(req.text);
  if (!Array.isArray(body) || body.length === 0) return mcError(400, 10001, 'Request body must be a non-empty array of {keys, values}.');
  const missing = unknownDe(tables, key);
  if (missing) return missing;
  const rows = body.map((r) => (isRecord(r) ? { ...(isRecord(r.keys) ? r.keys : {}), ...(isRecord(r.values) ? r.values : {}) } : undefined));
  const refusals = state.refusalsFor(rows.map((r) => (r ? tables.contactKeyOf(r) : '')));
  for (const [i, row] of rows.entries()) {
    const refused = row ? refusals?.get(tables.contactKeyOf(row)) : undefined;
    const problem = refused ? { errorCode: String(refused.errorcode), message: refused.message } : tables.problem(key, row);
    if (problem) {
      state.counters.rejected += rows.length;
      return mcError(400, 10006, `Unable to save rows for data extension ${key}: row ${i}: ${problem.message}`, {
        additionalErrors: [{ message: problem.message, errorcode: 10006 }],
      });
    }
  }
  for (const row of rows) tables.upsert(key, row!);
  return { status: 200, body };
}
