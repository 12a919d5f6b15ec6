/**
 * Opens the store a config names. The embedded store serves one process; the shared store
 * also brings the channel leadership that lets several processes run on it.
 */
import type { Logger } from 'pino';
import type { StoreConfig } from '../config/schema.ts';
import { ChannelLeadership, type LeadershipHandlers } from './leadership.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

/** A store, and for a shared one the way to contend for channels. */
export interface OpenedStore {
  store: Store;
  /** Shared stores only: exactly one instance of the fleet consumes each channel. */
  leadership?(channels: readonly string[], handlers: LeadershipHandlers, logger: Logger): ChannelLeadership;
}

/** Opens (and migrates) the store described by `config.store`. */
export async function openStore(config: StoreConfig): Promise<OpenedStore> {
  if (config.kind === 'sqlite') return { store: openSqliteStore({ path: config.path }) };
  const store = await openPostgresStore({
    url: config.url, schema: config.schema, poolSize: config.poolSize, claimLeaseMs: config.claimLeaseMs,
    synchronousCommit: config.synchronousCommit,
  });
  return {
    store,
    leadership: (channels, handlers, logger) => new ChannelLeadership({
      url: config.url, schema: config.schema, channels, takeoverMs: config.takeoverMs, logger: logger.child({ instance: store.instanceId }), ...handlers,
    }),
  };
}
