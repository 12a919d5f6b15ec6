/**
 * A subscriber for a fleet: it consumes only the channels this instance leads, each with a
 * subscriber of its own started from the shared checkpoint at the moment leadership is won,
 * and stopped (what it holds committed) the moment leadership is lost.
 */
import type { ChannelSubscription, Subscriber } from './types.ts';
import type { ChannelLeadership, LeadershipHandlers } from '../src/outbox/postgres/leadership.ts';
import type { IntakeStore } from '../src/outbox/contract.ts';

/** Options of the leading subscriber. */
export interface LeadingSubscriberOptions {
  channels: readonly ChannelSubscription[];
  store: IntakeStore;
  /** Builds the leadership with the handlers this subscriber gives it. */
  leadership(channels: readonly string[], handlers: LeadershipHandlers): ChannelLeadership;
  /** Builds a transport subscriber for one channel from the given checkpoints. */
  create(channels: readonly ChannelSubscription[], checkpoints: ReadonlyMap<string, string>): Subscriber;
}

/** Creates a subscriber that consumes a channel only while this instance leads it. */
export function createLeadingSubscriber(options: LeadingSubscriberOptions): Subscriber {
  const running = new Map<string, Subscriber>();
  const byName = new Map(options.channels.map((c) => [c.name, c]));
  const leadership = options.leadership([...byName.keys()], {
    async onAcquired(channel) {
      // Read now, not at start: the previous leader moved the checkpoint since.
      const checkpoints = await options.store.loadCheckpoints();
      const subscriber = options.create([byName.get(channel)!], checkpoints);
      running.set(channel, subscriber);
      await subscriber.start();
    },
    async onLost(channel) {
      const subscriber = running.get(channel);
      running.delete(channel);
      await subscriber?.stop();
    },
  });
  return {
    start: () => leadership.start(),
    stop: () => leadership.stop(),
    /** True while every channel this instance leads is subscribed. */
    get subscribed() {
      return [...running.values()].every((s) => s.subscribed);
    },
    /** Followers report subscribed too: this is where the role shows (metrics, status page). */
    get leads() {
      return new Map([...byName.keys()].map((name) => [name, running.has(name)]));
    },
  };
}
