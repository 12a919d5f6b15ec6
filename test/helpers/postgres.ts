/**
 * The real PostgreSQL the tests use (127.0.0.1:5432, database `test`; `TEST_DATABASE_URL`
 * overrides). Every test run works in a schema of its own, dropped afterwards, so runs in
 * parallel never see each other. Unreachable is a failure, never a skip: CI starts the server.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CLAIM } from '../../src/outbox/postgres/store.ts';

/** Connection URL of the test database. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name, unique to this call. */
export function freshSchemaName(prefix = 't'): string {
  return `${prefix}_${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** Runs one statement on its own connection; throws a clear error when the server is down. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_DATABASE_URL.replace(/\/\/[^@]*@/, '//')} (${(err as Error).message}); start it (.ci/run does) or set TEST_DATABASE_URL`,
      { cause: err },
    );
  }
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

/** Fails loudly unless the test server answers. */
export async function requirePostgres(): Promise<void> {
  await adminQuery('SELECT 1');
}

/** Drops a schema made by a test, with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** A node of an `EXPLAIN (ANALYZE, FORMAT JSON)` plan: the fields the claim's tests read. */
interface PlanNode {
  'Node Type': string;
  Alias?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/**
 * Index and table rows the store's claim reads from `actions` (its scans of alias `a`) when it
 * takes up to `limit` actions in `schema`: see rowsRead.
 */
export function claimRowsRead(schema: string, limit: number): Promise<number> {
  return rowsRead(schema, CLAIM, [Date.now(), limit, 'explain', 30_000]);
}

/** What EXPLAIN ANALYZE says of a statement: its plan, and whether it was JIT-compiled. */
export interface Explained {
  plan: PlanNode;
  jit: boolean;
}

/**
 * EXPLAIN (ANALYZE, FORMAT JSON) of a statement in `schema`, in a transaction rolled back, so
 * nothing changes; `session` replaces the session settings (default: no bitmap scans).
 */
export async function explain(schema: string, sql: string, params: unknown[], session = '-c enable_bitmapscan=off'): Promise<Explained> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema} ${session}` });
  await client.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode; JIT?: unknown }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
    const out = rows[0]!['QUERY PLAN'][0];
    return { plan: out.Plan, jit: out.JIT !== undefined };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
  }
}

/**
 * Index and table rows a statement of the store reads from `actions` (its scans of `alias`) in
 * `schema` (see explain): rows a scan returned in each of its loops, plus those its filter dropped.
 */
export async function rowsRead(schema: string, sql: string, params: unknown[], alias = 'a'): Promise<number> {
  const { plan } = await explain(schema, sql, params);
  const scans = (node: PlanNode): PlanNode[] => [
    ...(node.Alias === alias && node['Node Type'].includes('Scan') ? [node] : []),
    ...(node.Plans ?? []).flatMap(scans),
  ];
  return scans(plan).reduce((sum, node) => sum + node['Actual Rows'] * node['Actual Loops'] + (node['Rows Removed by Filter'] ?? 0), 0);
}
