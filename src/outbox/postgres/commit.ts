/**
 * How the Postgres store commits a received batch: its actions, its dead letters (with their
 * status events, feedback) and the moved checkpoints (with their CDC commit marks) in ONE
 * statement. A statement is its own
 * transaction, so the contract holds (all or nothing, duplicates refused by the idempotency
 * key, ids in batch order), and it costs one round trip to the server instead of five: on a
 * busy machine each round trip is a wait for the bridge's event loop and the server's
 * backend, and the batch's events wait behind every one.
 */
import type { NewAction, NewDeadLetter } from '../../core/model.ts';
import { sourceFacts } from '../trace-facts.ts';
import type { Queries } from './transient.ts';

/** A named statement and its parameters: each connection plans a statement of one name once. */
export interface Statement {
  name: string;
  text: string;
  values: unknown[];
}

/** Where to tell the other instances that work was committed. */
export interface CommitNotice {
  channel: string;
  instanceId: string;
}

/**
 * The statement committing one batch; it returns one row `{ inserted, dead_lettered }`.
 * Payloads are serialized here, so one that cannot be stored throws before anything is sent.
 */
export function commitStatement(
  actions: readonly NewAction[],
  deadLetters: readonly NewDeadLetter[],
  checkpoints: ReadonlyMap<string, string>,
  marks: ReadonlyMap<string, number> | undefined,
  now: number,
  notice: CommitNotice | undefined,
): Statement {
  const values: unknown[] = [];
  const $ = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const parts: string[] = [];
  if (actions.length > 0) {
    // WITH ORDINALITY keeps ids in batch order (outbox order). An action whose contact's head
    // waits for a retry is parked (store.ts, "Parking"): no lock, one probe of the small
    // retry_heads table per action, and while no contact waits for a retry (the common case)
    // one per statement (a probe per action cost PostgreSQL ~5% of its CPU in the bench). A
    // head settling at this moment may miss the parked action: the sweep un-parks it.
    parts.push(`ins AS (INSERT INTO actions (idempotency_key, status, route, target, mode, batch_key, channel, replay_id,
        record_id, contact_key, correlation_id, payload, received_at, created_at, change_type, admin_correlation_id, parked)
      SELECT k, 'pending', ro, t, m, b, ch, rp, rec, ck, co, p::json, ra, ${$(now)}, ct, ac,
        CASE WHEN EXISTS (SELECT 1 FROM retry_heads) THEN EXISTS (SELECT 1 FROM retry_heads h WHERE h.contact_key = ck) ELSE false END
      FROM unnest(${$(actions.map((a) => a.idempotencyKey))}::text[], ${$(actions.map((a) => a.route))}::text[],
        ${$(actions.map((a) => a.target))}::text[], ${$(actions.map((a) => a.mode))}::text[], ${$(actions.map((a) => a.batchKey))}::text[],
        ${$(actions.map((a) => a.channel))}::text[], ${$(actions.map((a) => a.replayId))}::text[], ${$(actions.map((a) => a.recordId))}::text[],
        ${$(actions.map((a) => a.contactKey))}::text[], ${$(actions.map((a) => a.correlationId))}::text[],
        ${$(actions.map((a) => JSON.stringify(a.payload)))}::text[], ${$(actions.map((a) => a.receivedAt))}::bigint[],
        ${$(actions.map((a) => a.changeType ?? null))}::text[], ${$(actions.map((a) => a.adminCorrelationId ?? null))}::text[])
        WITH ORDINALITY AS x(k, ro, t, m, b, ch, rp, rec, ck, co, p, ra, ct, ac, n)
      ORDER BY n
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1)`);
  }
  if (deadLetters.length > 0) {
    // A dead letter is dated and typed by the event it came from, when that can be read.
    const facts = deadLetters.map((d) => sourceFacts(d.source));
    const at = $(now);
    parts.push(`dl AS (INSERT INTO actions (idempotency_key, status, route, channel, replay_id, record_id, contact_key,
        correlation_id, payload, error_code, error, received_at, created_at, change_type, admin_correlation_id)
      SELECT k, 'dead', ro, ch, rp, rec, ck, co, p::json, ec, er, coalesce(ra, ${at}), ${at}, ct, ac
      FROM unnest(${$(deadLetters.map((d) => d.idempotencyKey))}::text[], ${$(deadLetters.map((d) => d.route))}::text[],
        ${$(deadLetters.map((d) => d.channel))}::text[], ${$(deadLetters.map((d) => d.replayId))}::text[],
        ${$(deadLetters.map((d) => d.recordId))}::text[], ${$(deadLetters.map((d) => d.contactKey))}::text[],
        ${$(deadLetters.map((d) => d.correlationId))}::text[], ${$(deadLetters.map((d) => d.code))}::text[],
        ${$(deadLetters.map((d) => d.reason))}::text[], ${$(deadLetters.map((d) => JSON.stringify(d.source ?? null)))}::text[],
        ${$(facts.map((f) => f.receivedAt ?? null))}::bigint[], ${$(facts.map((f) => f.changeType ?? null))}::text[],
        ${$(deadLetters.map((d) => d.adminCorrelationId ?? null))}::text[])
        WITH ORDINALITY AS x(k, ro, ch, rp, rec, ck, co, ec, er, p, ra, ct, ac, n)
      ORDER BY n
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key)`);
    // Feedback: a dead letter of a route with feedback on settles here, at planning; its
    // status event is stored with it (only when the dead letter itself was stored).
    const withFeedback = deadLetters.filter((d) => d.feedback);
    if (withFeedback.length > 0) {
      parts.push(`st AS (INSERT INTO status_events (action_id, fields, created_at)
        SELECT dl.id, f.f, ${at} FROM dl
          JOIN unnest(${$(withFeedback.map((d) => d.idempotencyKey))}::text[], ${$(withFeedback.map((d) => JSON.stringify(d.feedback)))}::jsonb[])
            WITH ORDINALITY AS f(k, f, n) ON f.k = dl.idempotency_key
        ORDER BY f.n)`);
    }
  }
  // A commit mark is kept with the checkpoint it belongs to and never moved back (GREATEST
  // skips a NULL). A row is written once per statement: the marks of channels whose
  // checkpoint moves ride on the upsert, the others update their row apart.
  if (checkpoints.size > 0) {
    const channels = [...checkpoints.keys()];
    parts.push(`cp AS (INSERT INTO checkpoints (channel, replay_id, updated_at, commit_timestamp)
      SELECT ch, rp, ${$(now)}, ts FROM unnest(${$(channels)}::text[], ${$([...checkpoints.values()])}::text[],
        ${$(channels.map((c) => marks?.get(c) ?? null))}::bigint[]) AS x(ch, rp, ts)
      ON CONFLICT (channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at,
        commit_timestamp = GREATEST(checkpoints.commit_timestamp, excluded.commit_timestamp))`);
  }
  const apart = [...(marks ?? new Map<string, number>())].filter(([c]) => !checkpoints.has(c));
  if (apart.length > 0) {
    parts.push(`mk AS (UPDATE checkpoints c SET commit_timestamp = GREATEST(c.commit_timestamp, x.ts)
      FROM unnest(${$(apart.map(([c]) => c))}::text[], ${$(apart.map(([, t]) => t))}::bigint[]) AS x(ch, ts) WHERE c.channel = x.ch)`);
  }
  // Sent at commit; this instance's own dispatcher is woken in-process by the sink.
  const woke = notice && actions.length > 0 ? `, (SELECT pg_notify(${$(notice.channel)}, ${$(notice.instanceId)})) AS woke` : '';
  // The text depends only on which parts are present (and the notice): so does the name.
  const name = `sfmc-commit-${parts.map((p) => p.slice(0, 2)).join('-')}${woke ? '-n' : ''}`;
  const text = `${parts.length > 0 ? `WITH ${parts.join(',\n')}\n` : ''}SELECT ${actions.length > 0 ? '(SELECT count(*) FROM ins)' : '0'}::int AS inserted,
    ${deadLetters.length > 0 ? '(SELECT count(*) FROM dl)' : '0'}::int AS dead_lettered${woke}`;
  return { name, text, values };
}

/** Runs the statement of `commitStatement`; the counts it returns. */
export async function runCommit(pool: Queries, statement: Statement): Promise<{ inserted: number; deadLettered: number }> {
  const { rows } = await pool.query<{ inserted: number; dead_lettered: number }>(statement);
  return { inserted: rows[0]!.inserted, deadLettered: rows[0]!.dead_lettered };
}
