/** `sfmc-bridge trace <recordId|contactKey>`: one record's timeline from the store. */
import { parseConfig, readConfigFile, resolveConfigPath } from '../config/load.ts';
import { openStoreForCommand } from '../outbox/open.ts';
import { renderTrace, traceRecord } from '../operations/trace.ts';

/** Prints the timeline (text, or one JSON object with `--json`); resolves to the exit code. */
export async function runTrace(id: string, opts: { config?: string; json?: boolean }): Promise<number> {
  // Only the store's location is needed: no credentials, so support can run it anywhere the file is.
  const config = parseConfig(readConfigFile(resolveConfigPath(opts.config, process.env)));
  const store = await openStoreForCommand(config.store);
  try {
    const trace = await traceRecord(store, id, { allowPersonalData: config.log.allowPersonalData });
    process.stdout.write(opts.json ? `${JSON.stringify(trace)}\n` : renderTrace(trace));
    return 0;
  } finally {
    await store.close();
  }
}
