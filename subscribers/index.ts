/**
 * Chooses the transport a config asks for (`salesforce.transport`). Both subscribers take the
 * same auth, channels, checkpoints, sink and gate, and hand the sink the same RawEvents.
 */
import type { Logger } from 'pino';
import type { BridgeConfig } from '../src/config/schema.ts';
import { createCometdSubscriber } from './cometd.ts';
import { createPubSubSubscriber } from './pubsub/index.ts';
import type { BatchSink, ChannelSubscription, Gate, Subscriber } from './types.ts';

/** What a subscriber needs besides the config. */
export interface SubscriberDeps {
  getAccessToken(fresh: boolean): Promise<string>;
  checkpoints: ReadonlyMap<string, string>;
  sink: BatchSink;
  gate: Gate;
  logger: Logger;
  onFatal(err: unknown): void;
  /** The channels to consume (a leader's share on a shared store); default: every configured channel. */
  channels?: readonly ChannelSubscription[];
  /** Called after each successful handshake (CometD), for the reconnect metric. */
  onHandshake?(): void;
}

/** Creates the subscriber of `config.salesforce.transport`. */
export function createSubscriber(config: BridgeConfig, deps: SubscriberDeps): Subscriber {
  const sf = config.salesforce;
  const channels = [...(deps.channels ?? config.channels.map((c) => ({ name: c.name, replayFrom: c.replayFrom })))];
  if (sf.transport === 'pubsub') {
    return createPubSubSubscriber({ ...deps, endpoint: sf.pubsubUrl, instanceUrl: sf.instanceUrl, channels });
  }
  return createCometdSubscriber({ ...deps, cometdUrl: `${sf.instanceUrl.replace(/\/$/, '')}/cometd/${sf.apiVersion}`, channels });
}
