/**
 * Opens the store a config names. The embedded store serves one process; the shared store
 * also brings the channel leadership that lets several processes run on it.
 */
import type { Logger } from 'pino';
import { existsSync } from 'node:fs';
import type { ParsedConfig, StoreConfig } from '../config/schema.ts';
import { ConfigError, StoreNotFoundError } from '../core/errors.ts';
import type { ChannelLeadership, LeadershipHandlers } from './postgres/leadership.ts';
import { openSqliteStore } from './sqlite/store.ts';
import type { Store } from './contract.ts';
import type { StoreRetryListener } from './postgres/transient.ts';

/** A store, and for a shared one the way to contend for channels. */
export interface OpenedStore {
  store: Store;
  /** Shared stores only: exactly one instance of the fleet consumes each channel. */
  leadership?(channels: readonly string[], handlers: LeadershipHandlers, logger: Logger): ChannelLeadership;
}

/** Opens (and migrates) the store described by `config.store`; `onRetry` hears the shared store's transient errors it runs again. */
export async function openStore(config: StoreConfig, hooks: { onRetry?: StoreRetryListener } = {}): Promise<OpenedStore> {
  if (config.kind === 'sqlite') return { store: openSqliteStore({ path: config.path }) };
  // Loaded only for a shared store: pg and its pools cost an embedded bridge memory for nothing.
  const [{ openPostgresStore }, { ChannelLeadership }] = await Promise.all([import('./postgres/store.ts'), import('./postgres/leadership.ts')]);
  const store = await openPostgresStore({
    url: config.url,
    schema: config.schema,
    poolSize: config.poolSize,
    claimLeaseMs: config.claimLeaseMs,
    synchronousCommit: config.synchronousCommit,
    ...(hooks.onRetry ? { onRetry: hooks.onRetry } : {}),
  });
  return {
    store,
    leadership: (channels, handlers, logger) =>
      new ChannelLeadership({
        url: config.url,
        schema: config.schema,
        channels,
        takeoverMs: config.takeoverMs,
        logger: logger.child({ instance: store.instanceId }),
        ...handlers,
      }),
  };
}

/**
 * Opens the store of a parsed (unresolved) config for an operator command such as `trace` or
 * `dlq`: only the store's own environment reference is resolved, so no credentials are needed.
 * A missing SQLite file is a StoreNotFoundError rather than a new empty store.
 */
export async function openStoreForCommand(sc: ParsedConfig['store'], env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  if (sc.kind === 'sqlite') {
    if (sc.path !== ':memory:' && !existsSync(sc.path)) throw new StoreNotFoundError(sc.path);
    return (await openStore(sc)).store;
  }
  const url = env[sc.url.env];
  if (!url) throw new ConfigError('store.url', `environment variable ${sc.url.env} is not set`);
  return (await openStore({ ...sc, url })).store;
}
