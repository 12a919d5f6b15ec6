/**
 * The feedback publisher: takes delivery status events from the status outbox (written with
 * each settlement, so a crash loses none) and publishes them to Salesforce as
 * `MC_Delivery_Status__e`, up to 200 per sObject collections call with `allOrNone: false`, one
 * result per record. Its own loop, its own connections: it never holds up a delivery.
 *
 * What Salesforce answers decides what happens to each status: taken → deleted from the
 * outbox; LIMIT_EXCEEDED (the org's hourly publishing allocation) → kept, publishing pauses
 * for `limitPauseMs` with an alert line; PLATFORM_EVENT_PUBLISHING_UNAVAILABLE, a 5xx or a
 * network failure → kept, tried again after the one backoff (src/core/backoff.ts); any other
 * per-record error → kept out of the queue with the reason (sending it again cannot help). A
 * refused call as a whole (no access, the event not deployed, the API limit) pauses too.
 */
import { request, type Dispatcher } from 'undici';
import { backoffDelay, retryAfterMs, STORE_ROUND_BACKOFF } from '../../core/backoff.ts';
import type { FeedbackStore, PendingStatus } from '../../outbox/contract.ts';
import type { FeedbackTelemetry } from '../../telemetry/feedback.ts';
import type { StoreTelemetry } from '../../telemetry/store.ts';
import { STATUS_EVENT } from './status-event.ts';

/** Publisher options. */
export interface FeedbackPublisherOptions {
  store: FeedbackStore;
  instanceUrl: string;
  apiVersion: string;
  /** The session's token source (`fresh` after a 401, naming the refused token). */
  getAccessToken(fresh: boolean, rejected?: string): Promise<string>;
  telemetry: FeedbackTelemetry;
  /** Told of a round the status outbox failed (`store_failed`, loop `feedback`). */
  storeTelemetry: StoreTelemetry;
  /** Statuses per call (≤ 200). @default 200 */
  batchSize?: number;
  /**
   * How long statuses gather before a call when fewer than a full batch wait: few large calls
   * instead of many small ones (each counts against the org's API). @default 1000
   */
  lingerMs?: number;
  /** Pause after LIMIT_EXCEEDED or a refused call. @default 300000 */
  limitPauseMs?: number;
  /** Backoff after a failed call. @default {baseMs: 1000, capMs: 60000} */
  retry?: { baseMs: number; capMs: number };
  /** HTTP dispatcher (tests). @default undici's global one */
  dispatcher?: Dispatcher;
}

interface SaveResult {
  success?: unknown;
  errors?: { statusCode?: unknown; message?: unknown }[];
}

/** What one round did: `full`, a full batch published (more may wait); `published`, a partial one. */
export type RoundOutcome = 'idle' | 'published' | 'full' | 'failed' | 'paused';

// A claim outlives any call: a publisher that died mid-call lets another take its statuses.
const LEASE_MS = 120_000;
const TIMEOUT_MS = 30_000;

/** Publishes the status outbox to Salesforce until stopped. */
export class FeedbackPublisher {
  readonly #o: FeedbackPublisherOptions;
  readonly #batchSize: number;
  readonly #linger: number;
  #pausedUntil = 0;
  #wasPaused = false;
  #failures = 0;
  /** Rounds failed by the store in a row. */
  #storeFailures = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopSleep: (() => void) | undefined;

  constructor(opts: FeedbackPublisherOptions) {
    this.#o = opts;
    this.#batchSize = Math.min(200, Math.max(1, opts.batchSize ?? 200));
    this.#linger = Math.max(1, opts.lingerMs ?? 1000);
  }

