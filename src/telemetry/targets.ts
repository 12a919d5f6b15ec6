/**
 * The typed events of the target probe (src/delivery/target-probe.ts: a definition found
 * missing, inactive or misnamed, one usable again, a scope the token lacks) and of contact
 * deletion (targets/contact-delete.ts, deletion-status.ts: dry run, hourly cap, accepted,
 * settled). Each is one log line naming the cause, and one call to the listeners (metrics,
 * feedback), like the pipeline's events in telemetry.ts.
 */
import type { Logger } from 'pino';
import type { TelemetryListener } from './telemetry.ts';

/** What the probe says about one definition (src/delivery/target-probe.ts fills it). */
export interface TargetVerdict {
  kind: string;
  key: string;
  state: string;
  detail: string;
  configKey: string;
  mid?: string | undefined;
}

/** A scope the token lacks, with the config key of the first route that needs it. */
export interface ScopeGap {
  scope: string;
  configKey: string;
  granted: string;
}

/** Logs and counts what the target probe finds. */
export class TargetTelemetry {
  readonly counters = {
    problems: 0,
    recoveries: 0,
    missingScopes: 0,
    deletionsAccepted: 0,
    deletionsCapped: 0,
    deletionsDryRun: 0,
    deletionOperationsSettled: 0,
  };
  readonly #log: Logger;
  readonly #listeners: () => readonly TelemetryListener[];

  constructor(logger: Logger, listeners: () => readonly TelemetryListener[]) {
    this.#log = logger;
    this.#listeners = listeners;
  }

  /** A definition a route sends to will refuse or hold what is sent to it. */
  problem(v: TargetVerdict): void {
    this.counters.problems++;
    this.#log.error(
      { event: 'target_problem', kind: v.kind, key: v.key, state: v.state, configKey: v.configKey, mid: v.mid },
      `Marketing Cloud target unusable: ${v.detail}; sends to it are dead-lettered with this reason until it is fixed`,
    );
    for (const l of this.#listeners()) l.targetProblem?.(v.kind, v.state, v);
  }

  /** A definition reported unusable is usable again. */
  recovered(v: TargetVerdict): void {
    this.counters.recoveries++;
    this.#log.info(
      { event: 'target_recovered', kind: v.kind, key: v.key, configKey: v.configKey },
      `Marketing Cloud target usable again: ${v.detail}`,
    );
    for (const l of this.#listeners()) l.targetProblem?.(v.kind, 'recovered', v);
  }

  /** The token lacks a scope a route needs. */
  missingScope(m: ScopeGap): void {
    this.counters.missingScopes++;
    this.#log.error(
      { event: 'target_scope_missing', scope: m.scope, configKey: m.configKey, granted: m.granted },
      `the Marketing Cloud token lacks scope ${m.scope}, which ${m.configKey} needs: add it to the installed package's API integration component`,
    );
    for (const l of this.#listeners()) l.targetProblem?.('scope', 'missing');
  }

  /** Dry run: what a contactDelete route would have deleted. */
  wouldDelete(contactKeys: readonly string[]): void {
    this.counters.deletionsDryRun += contactKeys.length;
    this.#log.warn(
      { event: 'contact_delete_dry_run', count: contactKeys.length, contactKeys },
      `dry run: would delete ${contactKeys.length} contact(s) from Marketing Cloud; nothing sent (dead-lettered as CONTACT_DELETE_DRY_RUN)`,
    );
    for (const l of this.#listeners()) l.contactDeletion?.('dry_run', contactKeys.length);
  }

  /** The hourly cap held deletions back: the alert line. */
  capped(contactKeys: readonly string[], usedThisHour: number, cap: number): void {
    this.counters.deletionsCapped += contactKeys.length;
    this.#log.error(
      { event: 'contact_delete_capped', count: contactKeys.length, usedThisHour, cap, contactKeys },
      `contact deletions paused: ${usedThisHour} deleted in the last hour reached dispatcher.deletes.maxPerHour (${cap}); ${contactKeys.length} more not sent but dead-lettered as CONTACT_DELETE_CAPPED. A mass delete is often a mistake: review, then \`sfmc-bridge dlq retry\``,
    );
    for (const l of this.#listeners()) l.contactDeletion?.('capped', contactKeys.length);
  }

  /** Marketing Cloud accepted a deletion operation. */
  accepted(operationId: string, contactKeys: readonly string[], mid: string | undefined): void {
    this.counters.deletionsAccepted += contactKeys.length;
    this.#log.info(
      { event: 'contact_delete_accepted', operationId, mid, count: contactKeys.length, contactKeys },
      `Marketing Cloud accepted the deletion of ${contactKeys.length} contact(s), operation ${operationId} (it completes later, often in hours)`,
    );
    for (const l of this.#listeners()) l.contactDeletion?.('accepted', contactKeys.length);
  }

  /** A deletion operation finished in Marketing Cloud. */
  settled(operationId: string, status: string, contacts: number): void {
    this.counters.deletionOperationsSettled++;
    const ok = status.toLowerCase().startsWith('complete');
    const line = { event: 'contact_delete_settled', operationId, status, count: contacts };
    if (ok) this.#log.info(line, `deletion operation ${operationId} ${status}: ${contacts} contact(s) deleted from Marketing Cloud`);
    else
      this.#log.error(
        line,
        `deletion operation ${operationId} ended ${status}: check Contact Delete in Marketing Cloud (Setup → Contact Delete) for operation ${operationId}`,
      );
    for (const l of this.#listeners()) l.contactDeletion?.(ok ? 'completed' : 'failed', contacts);
  }

  /** A status call about a deletion failed; it is asked again next round. */
  pollFailed(operationId: string, reason: string): void {
    this.#log.warn(
      { event: 'contact_delete_status_failed', operationId, reason },
      `could not read the status of deletion operation ${operationId}: ${reason}`,
    );
  }
}
