/**
 * A target that asks the target probe before it sends: an action bound for a definition the
 * probe found missing, inactive or misnamed goes to the dead-letter queue with the probe's
 * reason (and can be retried from there once the definition is fixed) instead of collecting
 * Marketing Cloud's unhelpful 400, or, for an inactive transactional definition, being held
 * for three days without a word. A key never seen before is looked up once, then cached.
 */
import { PermanentError } from '../core/errors.ts';
import type { ActionPayload, ActionTarget } from '../core/model.ts';
import { isBroken } from './mc/definitions.ts';
import { subjectOfAction, type ProbeVerdict, type TargetProbe } from './target-probe.ts';
import type { DeliveryItem, DeliveryOutcome, Target } from './target.ts';

/** Error codes of actions refused by the probe, by the definition's state. */
export const PROBE_CODES = {
  missing: 'MC_DEFINITION_MISSING',
  inactive: 'MC_DEFINITION_INACTIVE',
  misnamed: 'MC_DEFINITION_MISNAMED',
} as const;

/** Wraps `inner` so that sends to a broken definition are refused with the probe's reason. */
export function guardTarget(type: ActionTarget | string, inner: Target, probe: TargetProbe): Target {
  return {
    async deliver(items) {
      // Each item's verdict, worked out once per definition: a round's items mostly share one,
      // so an item whose definition is the previous item's reuses its verdict without a look-up.
      const verdicts = new Map<string, ProbeVerdict | undefined>();
      const broken: (ProbeVerdict | undefined)[] = [];
      let lastKey: string | undefined;
      let lastMid: string | undefined;
      let last: ProbeVerdict | undefined;
      for (const item of items) {
        const subject = subjectOfAction(type, item.payload as ActionPayload);
        if (!subject) {
          broken.push(undefined);
          continue;
        }
        if (subject.key !== lastKey || subject.mid !== lastMid) {
          const k = `${subject.mid ?? ''}\u0000${subject.key}`;
          if (!verdicts.has(k)) verdicts.set(k, probe.cached(subject) ?? (await probe.verdictFor(subject)));
          last = verdicts.get(k);
          lastKey = subject.key;
          lastMid = subject.mid;
        }
        broken.push(last && isBroken(last.state) ? last : undefined);
      }
      if (!broken.some((v) => v !== undefined)) return inner.deliver(items);
      const refused = new Map<number, DeliveryOutcome>();
      const pass: DeliveryItem[] = [];
      items.forEach((item, i) => {
        const v = broken[i];
        if (v) {
          const code = PROBE_CODES[v.state as keyof typeof PROBE_CODES];
          refused.set(item.id, { id: item.id, status: 'dead', error: new PermanentError(code, `not sent: ${v.detail}`) });
        } else {
          pass.push(item);
        }
      });
      const delivered = pass.length > 0 ? await inner.deliver(pass) : [];
      const byId = new Map(delivered.map((o) => [o.id, o]));
      return items.map((i) => refused.get(i.id) ?? byId.get(i.id)!);
    },
  };
}
