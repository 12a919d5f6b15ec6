/**
 * Exactly-once checks of transactional sends from the bridge's side. Marketing Cloud refuses a
 * reused messageKey by itself (109110), so counting what it accepted proves nothing about the
 * bridge; these checks compare what the bridge asked for with what it recorded instead.
 */
import { DatabaseSync } from 'node:sqlite';
import { expect } from '@jest/globals';
import type { McEmulator } from '../../src/emulators/mc/types.ts';

/** One transactional action as the outbox holds it, with its recorded history. */
export interface SendRow {
  id: number;
  key: string;
  status: string;
  contactKey: string;
  address: string;
  /** The messageKey recorded as delivered (null until delivered). */
  messageKey: string | null;
  attempts: number;
  /** History rows of retried attempts whose answer was lost (Marketing Cloud may have accepted them). */
  retries: number;
}

/**
 * The failures after which Marketing Cloud may have accepted a request (src/delivery/retry.ts):
 * the only ones that justify sending a key again. After a 5xx or a 429 it did not accept it.
 */
const AMBIGUOUS = ['MC_CONNECTION_LOST', 'MC_TIMEOUT'];

/** Every transactional action of a SQLite outbox, read through a second, read-only connection. */
export function transactionalRows(dbPath: string): SendRow[] {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const rows = db
      .prepare(`SELECT a.id, a.idempotency_key AS key, a.status, a.contact_key AS contactKey, a.payload, a.message_key AS messageKey, a.attempts,
        (SELECT count(*) FROM attempts t WHERE t.action_id = a.id AND t.outcome = 'retry' AND t.code IN (${AMBIGUOUS.map((c) => `'${c}'`).join(', ')})) AS retries
      FROM action_rows a WHERE a.target = 'transactional'`)
      .all() as unknown as (Omit<SendRow, 'address'> & { payload: string })[];
    return rows.map(({ payload, ...r }) => ({ ...r, address: (JSON.parse(payload) as { address: string }).address }));
  } finally {
    db.close();
  }
}

/**
 * What the bridge asked Marketing Cloud for agrees with what it recorded:
 *  - every messageKey asked for is the idempotency key of exactly one action, and was only ever
 *    asked for that action's recipient (no key sent for two different messages);
 *  - a delivered action records its own key as its messageKey, and no two share one;
 *  - a key asked for again follows a recorded attempt whose answer was lost (a reset or a
 *    timeout), so a delivered action is never sent again; every request is counted in the action's attempts.
 * Returns how many keys were asked for more than once (the ambiguous failures it recovered from).
 */
export function expectSendsAccountedFor(rows: readonly SendRow[], mc: McEmulator): { resent: number } {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  expect(byKey.size).toBe(rows.length);
  let resent = 0;
  const problems: string[] = [];
  for (const [key, asked] of mc.messageKeyRequests()) {
    const row = byKey.get(key);
    if (!row) {
      problems.push(`${key}: sent, but no action has this key`);
      continue;
    }
    const own = `${row.contactKey} ${row.address}`;
    if (asked.recipients.length !== 1 || asked.recipients[0] !== own)
      problems.push(`${key}: sent for ${asked.recipients.join(', ')}, the action is for ${own}`);
    if (asked.requests > 1) resent++;
    if (asked.requests - 1 > row.retries) problems.push(`${key}: sent ${asked.requests} times after ${row.retries} recorded retries`);
    if (row.attempts < asked.requests) problems.push(`${key}: sent ${asked.requests} times, ${row.attempts} attempts recorded`);
  }
  const delivered = rows.filter((r) => r.status === 'delivered');
  for (const r of delivered) if (r.messageKey !== r.key) problems.push(`action ${r.id}: delivered as ${r.messageKey}, keyed ${r.key}`);
  expect(new Set(delivered.map((r) => r.messageKey)).size).toBe(delivered.length);
  expect(problems.slice(0, 10)).toEqual([]);
  return { resent };
}
