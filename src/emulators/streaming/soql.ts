/**
 * The subset of SOQL the bridge sends, parsed and run against the emulator's record table:
 *
 *   SELECT f1, f2 FROM Obj [WHERE cond [AND cond]...] [ORDER BY f [ASC|DESC], ...] [LIMIT n]
 *   cond: f IN ('a', 'b', ...) | f (= | != | < | <= | > | >=) literal
 *   literal: 'text' | 2026-04-09T20:26:27.000Z (datetimes are unquoted) | number | true | false | null
 *
 * Anything else is refused with Salesforce's `MALFORMED_QUERY`, so a bridge that starts sending
 * something new finds out in its tests rather than in production.
 */
import { tryTo18 } from '../../normalize/ids.ts';
import type { OrgRecord, RecordTable } from './records.ts';
import { SalesforceCode } from '../../core/errors.ts';

/** A parsed query. */
export interface SoqlQuery {
  fields: string[];
  object: string;
  where: Condition[];
  orderBy: { field: string; desc: boolean }[];
  limit: number | undefined;
}

type Literal = string | number | boolean | null | Date;

/** One condition of the WHERE clause. */
export type Condition = { field: string; op: 'IN'; values: Literal[] } | { field: string; op: '=' | '!=' | '<' | '<=' | '>' | '>='; value: Literal };

/** A query the emulator cannot parse; `code` is Salesforce's error code. */
export class SoqlError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const TOKEN =
  /\s*(?:('(?:[^'\\]|\\.)*')|(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))|(-?\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_.]*)|(!=|<=|>=|[=<>(),]))/y;

/** Parses one query. @throws SoqlError */
export function parseSoql(text: string): SoqlQuery {
  const tokens: { kind: 'str' | 'date' | 'num' | 'word' | 'sym'; text: string }[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    if (!m) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, `unexpected token at ${JSON.stringify(text.slice(at, at + 20))}`);
    at = TOKEN.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: 'str', text: m[1].slice(1, -1).replace(/\\(.)/g, '$1') });
    else if (m[2] !== undefined) tokens.push({ kind: 'date', text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'num', text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'word', text: m[4] });
    else tokens.push({ kind: 'sym', text: m[5]! });
  }
  let i = 0;
  const peekWord = (w: string) => tokens[i]?.kind === 'word' && tokens[i]!.text.toUpperCase() === w;
  const expectWord = (w: string) => {
    if (!peekWord(w)) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, `expected ${w} near ${JSON.stringify(tokens[i]?.text ?? 'end of query')}`);
    i++;
  };
  const name = (): string => {
    const t = tokens[i++];
    if (t?.kind !== 'word')
      throw new SoqlError(SalesforceCode.MALFORMED_QUERY, `expected a field name near ${JSON.stringify(t?.text ?? 'end of query')}`);
    return t.text;
  };
  const literal = (): Literal => {
    const t = tokens[i++];
    if (!t) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, 'expected a value at end of query');
    if (t.kind === 'str') return t.text;
    if (t.kind === 'date') return new Date(t.text);
    if (t.kind === 'num') return Number(t.text);
    if (t.kind === 'word' && /^(true|false|null)$/i.test(t.text)) return JSON.parse(t.text.toLowerCase()) as boolean | null;
    throw new SoqlError(SalesforceCode.MALFORMED_QUERY, `expected a value near ${JSON.stringify(t.text)}`);
  };
  const sym = (s: string): boolean => {
    if (tokens[i]?.kind === 'sym' && tokens[i]!.text === s) {
      i++;
      return true;
    }
    return false;
  };

  expectWord('SELECT');
  const fields = [name()];
  while (sym(',')) fields.push(name());
  expectWord('FROM');
  const object = name();
  const where: Condition[] = [];
  if (peekWord('WHERE')) {
    i++;
    do {
      const field = name();
      if (peekWord('IN')) {
        i++;
        if (!sym('(')) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, 'expected ( after IN');
        const values = [literal()];
        while (sym(',')) values.push(literal());
        if (!sym(')')) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, 'expected ) closing IN');
        where.push({ field, op: 'IN', values });
      } else {
        const t = tokens[i++];
        if (t?.kind !== 'sym' || !['=', '!=', '<', '<=', '>', '>='].includes(t.text)) {
          throw new SoqlError(SalesforceCode.MALFORMED_QUERY, `expected an operator after ${field}`);
        }
        where.push({ field, op: t.text as '=', value: literal() });
      }
    } while (peekWord('AND') && ++i);
  }
  const orderBy: SoqlQuery['orderBy'] = [];
  if (peekWord('ORDER')) {
    i++;
    expectWord('BY');
    do {
      const field = name();
      let desc = false;
      if (peekWord('ASC')) i++;
      else if (peekWord('DESC')) {
        i++;
        desc = true;
      }
      orderBy.push({ field, desc });
    } while (sym(','));
  }
  let limit: number | undefined;
  if (peekWord('LIMIT')) {
    i++;
    const n = literal();
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, 'LIMIT needs a whole number');
    limit = n;
  }
  if (i < tokens.length) throw new SoqlError(SalesforceCode.MALFORMED_QUERY, `unexpected ${JSON.stringify(tokens[i]!.text)}`);
  return { fields, object, where, orderBy, limit };
}

