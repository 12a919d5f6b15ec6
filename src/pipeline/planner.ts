/**
 * The pure middle of the pipeline: a received batch of raw messages in, actions and dead
 * letters out (normalize, then route and map). The pipeline commits both with the batch's
 * checkpoints in one store transaction, so this must never throw and never drop an event: a
 * message that cannot be handled, for any reason, comes out as a dead letter.
 */
import type { NewAction, NewDeadLetter, NormalizedEvent, RawEvent } from '../core/model.ts';
import { normalizeInto } from '../normalize/events.ts';
import { compileRoutes } from '../route/routes.ts';
import { correlationIdOf, idempotencyKey, NORMALIZE_ROUTE, sourceTimeOf } from '../normalize/idempotency.ts';
import { isChangeChannel } from '../config/checks.ts';
import type { BridgeConfig, ChannelConfig } from '../config/schema.ts';
import type { MapperRegistry } from '../route/mapper-loader.ts';
import { Code } from '../core/errors.ts';

/** What one batch became. */
export interface PlannedBatch {
  actions: NewAction[];
  deadLetters: NewDeadLetter[];
}

/** The synchronous planner `createPlanner` builds (no Salesforce calls). */
export type SyncPlanner = (batch: readonly RawEvent[]) => PlannedBatch;

/** A batch planner, as the pipeline calls it (the enriching one is asynchronous). */
export type Planner = (batch: readonly RawEvent[], stage?: PlanCommits) => PlannedBatch | Promise<PlannedBatch>;

/** What the pipeline lends a planner that may produce more than fits one transaction. */
export interface PlanCommits {
  /**
   * Commits actions that do not depend on the batch's checkpoint (a resync's pages), before
   * the batch itself; their keys are deterministic, so a replay after a crash is refused.
   */
  commitExtra(actions: NewAction[], deadLetters: NewDeadLetter[]): Promise<void>;
}

/** A dead letter for a raw message that produced no event (before any route was chosen). */
export function rawDeadLetter(raw: RawEvent, code: string, reason: string): NewDeadLetter {
  const source = {
    channel: raw.channel,
    replayId: raw.replayId,
    kind: isChangeChannel(raw.channel) ? ('change' as const) : ('platform' as const),
    recordId: '',
    commitTimestamp: sourceTimeOf(raw.data),
  };
  return {
    idempotencyKey: idempotencyKey(source, NORMALIZE_ROUTE),
    channel: raw.channel,
    replayId: raw.replayId,
    route: NORMALIZE_ROUTE,
    recordId: '',
    contactKey: '',
    correlationId: correlationIdOf(raw.channel, raw.replayId, ''),
    code,
    reason,
    source: raw,
  };
}

/**
 * Builds the batch planner for `config` with loaded `mappers`.
 * @throws ConfigError when a route's mapper is not loaded (at build time, never per batch).
 */
export function createPlanner(config: Pick<BridgeConfig, 'channels' | 'routes'>, mappers: MapperRegistry): SyncPlanner {
  const channels = new Map<string, ChannelConfig>(config.channels.map((c) => [c.name, c]));
  const router = compileRoutes(config, mappers);
  // Scratch, reused: the planner is synchronous. Each message's events are appended after the
  // last message's and the list is emptied once per batch: emptying it (length 0) drops its
  // backing store, which the next push would allocate again, per message.
  const events: NormalizedEvent[] = [];

  return (batch) => {
    const actions: NewAction[] = [];
    const deadLetters: NewDeadLetter[] = [];
    for (let b = 0; b < batch.length; b++) {
      const raw = batch[b]!;
      const channel = channels.get(raw.channel);
      if (channel === undefined) {
        deadLetters.push(rawDeadLetter(raw, Code.UNKNOWN_CHANNEL, `channel ${JSON.stringify(raw.channel)} is not declared in the config`));
        continue;
      }
      const eventsFrom = events.length;
      const actionsBefore = actions.length;
      const deadBefore = deadLetters.length;
      try {
        normalizeInto(raw, channel, events, deadLetters);
        for (let e = eventsFrom; e < events.length; e++) router.routeInto(events[e]!, actions, deadLetters);
      } catch (err) {
        // All or nothing per message, so a retry of the dead letter cannot duplicate actions.
        actions.length = actionsBefore;
        deadLetters.length = deadBefore;
        deadLetters.push(rawDeadLetter(raw, Code.PLAN_FAILED, `planning failed: ${(err as Error)?.message ?? String(err)}`));
      }
    }
    events.length = 0;
    return { actions, deadLetters };
  };
}
