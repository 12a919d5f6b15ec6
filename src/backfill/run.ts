/**
 * The backfill loop: one Bulk API 2.0 query job read page by page, each page mapped by the
 * route and written before the next is read, the progress saved in the store after every page
 * (`backfill:<route>`), so a crash or Ctrl-C resumes at the page it stopped on, with the same
 * query job. Data extension rows pass the same newest-wins guard as the live stream: a record
 * older than the row the stream already wrote is skipped, never written over it, and a record
 * the stream changed while its page was being written is rewritten from its current values. Rows go
 * through Bulk Data Ingest from `ingestThreshold` records on, through async rows below it.
 * Send routes (confirmed by the operator) are delivered through their targets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, ConfigError, TransientError } from '../core/errors.ts';
import type { DataExtensionRowPayload, NewDeadLetter } from '../core/model.ts';
import type { McRestClient } from '../delivery/mc/http.ts';
import type { Target } from '../delivery/target.ts';
import { rowKeyOf, tableOf } from '../delivery/targets/data-extension.ts';
import type { Store } from '../outbox/contract.ts';
import { DataExtensionWriter, type PendingWrite, type WriteResult } from './de-writer.ts';
import { backfillKey, mapRecord, type BackfillPlan } from './plan.ts';
import type { BulkQuerySource } from './source.ts';

/** Records from which a backfill writes through Bulk Data Ingest rather than async rows. */
export const DEFAULT_INGEST_THRESHOLD = 10_000;
/** Records read per page. */
export const DEFAULT_PAGE_SIZE = 10_000;

/** Counters of a backfill, as progress and as the summary. */
export interface BackfillCounts {
  /** Records read from Salesforce. */
  read: number;
  /** Rows (or actions) Marketing Cloud accepted. */
  accepted: number;
  /** Records that became dead letters (mapping, or refused by Marketing Cloud). */
  rejected: number;
  /** Records older than the row the live stream wrote: not written. */
  skipped: number;
  pages: number;
  /** Rows rewritten from the record's current values because a live change overtook them mid-page. */
  repaired?: number;
}

/** What `runBackfill` returns. */
export interface BackfillSummary extends BackfillCounts {
  status: 'completed' | 'interrupted' | 'dry-run';
  route: string;
  soql: string;
  jobId: string;
  /** Records the query found. */
  total: number;
  /** How rows were written: `ingest`, `async`, `targets` (send routes) or `none` (dry run). */
  via: 'ingest' | 'async' | 'targets' | 'none';
  resumed: boolean;
  elapsedMs: number;
  /** Up to 10 reasons for dead letters, for the operator's first look. */
  reasons: string[];
}

/** Saved after every page. */
interface BackfillState extends BackfillCounts {
  v: 1;
  soql: string;
  jobId: string;
  total: number;
  /** Locator of the next page to read; null for the first. */
  locator: string | null;
  /** A page written but not yet known finished. */
  pending?: { write: PendingWrite; next: string | null; recordIds: string[]; counts: BackfillCounts };
}

/** What the loop needs. */
export interface BackfillDeps {
  plan: BackfillPlan;
  store: Store;
  source: Pick<BulkQuerySource, 'open' | 'resume' | 'page' | 'current'>;
  /** Marketing Cloud REST client of a business unit (undefined: the configured one). */
  mc(mid: string | undefined): McRestClient;
  /** Targets for send routes (only with confirmed sends). */
  targets?: Partial<Record<string, Target>>;
  dryRun?: boolean;
  /** Forget a saved, unfinished backfill of this route and start again. */
  restart?: boolean;
  pageSize?: number;
  ingestThreshold?: number;
  pollMs?: number;
  signal?: AbortSignal;
  onProgress?(counts: BackfillCounts & { total: number }): void;
}

const add = (a: BackfillCounts, b: BackfillCounts): void => {
  a.read += b.read;
  a.accepted += b.accepted;
  a.rejected += b.rejected;
  a.skipped += b.skipped;
  a.pages += b.pages;
};

