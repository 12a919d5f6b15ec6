/**
 * The feedback publisher's typed events (src/delivery/feedback/publisher.ts): statuses published,
 * refused for good, a publish call that failed and will be tried again, a pause for the
 * org's hourly platform event allocation (the alert line) and the end of it. Each logs one
 * line and counts, and the listeners (metrics) hear the same.
 */
import type { Logger } from 'pino';
import type { TelemetryListener } from './telemetry.ts';

/** Logs and counts what the feedback publisher does. */
export class FeedbackTelemetry {
  readonly counters = { published: 0, refused: 0, calls: 0, failedCalls: 0, pauses: 0 };
  readonly #log: Logger;
  readonly #listeners: () => readonly TelemetryListener[];

  constructor(logger: Logger, listeners: () => readonly TelemetryListener[]) {
    this.#log = logger;
    this.#listeners = listeners;
  }

  /** One sObject collections call went to Salesforce. */
  call(): void {
    this.counters.calls++;
    for (const l of this.#listeners()) l.feedback?.('call', 1);
  }

  /** Salesforce took `n` status events. */
  published(n: number): void {
    this.counters.published += n;
    this.#log.debug({ event: 'feedback_published', count: n }, 'delivery statuses published');
    for (const l of this.#listeners()) l.feedback?.('published', n);
  }

  /** Salesforce refused one status event for good (a field it does not take, the event missing). */
  refused(statusKey: string, reason: string): void {
    this.counters.refused++;
    this.#log.error(
      { event: 'feedback_refused', statusKey, reason },
      `Salesforce refused a delivery status event: ${reason}; it is kept in the status outbox, not sent again`,
    );
    for (const l of this.#listeners()) l.feedback?.('refused', 1);
  }

  /** A publish call failed; the statuses wait and the call is made again after `delayMs`. */
  callFailed(reason: string, delayMs: number, waiting: number): void {
    this.counters.failedCalls++;
    this.#log.warn(
      { event: 'feedback_publish_failed', reason, delayMs, waiting },
      `publishing delivery statuses failed: ${reason}; trying again in ${delayMs} ms`,
    );
    for (const l of this.#listeners()) l.feedback?.('call_failed', 1);
  }

  /** Salesforce refused for its publishing allocation (or a limit or setup problem): paused. The alert line. */
  paused(reason: string, pauseMs: number): void {
    this.counters.pauses++;
    this.#log.error(
      { event: 'feedback_paused', reason, pauseMs },
      `delivery status publishing paused for ${Math.round(pauseMs / 1000)} s: ${reason}. Deliveries go on; statuses wait in the outbox and are published after the pause`,
    );
    for (const l of this.#listeners()) l.feedback?.('paused', 1);
  }

  /** The first successful publish after a pause. */
  resumed(): void {
    this.#log.info({ event: 'feedback_resumed' }, 'delivery status publishing resumed');
    for (const l of this.#listeners()) l.feedback?.('resumed', 1);
  }
}
