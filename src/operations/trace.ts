/**
 * A record's timeline, as support reads it: what was received, how it was routed, every
 * delivery attempt and how it ended. Shared by `sfmc-bridge trace` and the admin listener's
 * `/api/trace/:id`, so the command line and the status page always tell the same story.
 */
import { tryTo18 } from '../normalize/ids.ts';
import { maskPersonal } from '../core/log.ts';
import type { DeliveryIds } from '../core/model.ts';
import type { HistoryStore, TraceEntry } from '../outbox/contract.ts';

/** The answer to one trace query. */
export interface RecordTrace {
  /** What was asked, as given. */
  query: string;
  /** What the store was searched for: the 18-character form of a 15- or 18-character ID, else the query itself. */
  key: string;
  entries: TraceEntry[];
}

/**
 * Looks up the timeline of a record ID (15 or 18 characters, any case an 18 allows), a contact
 * key, or an admin's correlation ID (`Correlation_Id__c`). Error texts can quote a field's value, so e-mail addresses and phone numbers in them are
 * masked unless `allowPersonalData` (the `log.allowPersonalData` switch) says otherwise.
 */
export async function traceRecord(store: HistoryStore, query: string, opts: { allowPersonalData?: boolean } = {}): Promise<RecordTrace> {
  const trimmed = query.trim();
  const key = tryTo18(trimmed) ?? trimmed;
  let entries = await store.trace(key);
  if (key !== trimmed) {
    // An admin's correlation ID can look like a 15-character record ID: search it as given too.
    const seen = new Set(entries.map((e) => e.id));
    const asGiven = (await store.trace(trimmed)).filter((e) => !seen.has(e.id));
    if (asGiven.length > 0) entries = [...entries, ...asGiven].sort((a, b) => a.id - b.id);
  }
  if (!opts.allowPersonalData) {
    entries = entries.map((e) => ({
      ...e,
      error: e.error === null ? null : maskPersonal(e.error),
      attempts: e.attempts.map((a) => ({ ...a, detail: a.detail === null ? null : maskPersonal(a.detail) })),
    }));
  }
  return { query, key, entries };
}

/** ISO time with milliseconds; the timeline is about sub-second steps. */
function at(ms: number): string {
  return new Date(ms).toISOString();
}

/** The timeline as readable text, one step per line, newest information last. */
export function renderTrace(trace: RecordTrace): string {
  if (trace.entries.length === 0) {
    const canonical = trace.key !== trace.query.trim() ? ` (searched as ${trace.key})` : '';
    return `No history for ${trace.query}${canonical}: nothing received for this record, contact key or correlation ID, or it was delivered before the retention window (store.retentionDays).\n`;
  }
  const lines: string[] = [`Timeline of ${trace.key}: ${trace.entries.length} action${trace.entries.length === 1 ? '' : 's'}`];
  for (const e of trace.entries) {
    lines.push('');
    const admin = e.adminCorrelationId ? `  adminCorrelationId=${e.adminCorrelationId}` : '';
    lines.push(`#${e.id}  correlationId=${e.correlationId}${admin}  status=${e.status}`);
    lines.push(
      `  ${at(e.receivedAt)}  received     ${e.channel}  replayId=${e.replayId}  changeType=${e.changeType ?? '(unreadable)'}  recordId=${e.recordId || '(none)'}`,
    );
    if (e.target !== null) {
      const what = e.batchKey ? `${e.target} ${e.batchKey} (${e.mode ?? 'batch'})` : e.target;
      lines.push(`  ${at(e.createdAt)}  routed       route=${e.route}  action=${what}  contactKey=${e.contactKey}`);
    }
    for (const a of e.attempts) {
      if (a.outcome === 'delivered') {
        lines.push(`  ${at(a.at)}  delivered    attempt ${a.attempt}  ${formatIds(a.ids ?? {})}`);
      } else if (a.outcome === 'retry') {
        lines.push(`  ${at(a.at)}  failed       attempt ${a.attempt}  ${a.code ?? ''}: ${a.detail ?? ''} (will retry)`);
      } else if (a.outcome === 'dead') {
        lines.push(`  ${at(a.at)}  failed       attempt ${a.attempt}  ${a.code ?? ''}: ${a.detail ?? ''}`);
      } else {
        // A dead-letter queue step (requeued, discarded, re-derived): not a delivery attempt.
        lines.push(`  ${at(a.at)}  ${a.outcome.padEnd(12)} ${a.code ? `${a.code}: ` : ''}${a.detail ?? ''}`);
      }
    }
    if (e.status === 'dead') {
      const when = e.attempts.length === 0 ? 'before delivery' : `after ${e.attempts.length} attempt${e.attempts.length === 1 ? '' : 's'}`;
      lines.push(`  ${at(e.attempts.at(-1)?.at ?? e.createdAt)}  dead-letter  ${when}, route=${e.route}  ${e.errorCode ?? ''}: ${e.error ?? ''}`);
    } else if (e.status === 'pending' || e.status === 'inflight') {
      lines.push(
        `  ${' '.repeat(24)}  ${e.status === 'inflight' ? 'in flight   ' : 'pending     '} ${e.attempts.length} attempt${e.attempts.length === 1 ? '' : 's'} so far`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function formatIds(ids: DeliveryIds): string {
  const parts = Object.entries(ids)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join('  ') : '(Marketing Cloud returned no identifier)';
}