/** Runs (or resumes) the backfill of `deps.plan.route`. */
export async function runBackfill(deps: BackfillDeps): Promise<BackfillSummary> {
  const { plan, store } = deps;
  const started = Date.now();
  const name = `backfill:${plan.route.name}`;
  const reasons: string[] = [];
  const pageSize = deps.pageSize ?? DEFAULT_PAGE_SIZE;
  let state = deps.dryRun || deps.restart ? undefined : ((await store.loadJobState(name)) as BackfillState | undefined);
  if (deps.restart && !deps.dryRun) await store.saveJobState(name, undefined);
  if (state && state.soql !== plan.soql) {
    throw new ConfigError(
      '--where',
      `an unfinished backfill of route "${plan.route.name}" read ${JSON.stringify(state.soql)}; run it again with the same --where/--since to resume, or pass --restart to start over`,
    );
  }
  const resumed = state !== undefined;
  if (!state) {
    const job = await deps.source.open(plan.soql);
    state = { v: 1, soql: plan.soql, jobId: job.id, total: job.total, locator: null, read: 0, accepted: 0, rejected: 0, skipped: 0, pages: 0 };
    if (!deps.dryRun) await store.saveJobState(name, state);
  } else {
    await deps.source.resume(state.jobId);
  }
  const target = plan.route.target;
  const isRows = target.type === 'dataExtension';
  const via: BackfillSummary['via'] = deps.dryRun
    ? 'none'
    : !isRows
      ? 'targets'
      : state.total >= (deps.ingestThreshold ?? DEFAULT_INGEST_THRESHOLD)
        ? 'ingest'
        : 'async';
  const writer = isRows ? new DataExtensionWriter(deps.mc(target.mid), target.key, { pollMs: deps.pollMs ?? 1000 }) : undefined;
  const save = async () => {
    if (!deps.dryRun) await store.saveJobState(name, state);
  };
  const progress = () =>
    deps.onProgress?.({
      read: state!.read,
      accepted: state!.accepted,
      rejected: state!.rejected,
      skipped: state!.skipped,
      pages: state!.pages,
      total: state!.total,
    });
  const deadLetter = async (list: NewDeadLetter[]) => {
    for (const d of list) if (reasons.length < 10) reasons.push(`${d.recordId || '(no id)'}: ${d.code}: ${d.reason}`);
    if (!deps.dryRun && list.length > 0) await store.commitBatch([], list, new Map());
  };

  /** Applies a finished write of the pending page; false when the page must be read again. */
  const settle = async (result: WriteResult | undefined): Promise<boolean> => {
    const pending = state!.pending!;
    state!.pending = undefined;
    if (result === undefined) {
      await save();
      return false;
    }
    const counts = {
      ...pending.counts,
      accepted: pending.counts.accepted + result.written,
      rejected: pending.counts.rejected + result.rejected.length,
    };
    await deadLetter(
      result.rejected.map((r) => {
        const recordId = pending.recordIds[r.index] ?? '';
        return {
          idempotencyKey: backfillKey(plan.route.name, recordId, -1, r.index),
          channel: plan.route.channel,
          replayId: `backfill:${state!.jobId}`,
          route: plan.route.name,
          recordId,
          contactKey: recordId,
          correlationId: `backfill:${state!.jobId}:${recordId}`,
          code: Code.MC_ROW_REJECTED,
          reason: `backfill of data extension ${target.type === 'dataExtension' ? target.key : ''}: Marketing Cloud rejected row ${recordId}: ${r.code}: ${r.message}`,
          source: null,
        };
      }),
    );
    add(state!, counts);
    state!.locator = pending.next ?? 'done';
    await save();
    progress();
    return true;
  };

  if (state.pending) await settle(await writer!.finish(state.pending.write));
  while (state.locator !== 'done') {
    if (deps.signal?.aborted) return summary('interrupted');
    const page = await deps.source.page(state.jobId, state.locator, pageSize);
    const counts: BackfillCounts = { read: page.records.length, accepted: 0, rejected: 0, skipped: 0, pages: 1 };
    const dead: NewDeadLetter[] = [];
    const rows: DataExtensionRowPayload[] = [];
    const sends: { key: string; mapped: Extract<ReturnType<typeof mapRecord>, { kind: 'actions' }> }[] = [];
    const now = Date.now();
    for (const record of page.records) {
      const m = mapRecord(plan, state.jobId, record, now);
      if (m.kind === 'dead') dead.push(m.deadLetter);
      else if (isRows) for (const a of m.actions) rows.push(a.payload as DataExtensionRowPayload);
      else sends.push({ key: backfillKey(plan.route.name, m.recordId, m.version), mapped: m });
    }
    counts.rejected += dead.length;
    await deadLetter(dead);
    if (deps.dryRun) {
      counts.accepted += isRows ? rows.length : sends.reduce((n, s) => n + s.mapped.actions.length, 0);
      add(state, counts);
      state.locator = page.next ?? 'done';
      progress();
      continue;
    }
    if (!isRows) {
      const r = await deliverSends(plan.route, deps.targets ?? {}, sends, deps.pollMs ?? 1000);
      counts.accepted += r.delivered;
      counts.rejected += r.dead.length;
      await deadLetter(r.dead);
      add(state, counts);
      state.locator = page.next ?? 'done';
      await save();
      progress();
      continue;
    }
    // Newest wins: a row the live stream wrote later than this record's version is left alone.
    const won = await store.claimRowVersions(rows.map((p) => ({ table: tableOf(p), rowKey: rowKeyOf(p), version: p.version, seq: 0 })));
    const winners = rows.filter((_, i) => won[i]);
    counts.skipped += rows.length - winners.length;
    if (winners.length === 0) {
      add(state, counts);
      state.locator = page.next ?? 'done';
      await save();
      progress();
      continue;
    }
    const keep = async (write: PendingWrite) => {
      state!.pending = { write, next: page.next, recordIds: winners.map((p) => p.contactKey), counts };
      await save();
    };
    const items = winners.map((p) => p.row);
    try {
      const pending = via === 'ingest' ? await writer!.startIngest(items, keep) : await writer!.startAsync(items, keep);
      await settle(await writer!.finish(pending));
      await repairOvertaken(winners);
    } catch (err) {
      throw new TransientError(
        Code.BACKFILL_WRITE_FAILED,
        `backfill of route "${plan.route.name}" could not write page ${state.pages + 1}: ${(err as Error).message}; run the same command again to resume`,
        { cause: err },
      );
    }
  }
  if (!deps.dryRun) await store.saveJobState(name, undefined);
  return summary(deps.dryRun ? 'dry-run' : 'completed');

  /**
   * A live change claimed a newer version of some rows while this page was being written: its
   * row may have been written before the page's older copy. Those rows are read again from
   * Salesforce and rewritten with what the record holds now, which is at least as new as that
   * change (claimed as the newest of its version, so the change, if still unsent, is superseded).
   */
  async function repairOvertaken(written: readonly DataExtensionRowPayload[]): Promise<void> {
    const again = await store.claimRowVersions(written.map((p) => ({ table: tableOf(p), rowKey: rowKeyOf(p), version: p.version, seq: 0 })));
    const overtaken = written.filter((_, i) => !again[i]).map((p) => p.contactKey);
    if (overtaken.length === 0) return;
    const rows: DataExtensionRowPayload[] = [];
    for (const record of await deps.source.current(plan.entity, plan.fields, overtaken)) {
      const m = mapRecord(plan, state!.jobId, record, Date.now());
      if (m.kind === 'actions') for (const a of m.actions) rows.push(a.payload as DataExtensionRowPayload);
    }
    const won = await store.claimRowVersions(
      rows.map((p) => ({ table: tableOf(p), rowKey: rowKeyOf(p), version: p.version, seq: Number.MAX_SAFE_INTEGER })),
    );
    const current = rows.filter((_, i) => won[i]);
    if (current.length === 0) return;
    await writer!.finish(
      await writer!.startAsync(
        current.map((p) => p.row),
        async () => undefined,
      ),
    );
    state!.repaired = (state!.repaired ?? 0) + current.length;
    await save();
  }

  function summary(status: BackfillSummary['status']): BackfillSummary {
    const s = state!;
    return {
      status,
      route: plan.route.name,
      soql: s.soql,
      jobId: s.jobId,
      total: s.total,
      via,
      resumed,
      elapsedMs: Date.now() - started,
      reasons,
      read: s.read,
      accepted: s.accepted,
      rejected: s.rejected,
      skipped: s.skipped,
      pages: s.pages,
      repaired: s.repaired ?? 0,
    };
  }
}