/** Every field a query names (select list, conditions, ordering). */
export function fieldsNamed(q: SoqlQuery): string[] {
  return [...new Set([...q.fields, ...q.where.map((c) => c.field), ...q.orderBy.map((o) => o.field)])];
}

function comparable(v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) return Date.parse(v);
  return v;
}

function idAware(field: string, v: Literal): unknown {
  if (typeof v === 'string' && (field === 'Id' || field.endsWith('Id'))) return tryTo18(v) ?? v;
  return comparable(v);
}

/** A condition with its values normalized once, not once per record. */
interface Prepared {
  field: string;
  op: Condition['op'];
  values: Set<unknown> | undefined;
  value: unknown;
}

function prepare(c: Condition): Prepared {
  if (c.op === 'IN') return { field: c.field, op: c.op, values: new Set(c.values.map((v) => idAware(c.field, v))), value: undefined };
  return { field: c.field, op: c.op, values: undefined, value: idAware(c.field, c.value) };
}

function matches(record: OrgRecord, c: Prepared): boolean {
  const actual = comparable(record[c.field] ?? null);
  const want = c.value;
  switch (c.op) {
    case 'IN':
      return c.values!.has(actual);
    case '=':
      return actual === want;
    case '!=':
      return actual !== want;
    case '<':
      return actual !== null && (actual as number) < (want as number);
    case '<=':
      return actual !== null && (actual as number) <= (want as number);
    case '>':
      return actual !== null && (actual as number) > (want as number);
    case '>=':
      return actual !== null && (actual as number) >= (want as number);
  }
}

/**
 * Runs a parsed query over `records`; returns the selected fields of the matches, in order.
 * With `byId`, a query by `Id IN (…)` looks its records up instead of scanning the table.
 */
export function runSoql(q: SoqlQuery, records: Iterable<OrgRecord>, byId?: (id: string) => OrgRecord | undefined): Record<string, unknown>[] {
  return matchingRecords(q, records, byId).map((r) => project(q, r));
}

/** The selected fields of one record, as a query returns it. */
export function project(q: SoqlQuery, r: OrgRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { attributes: { type: q.object, url: '' } };
  for (const f of q.fields) out[f] = r[f] ?? null;
  return out;
}

/** The records a query matches (where, order, limit), not projected: a Bulk API job pages through them. */
export function matchingRecords(q: SoqlQuery, records: Iterable<OrgRecord>, byId?: (id: string) => OrgRecord | undefined): OrgRecord[] {
  const hits: OrgRecord[] = [];
  const conditions = q.where.map(prepare);
  const ids = conditions.find((c) => c.field === 'Id' && c.op === 'IN');
  let candidates: Iterable<OrgRecord> = records;
  if (ids && byId) {
    candidates = [...ids.values!].map((id) => byId(String(id))).filter((r): r is OrgRecord => r !== undefined);
  }
  for (const r of candidates) if (conditions.every((c) => matches(r, c))) hits.push(r);
  if (q.orderBy.length > 0) {
    hits.sort((a, b) => {
      for (const o of q.orderBy) {
        const x = comparable(a[o.field] ?? null) as number | string;
        const y = comparable(b[o.field] ?? null) as number | string;
        if (x === y) continue;
        const lt = x === null || (y !== null && x < y);
        return (lt ? -1 : 1) * (o.desc ? -1 : 1);
      }
      return 0;
    });
  }
  return q.limit === undefined ? hits : hits.slice(0, q.limit);
}

/**
 * A query checked against the org as Salesforce checks it before running it (REST query and
 * Bulk API 2.0 alike): its syntax, its object, its fields; else the error code and message
 * Salesforce answers with (400).
 */
export function checkedQuery(text: string, records: RecordTable): { query: SoqlQuery } | { errorCode: string; message: string } {
  let q: SoqlQuery;
  try {
    q = parseSoql(text);
  } catch (err) {
    return { errorCode: err instanceof SoqlError ? err.code : SalesforceCode.MALFORMED_QUERY, message: (err as Error).message };
  }
  if (!records.has(q.object)) return { errorCode: SalesforceCode.INVALID_TYPE, message: `sObject type '${q.object}' is not supported.` };
  const known = new Set(records.fieldsOf(q.object));
  const unknown = fieldsNamed(q).find((f) => !known.has(f));
  if (unknown) return { errorCode: SalesforceCode.INVALID_FIELD, message: `No such column '${unknown}' on entity '${q.object}'.` };
  return { query: q };
}
