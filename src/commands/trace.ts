/** `sfmc-bridge trace <recordId|contactKey>`: one record's timeline from the store. */
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { parseConfig, readConfigFile, resolveConfigPath } from '../config/load.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { renderTrace, traceRecord } from '../trace.ts';

/** Prints the timeline (text, or one JSON object with `--json`); resolves to the exit code. */
export async function runTrace(id: string, opts: { config?: string; json?: boolean }): Promise<number> {
  // Only the store's location is needed: no credentials, so support can run it anywhere the file is.
  const config = parseConfig(readConfigFile(resolveConfigPath(opts.config, process.env)));
  // Opening a missing file would create an empty store and report "no history": say so instead.
  if (!existsSync(config.store.path)) throw new ConfigError('store.path', `no store at ${JSON.stringify(config.store.path)} (run trace where the bridge runs, or pass its --config)`);
  const store = openSqliteStore({ path: config.store.path });
  try {
    const trace = await traceRecord(store, id, { allowPersonalData: config.log.allowPersonalData });
    process.stdout.write(opts.json ? `${JSON.stringify(trace)}\n` : renderTrace(trace));
    return 0;
  } finally {
    await store.close();
  }
}
