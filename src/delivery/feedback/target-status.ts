/**
 * Target problems as status events: with feedback on, a definition the target probe finds
 * missing, inactive or misnamed is, besides its error line and metric, a "Target Problem"
 * status for each feedback route that sends to it, so a Flow can tell an admin before the first
 * send to it is refused. Wraps the telemetry the probe reports to; everything else passes through.
 */
import type { FeedbackStore } from '../../outbox/contract.ts';
import type { TargetTelemetry } from '../../telemetry/targets.ts';
import type { ProbeVerdict } from '../target-probe.ts';
import { statusEventOfTarget } from './status-event.ts';

/** The part of a route this needs. */
interface FeedbackRoute {
  name: string;
  feedback: boolean;
  target: { type: string; eventDefinitionKey?: string | undefined; definitionKey?: string | undefined };
}

const KIND_OF_TYPE: Readonly<Record<string, string>> = {
  journey: 'eventDefinition',
  transactional: 'sendDefinition',
  triggeredSend: 'triggeredSendDefinition',
};

/** The feedback routes a verdict is about: those naming its key, or (a key from an event) those of its kind without a key of their own. */
export function routesConcerned(routes: readonly FeedbackRoute[], v: Pick<ProbeVerdict, 'kind' | 'key'>): string[] {
  return routes
    .filter((r) => r.feedback && KIND_OF_TYPE[r.target.type] === v.kind)
    .filter((r) => (r.target.eventDefinitionKey ?? r.target.definitionKey) === v.key)
    .map((r) => r.name);
}

/** The probe's events, with a status stored for each feedback route a problem concerns. */
export function withTargetStatuses(t: TargetTelemetry, routes: readonly FeedbackRoute[], store: Pick<FeedbackStore, 'addStatus'>) {
  return {
    problem(v: ProbeVerdict): void {
      t.problem(v);
      const now = Date.now();
      for (const route of routesConcerned(routes, v)) {
        // Best effort: a store that cannot take it now loses only this notice; the log line stands.
        store.addStatus(statusEventOfTarget(route, v, now), now).catch(() => undefined);
      }
    },
    recovered: (v: ProbeVerdict) => t.recovered(v),
    missingScope: (m: Parameters<TargetTelemetry['missingScope']>[0]) => t.missingScope(m),
    wouldDelete: (keys: readonly string[]) => t.wouldDelete(keys),
    capped: (keys: readonly string[], used: number, cap: number) => t.capped(keys, used, cap),
    accepted: (op: string, keys: readonly string[], mid: string | undefined) => t.accepted(op, keys, mid),
    settled: (op: string, status: string, n: number) => t.settled(op, status, n),
    pollFailed: (op: string, reason: string) => t.pollFailed(op, reason),
  };
}
