/** `sfmc-bridge trace <recordId|contactKey>`: one record's timeline from the store. */
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { parseConfig, readConfigFile, resolveConfigPath } from '../config/load.ts';
import { openStore } from '../store/open.ts';
import { renderTrace, traceRecord } from '../trace.ts';

/** Prints the timeline (text, or one JSON object with `--json`); resolves to the exit code. */
export async function runTrace(id: string, opts: { config?: string; json?: boolean }): Promise<number> {
  // Only the store's location is needed: no credentials, so support can run it anywhere the file is.
  const config = parseConfig(readConfigFile(resolveConfigPath(opts.config, process.env)));
  // Opening a missing file would create an empty store and report "no history": say so instead.
  const sc = config.store;
  let store;
  if (sc.kind === 'sqlite') {
    if (!existsSync(sc.path)) throw new ConfigError('store.path', `no store at ${JSON.stringify(sc.path)} (run trace where the bridge runs, or pass its --config)`);
    ({ store } = await openStore(sc));
  } else {
    const url = process.env[sc.url.env];
    if (!url) throw new ConfigError('store.url', `environment variable ${sc.url.env} is not set`);
    ({ store } = await openStore({ ...sc, url }));
  }
  try {
    const trace = await traceRecord(store, id, { allowPersonalData: config.log.allowPersonalData });
    process.stdout.write(opts.json ? `${JSON.stringify(trace)}\n` : renderTrace(trace));
    return 0;
  } finally {
    await store.close();
  }
}
