/**
 * The target probe's typed events (see src/delivery/target-probe.ts): a definition found
 * missing, inactive or misnamed, one usable again, a scope the token lacks. Each is one log
 * line naming the config key and the cause, and one call to the listeners (metrics, feedback),
 * like the pipeline's events in telemetry.ts.
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
  readonly counters = { problems: 0, recoveries: 0, missingScopes: 0 };
  readonly #log: Logger;
  readonly #listeners: () => readonly TelemetryListener[];

  constructor(logger: Logger, listeners: () => readonly TelemetryListener[]) {
    this.#log = logger;
    this.#listeners = listeners;
  }

  /** A definition a route sends to will refuse or hold what is sent to it. */
  problem(v: TargetVerdict): void {
    this.counters.problems++;
    this.#log.error({ event: 'target_problem', kind: v.kind, key: v.key, state: v.state, configKey: v.configKey, mid: v.mid }, `Marketing Cloud target unusable: ${v.detail}; sends to it are dead-lettered with this reason until it is fixed`);
    for (const l of this.#listeners()) l.targetProblem?.(v.kind, v.state, v);
  }

  /** A definition reported unusable is usable again. */
  recovered(v: TargetVerdict): void {
    this.counters.recoveries++;
    this.#log.info({ event: 'target_recovered', kind: v.kind, key: v.key, configKey: v.configKey }, `Marketing Cloud target usable again: ${v.detail}`);
    for (const l of this.#listeners()) l.targetProblem?.(v.kind, 'recovered', v);
  }

  /** The token lacks a scope a route needs. */
  missingScope(m: ScopeGap): void {
    this.counters.missingScopes++;
    this.#log.error({ event: 'target_scope_missing', scope: m.scope, configKey: m.configKey, granted: m.granted }, `the Marketing Cloud token lacks scope ${m.scope}, which ${m.configKey} needs: add it to the installed package's API integration component`);
    for (const l of this.#listeners()) l.targetProblem?.('scope', 'missing');
  }
}