  /** Until when publishing is paused (ms since epoch; 0 when it is not). */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** Starts the loop. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Finishes the call in flight, publishes what is waiting, and stops. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stopSleep?.();
    await this.#loop;
    // A clean stop publishes what the last deliveries settled rather than leave it for the next
    // start; a pause, a failure or an empty outbox ends it (what is left waits in the outbox).
    for (;;) {
      const outcome = await this.round().catch(() => 'failed' as const);
      if (outcome !== 'full' && outcome !== 'published') break;
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let outcome: RoundOutcome;
      let storeWait: number | undefined;
      try {
        outcome = await this.round();
        this.#storeFailures = 0;
      } catch (err) {
        // Only the store throws here (Salesforce's answers are outcomes): wait, longer while it
        // keeps failing, and look again. What was claimed comes back when its lease ends.
        this.#storeFailures++;
        storeWait = backoffDelay(this.#storeFailures, STORE_ROUND_BACKOFF);
        this.#o.storeTelemetry.failed('feedback', err, this.#storeFailures, storeWait);
        outcome = 'failed';
      }
      if (outcome === 'full') continue; // more may be waiting: no linger
      const now = Date.now();
      const delay = storeWait ?? (this.#pausedUntil > now ? this.#pausedUntil - now : this.#linger);
      await new Promise<void>((resolve) => {
        this.#stopSleep = resolve;
        this.#timer = setTimeout(resolve, delay);
      });
      this.#stopSleep = undefined;
    }
  }

  /** One claim-publish-settle round. */
  async round(): Promise<RoundOutcome> {
    const now = Date.now();
    if (this.#pausedUntil > now) return 'paused';
    const rows = await this.#o.store.claimStatuses(this.#batchSize, now, LEASE_MS);
    if (rows.length === 0) return 'idle';
    let answer: { status: number; body: unknown; retryAfter?: number };
    try {
      answer = await this.#call(rows);
    } catch (err) {
      return this.#failed(rows, `network: ${(err as Error)?.message ?? String(err)}`);
    }
    if (answer.status >= 500 || answer.status === 429)
      return this.#failed(rows, `Salesforce answered ${answer.status}${errorText(answer.body)}`, answer.retryAfter);
    if (answer.status !== 200 || !Array.isArray(answer.body)) {
      // The call as a whole was refused: no access, no such event, the API's own limit. Sending
      // it again at once cannot help; the statuses wait.
      return this.#pause(
        rows,
        `Salesforce refused the publish call (${answer.status}${errorText(answer.body)}); check that force-app is deployed (${STATUS_EVENT}) and the integration user may create it`,
      );
    }
    const results = answer.body as SaveResult[];
    const published: number[] = [];
    const refused: { id: number; reason: string }[] = [];
    const again: number[] = [];
    let limited = false;
    let unavailable = false;
    rows.forEach((row, i) => {
      const r = results[i];
      if (r?.success === true) return void published.push(row.id);
      const code = String(r?.errors?.[0]?.statusCode ?? 'NO_RESULT');
      if (code === 'LIMIT_EXCEEDED') limited = true;
      else if (code === 'PLATFORM_EVENT_PUBLISHING_UNAVAILABLE' || code === 'NO_RESULT') unavailable = true;
      else {
        const reason = `${code}: ${String(r?.errors?.[0]?.message ?? '')}`.slice(0, 500);
        refused.push({ id: row.id, reason });
        this.#o.telemetry.refused(String(row.fields.Status_Key__c ?? row.id), reason);
        return;
      }
      again.push(row.id);
    });
    await this.#o.store.settleStatuses(published, refused, Date.now());
    if (published.length > 0) {
      this.#o.telemetry.published(published.length);
      if (this.#wasPaused) {
        this.#wasPaused = false;
        this.#o.telemetry.resumed();
      }
    }
    if (limited)
      return this.#pause(
        rows.filter((r) => again.includes(r.id)),
        "LIMIT_EXCEEDED: the org's hourly platform event publishing allocation is used up",
      );
    if (unavailable)
      return this.#failed(
        rows.filter((r) => again.includes(r.id)),
        'PLATFORM_EVENT_PUBLISHING_UNAVAILABLE',
      );
    this.#failures = 0;
    return rows.length >= this.#batchSize ? 'full' : 'published';
  }

  async #failed(rows: readonly PendingStatus[], reason: string, advisedMs?: number): Promise<RoundOutcome> {
    await this.#o.store.releaseStatuses(rows.map((r) => r.id));
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.#o.retry ?? { baseMs: 1000, capMs: 60_000 }, advisedMs);
    this.#pausedUntil = Date.now() + delay;
    this.#o.telemetry.callFailed(reason, delay, rows.length);
    return 'failed';
  }

  async #pause(rows: readonly PendingStatus[], reason: string): Promise<RoundOutcome> {
    await this.#o.store.releaseStatuses(rows.map((r) => r.id));
    const pauseMs = this.#o.limitPauseMs ?? 300_000;
    this.#pausedUntil = Date.now() + pauseMs;
    this.#wasPaused = true;
    this.#o.telemetry.paused(reason, pauseMs);
    return 'paused';
  }

  /** One sObject collections call, with one fresh token after a 401. */
  async #call(rows: readonly PendingStatus[]): Promise<{ status: number; body: unknown; retryAfter?: number }> {
    const url = `${this.#o.instanceUrl.replace(/\/$/, '')}/services/data/v${this.#o.apiVersion}/composite/sobjects`;
    const text = JSON.stringify({ allOrNone: false, records: rows.map((r) => ({ attributes: { type: STATUS_EVENT }, ...r.fields })) });
    let token = await this.#o.getAccessToken(false);
    for (let attempt = 0; ; attempt++) {
      this.#o.telemetry.call();
      const res = await request(url, {
        method: 'POST',
        body: text,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        ...(this.#o.dispatcher ? { dispatcher: this.#o.dispatcher } : {}),
      });
      const raw = await res.body.text();
      let body: unknown;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = raw.slice(0, 200);
      }
      if (res.statusCode === 401 && attempt === 0) {
        token = await this.#o.getAccessToken(true, token);
        continue;
      }
      const advised = retryAfterMs(res.headers['retry-after']);
      return advised === undefined ? { status: res.statusCode, body } : { status: res.statusCode, body, retryAfter: advised };
    }
  }
}

/** `: CODE message` from Salesforce's error array, for a log line. */
function errorText(body: unknown): string {
  const first = Array.isArray(body) ? (body[0] as { errorCode?: unknown; message?: unknown } | undefined) : undefined;
  return first ? `: ${String(first.errorCode ?? '')} ${String(first.message ?? '')}`.slice(0, 300) : '';
}
