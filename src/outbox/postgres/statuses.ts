/**
 * The Postgres status outbox (feedback): the queries behind `FeedbackStore`. Several instances
 * share the table: a claim is a lease (`claimed_until`), taken with SKIP LOCKED so two
 * publishers never take the same status, and a dead instance's claims come back when it ends.
 */
import type pg from 'pg';
import type { PendingStatus, StatusEventFields } from '../contract.ts';
import type { Queries } from './transient.ts';

/** Inserts the statuses of settled actions this instance still held; call inside its transaction. */
export async function addStatuses(
  c: pg.PoolClient,
  updated: readonly number[],
  statuses: ReadonlyMap<number, StatusEventFields>,
  now: number,
): Promise<void> {
  const ids = updated.filter((id) => statuses.has(id));
  if (ids.length === 0) return;
  await c.query(
    `INSERT INTO status_events (action_id, fields, created_at) SELECT x.id, x.f, $3
    FROM unnest($1::bigint[], $2::jsonb[]) WITH ORDINALITY AS x(id, f, n) ORDER BY x.n`,
    [ids, ids.map((id) => JSON.stringify(statuses.get(id))), now],
  );
}

/** Claims up to `limit` pending statuses, oldest first. */
export async function claimStatuses(pool: Queries, limit: number, now: number, leaseMs: number): Promise<PendingStatus[]> {
  const { rows } = await pool.query<{ id: string; action_id: string; fields: StatusEventFields }>(
    `UPDATE status_events s SET claimed_until = $3
    FROM (SELECT id FROM status_events WHERE failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $1)
          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) p
    WHERE s.id = p.id RETURNING s.id, s.action_id, s.fields`,
    [now, limit, now + leaseMs],
  );
  return rows.map((r) => ({ id: Number(r.id), actionId: Number(r.action_id), fields: r.fields })).sort((a, b) => a.id - b.id);
}

/** Deletes published statuses and keeps refused ones with their reason. */
export async function settleStatuses(
  pool: Queries,
  published: readonly number[],
  refused: readonly { id: number; reason: string }[],
  now: number,
): Promise<void> {
  if (published.length > 0) await pool.query('DELETE FROM status_events WHERE id = ANY($1::bigint[])', [published]);
  if (refused.length > 0) {
    await pool.query(
      `UPDATE status_events s SET failed_at = $3, error = x.e, claimed_until = NULL
      FROM unnest($1::bigint[], $2::text[]) AS x(id, e) WHERE s.id = x.id`,
      [refused.map((r) => r.id), refused.map((r) => r.reason), now],
    );
  }
}

/** Ends the claims on `ids`. */
export async function releaseStatuses(pool: Queries, ids: readonly number[]): Promise<void> {
  if (ids.length > 0) await pool.query('UPDATE status_events SET claimed_until = NULL WHERE id = ANY($1::bigint[])', [ids]);
}

/** Statuses waiting to be published. */
export async function statusBacklog(pool: Queries): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM status_events WHERE failed_at IS NULL');
  return rows[0]!.n;
}
