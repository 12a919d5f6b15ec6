/**
 * `sfmc-bridge dlq list|retry|discard`: the dead-letter queue from the command line. Works on
 * the store while the bridge runs (SQLite in WAL mode takes a second writer); retried actions are
 * picked up by the running dispatcher, or by the next start. Needs the config for the store and,
 * to re-derive dead letters made before delivery, the routes and mappers; no credentials.
 * Dead letters carry what the event carried (e-mail addresses, phone numbers): everything
 * printed is masked like the logs unless the config's `log.allowPersonalData` is on.
 */
import { loadMappers } from '../route/mapper-loader.ts';
import { parseConfig, readConfigFile, resolveConfigPath } from '../config/load.ts';
import type { BridgeConfig } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { maskPersonalDeep } from '../core/log.ts';
import { retryDeadLetters } from '../operations/dlq.ts';
import { openStoreForCommand } from '../outbox/open.ts';
import type { ActionRow, Store } from '../outbox/contract.ts';

/** Options shared by the dlq subcommands. */
export interface DlqOptions {
  config?: string;
  route?: string;
  json?: boolean;
  all?: boolean;
  limit?: number;
}

async function withStore<T>(opts: DlqOptions, fn: (store: Store, config: BridgeConfig) => Promise<T>): Promise<T> {
  // Routes, channels and the store path hold no environment references: parsing is enough.
  const config = parseConfig(readConfigFile(resolveConfigPath(opts.config))) as unknown as BridgeConfig;
  const store = await openStoreForCommand(parseConfig(readConfigFile(resolveConfigPath(opts.config))).store);
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

function ids(values: readonly string[]): number[] {
  return values.map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new ConfigError('<id>', `expected a dead letter's numeric ID, got ${JSON.stringify(v)}`);
    return n;
  });
}

/** What leaves the process: masked unless the config allows personal data. */
function shown<T>(config: BridgeConfig, value: T): T {
  return config.log.allowPersonalData ? value : maskPersonalDeep(value);
}

function line(r: ActionRow): string {
  const reason = (r.error ?? '').replace(/\s+/g, ' ');
  const when = new Date(r.createdAt).toISOString();
  return `${String(r.id).padStart(6)}  ${when}  ${r.route.padEnd(20)}  ${(r.errorCode ?? '').padEnd(22)}  ${String(r.attempts).padStart(3)}  ${r.recordId || '-'}  ${reason.length > 120 ? `${reason.slice(0, 117)}...` : reason}`;
}

/** `dlq list`: prints the queue (with each action's history under --json). */
export async function runDlqList(opts: DlqOptions): Promise<number> {
  return withStore(opts, async (store, config) => {
    const rows = shown(
      config,
      await store.deadLetters({
        ...(opts.route !== undefined ? { route: opts.route } : {}),
        includeDiscarded: Boolean(opts.all),
        limit: opts.limit ?? 1000,
      }),
    );
    if (opts.json) {
      const out = [];
      for (const r of rows) out.push({ ...r, history: shown(config, await store.attemptsOf(r.id)) });
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else if (rows.length === 0) {
      process.stdout.write('The dead-letter queue is empty.\n');
    } else {
      process.stdout.write(`${'ID'.padStart(6)}  ${'CREATED'.padEnd(24)}  ${'ROUTE'.padEnd(20)}  ${'CODE'.padEnd(22)}  TRY  RECORD  REASON\n`);
      for (const r of rows) process.stdout.write(`${line(r)}\n`);
      process.stdout.write(`${rows.length} dead letter(s)${rows.length === (opts.limit ?? 1000) ? ' (limit reached: --limit for more)' : ''}\n`);
    }
    return 0;
  });
}

/** `dlq retry <id...>` or `dlq retry --all [--route R]`. */
export async function runDlqRetry(idArgs: readonly string[], opts: DlqOptions): Promise<number> {
  if (idArgs.length === 0 && !opts.all) throw new ConfigError('dlq retry', 'give dead letter IDs or --all');
  if (idArgs.length > 0 && opts.all) throw new ConfigError('dlq retry', 'give dead letter IDs or --all, not both');
  return withStore(opts, async (store, config) => {
    const mappers = await loadMappers(config);
    const filter = { ...(opts.route !== undefined ? { route: opts.route } : {}), ...(idArgs.length > 0 ? { ids: ids(idArgs) } : {}) };
    const outcomes = shown(config, await retryDeadLetters(store, config, mappers, filter));
    const missing = idArgs.length > 0 ? ids(idArgs).filter((id) => !outcomes.some((o) => o.id === id)) : [];
    if (opts.json) process.stdout.write(`${JSON.stringify({ outcomes, notDeadLetters: missing })}\n`);
    else {
      for (const o of outcomes) process.stdout.write(`${o.id}: ${o.result} (${o.detail})\n`);
      for (const id of missing) process.stdout.write(`${id}: not a dead letter in the queue\n`);
      const counts = outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.result]: (acc[o.result] ?? 0) + 1 }), {});
      process.stdout.write(
        `retried ${outcomes.length}: ${
          Object.entries(counts)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ') || 'nothing'
        }\n`,
      );
    }
    return missing.length > 0 ? 2 : 0;
  });
}

/** `dlq discard <id...>`: out of the queue, row and history kept. */
export async function runDlqDiscard(idArgs: readonly string[], opts: DlqOptions): Promise<number> {
  if (idArgs.length === 0) throw new ConfigError('dlq discard', 'give the IDs of the dead letters to discard');
  const wanted = ids(idArgs);
  return withStore(opts, async (store) => {
    const done = new Set(await store.discard(wanted, Date.now()));
    const missing = wanted.filter((id) => !done.has(id));
    if (opts.json) process.stdout.write(`${JSON.stringify({ discarded: [...done], notDeadLetters: missing })}\n`);
    else {
      process.stdout.write(`discarded ${done.size}\n`);
      for (const id of missing) process.stdout.write(`${id}: not a dead letter in the queue\n`);
    }
    return missing.length > 0 ? 2 : 0;
  });
}
