/**
 * The dispatcher's target table, built from the config: one client set per target (its own
 * connections and concurrency), one token per business unit MID shared by all of them, one
 * circuit breaker per host, and the retry policy. Adding a target (SMS, push) is a line here.
 */
import type { BridgeConfig } from '../config/schema.ts';
import type { ActionTarget } from '../core/model.ts';
import { BreakerRegistry } from './breaker.ts';
import { createJourneyTarget } from './targets/journey.ts';
import { createDataExtensionTarget, type RowVersionGuard } from './targets/data-extension.ts';
import { sharedTokenManager } from './mc/auth.ts';
import { McClients } from './mc/clients.ts';
import { RetryPolicy } from './retry.ts';
import type { Target } from './target.ts';
import { guardTarget } from './probe-guard.ts';
import { TargetProbe, type ProbeEvents } from './target-probe.ts';
import { createContactDeleteTarget, type ContactDeleteEvents } from './targets/contact-delete.ts';
import { DeletionFollower, type DeletionStatusEvents } from './deletion-status.ts';
import { createTransactionalTarget } from './targets/transactional.ts';
import { createTriggeredSendTarget } from './targets/triggered-send.ts';

/** What the service hands the dispatcher. */
export interface TargetTable {
  targets: Record<ActionTarget, Target>;
  /** Actions per chunk handed to each target. */
  batchSizes: Record<ActionTarget, number>;
  retry: RetryPolicy;
  breakers: BreakerRegistry;
  /** Follows the contact deletions Marketing Cloud accepted until they complete. */
  deletions: DeletionFollower;
  /** Checks the definitions the routes send to (start it to probe at start-up and periodically). */
  probe: TargetProbe;
  /** Obtains (or reuses) the configured account's token: the readiness probe's check. */
  token(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Builds every target from the config; `events` hears what the target probe and the contact
 * deletions report, and `deps.versions` (the store) keeps data extension rows newest-first.
 */
export function createTargets(
  config: Pick<BridgeConfig, 'marketingCloud' | 'dispatcher'> & Partial<Pick<BridgeConfig, 'routes'>>,
  events?: ProbeEvents & ContactDeleteEvents & DeletionStatusEvents,
  deps: { versions?: RowVersionGuard } = {},
): TargetTable {
  const mc = config.marketingCloud;
  const d = config.dispatcher;
  const breakers = new BreakerRegistry({ ...d.breaker, blockedPauseMs: d.retry.blockedWaitMs });
  const credentials = {
    authBaseUrl: mc.authBaseUrl,
    clientId: mc.clientId,
    clientSecret: mc.clientSecret,
    ...(mc.accountId ? { accountId: mc.accountId } : {}),
  };
  const clients = (t: ActionTarget) =>
    new McClients({
      credentials,
      breakers,
      connections: d.targets[t].connections,
      concurrency: d.targets[t].concurrency,
      timeoutMs: d.timeoutMs,
      keepAliveMs: d.keepAliveMs,
    });
  const journey = clients('journey');
  const triggered = clients('triggeredSend');
  const transactional = clients('transactional');
  // Lookups are few and small: two connections, never in the way of deliveries.
  const lookups = new McClients({ credentials, breakers, connections: 2, concurrency: 2, timeoutMs: d.timeoutMs, keepAliveMs: d.keepAliveMs });
  const deleting = clients('contactDelete');
  const deletions = new DeletionFollower({ clientFor: lookups.clientFor, pollMs: d.deletes.statusPollMs, ...(events ? { events } : {}) });
  const deleteEvents: ContactDeleteEvents = {
    ...(events?.wouldDelete ? { wouldDelete: (k) => events.wouldDelete!(k) } : {}),
    ...(events?.capped ? { capped: (k, u, c) => events.capped!(k, u, c) } : {}),
    accepted: (op, keys, mid) => {
      events?.accepted?.(op, keys, mid);
      deletions.follow(op, mid, keys.length);
    },
  };
  const probe = new TargetProbe({
    clientFor: lookups.clientFor,
    routes: config.routes ?? [],
    intervalMs: d.probe.intervalMs,
    cacheMax: d.probe.cacheMax,
    ...(events ? { events } : {}),
  });
  const rows = clients('dataExtension');
  const de = d.targets.dataExtension;
  return {
    targets: {
      journey: guardTarget(
        'journey',
        createJourneyTarget(journey.clientFor, {
          batchSize: d.targets.journey.batchSize,
          batchConcurrency: d.targets.journey.concurrency,
          singleConcurrency: d.targets.journey.concurrency,
        }) as Target,
        probe,
      ),
      triggeredSend: guardTarget(
        'triggeredSend',
        createTriggeredSendTarget(triggered.clientFor, { concurrency: d.targets.triggeredSend.concurrency }) as Target,
        probe,
      ),
      transactional: guardTarget(
        'transactional',
        createTransactionalTarget(transactional.clientFor, {
          batchSize: d.targets.transactional.batchSize,
          concurrency: d.targets.transactional.concurrency,
        }) as Target,
        probe,
      ),
      dataExtension: createDataExtensionTarget(rows.clientFor, {
        batchSize: de.batchSize,
        concurrency: de.concurrency,
        confirmAfterMs: de.confirmAfterMs,
        ...(deps.versions ? { versions: deps.versions } : {}),
      }) as Target,
      contactDelete: createContactDeleteTarget(deleting.clientFor, {
        batchSize: d.targets.contactDelete.batchSize,
        maxPerHour: d.deletes.maxPerHour,
        dryRun: d.deletes.dryRun,
        events: deleteEvents,
      }) as Target,
    },
    deletions,
    probe,
    batchSizes: {
      journey: d.targets.journey.batchSize,
      triggeredSend: d.targets.triggeredSend.batchSize,
      transactional: d.targets.transactional.batchSize,
      dataExtension: de.batchSize,
      contactDelete: d.targets.contactDelete.batchSize,
    },
    retry: new RetryPolicy(d.maxAttempts, d.retry),
    breakers,
    token: () => sharedTokenManager(credentials).get(),
    async close() {
      await probe.stop();
      await deletions.stop();
      await Promise.all([journey.close(), triggered.close(), transactional.close(), deleting.close(), lookups.close(), rows.close()]);
    },
  };
}
