/**
 * Chooses the transport a config asks for (`salesforce.transport`). Both subscribers take the
 * same auth, channels, checkpoints, sink and gate, and hand the sink the same RawEvents.
 */
import type { BridgeConfig } from '../src/config/schema.ts';
import { createCometdSubscriber, type CometdSubscriberOptions } from './cometd.ts';
import type { ChannelSubscription, Subscriber } from './types.ts';

/**
 * What a subscriber needs besides the config: the CometD options (Pub/Sub takes the ones it
 * knows), with the channels and the instance URL optional.
 */
export type SubscriberDeps = Omit<CometdSubscriberOptions, 'cometdUrl' | 'channels'> & {
  /** The channels to consume (a leader's share on a shared store); default: every configured channel. */
  channels?: readonly ChannelSubscription[];
  /** The org's instance URL as the auth method found it (an `sf` alias knows it); default: the config's. */
  instanceUrl?: string;
};

/**
 * Loads the module of `config.salesforce.transport` and returns a factory of its subscribers.
 * gRPC, protobuf and Avro are imported only when the config asks for the Pub/Sub API.
 */
export async function subscriberFactory(config: BridgeConfig): Promise<(deps: SubscriberDeps) => Subscriber> {
  const sf = config.salesforce;
  const pubsub = sf.transport === 'pubsub' ? (await import('./pubsub/index.ts')).createPubSubSubscriber : undefined;
  return (deps) => {
    const channels = [
      ...(deps.channels ?? config.channels.map((c) => ({ name: c.name, replayFrom: c.replayFrom, replayFallback: c.replayFallback }))),
    ];
    const instanceUrl = deps.instanceUrl ?? sf.instanceUrl;
    if (pubsub) return pubsub({ ...deps, endpoint: sf.pubsubUrl, instanceUrl, channels });
    return createCometdSubscriber({ ...deps, cometdUrl: `${instanceUrl.replace(/\/$/, '')}/cometd/${sf.apiVersion}`, channels });
  };
}