/** Delivers a send route's actions through its target; transient failures are tried three times. */
async function deliverSends(
  route: { name: string; channel: string },
  targets: Partial<Record<string, Target>>,
  sends: { key: string; mapped: { recordId: string; actions: { target: string; mode: 'batch' | 'single'; payload: unknown }[]; event: unknown } }[],
  pollMs: number,
): Promise<{ delivered: number; dead: NewDeadLetter[] }> {
  let delivered = 0;
  const dead: NewDeadLetter[] = [];
  let id = 0;
  const items = sends.flatMap((s) => s.mapped.actions.map((a, i) => ({ id: ++id, key: `${s.key}:${i}`, action: a, send: s })));
  let due = items;
  for (let attempt = 1; due.length > 0; attempt++) {
    const byTarget = new Map<string, typeof items>();
    for (const it of due) byTarget.set(it.action.target, [...(byTarget.get(it.action.target) ?? []), it]);
    const again: typeof items = [];
    for (const [name, list] of byTarget) {
      const target = targets[name];
      const outcomes = target
        ? await target.deliver(
            list.map((it) => ({ id: it.id, idempotencyKey: it.key.slice(0, 100), payload: it.action.payload as never, mode: it.action.mode })),
          )
        : [];
      for (const it of list) {
        const o = outcomes.find((x) => x.id === it.id);
        if (o?.status === 'delivered') delivered++;
        else if (o?.status === 'retry' && attempt < 3) again.push(it);
        else {
          const reason = o && (o.status === 'retry' || o.status === 'dead') ? o.error.message : `no ${name} target is configured`;
          dead.push({
            idempotencyKey: it.key,
            channel: route.channel,
            replayId: 'backfill',
            route: route.name,
            recordId: it.send.mapped.recordId,
            contactKey: it.send.mapped.recordId,
            correlationId: `backfill:${it.key}`,
            code: Code.BACKFILL_WRITE_FAILED,
            reason,
            source: it.send.mapped.event,
          });
        }
      }
    }
    due = again;
    if (due.length > 0) await sleep(pollMs * attempt);
  }
  return { delivered, dead };
}
