/**
 * `sfmc-bridge backfill --route NAME [--where SOQL] [--since ISO-date] [--dry-run] [--json]
 * [--confirm-sends] [--restart]`: loads the records that existed before the bridge started
 * (src/backfill/). Progress on a terminal (records read, rows accepted, rate, ETA), a JSON
 * summary with --json. Ctrl-C stops after the page in flight, with the progress saved: the same
 * command resumes. It opens the same store as `start` and may run while `start` runs.
 * Exit codes: 0 done (or dry run), 2 bad arguments or config, 1 failure, 130 interrupted.
 */
import cliProgress from 'cli-progress';
import { loadConfigFile, resolveConfigPath, type Env } from '../config/load.ts';
import type { BridgeConfig } from '../config/schema.ts';
import { McTokenManager } from '../delivery/mc/auth.ts';
import { McRestClient } from '../delivery/mc/http.ts';
import { createTargets } from '../delivery/target-table.ts';
import { openStore } from '../outbox/open.ts';
import { loadMappers } from '../route/mapper-loader.ts';
import { openSalesforceSession } from '../salesforce/auth.ts';
import { planBackfill } from '../backfill/plan.ts';
import { runBackfill, type BackfillSummary } from '../backfill/run.ts';
import { BulkQuerySource } from '../backfill/source.ts';

/** Options of the command (flags, plus what tests replace). */
export interface BackfillCommandOptions {
  config?: string;
  route: string;
  where?: string;
  since?: string;
  dryRun?: boolean;
  json?: boolean;
  confirmSends?: boolean;
  restart?: boolean;
  pageSize?: number;
  ingestThreshold?: number;
  env?: Env;
  out?: { write(text: string): unknown };
}

/** Runs the command; resolves to the exit code. Bad arguments throw ConfigError (exit 2). */
export async function runBackfillCommand(opts: BackfillCommandOptions): Promise<number> {
  const env = opts.env ?? process.env;
  const out = opts.out ?? process.stdout;
  const config = loadConfigFile(resolveConfigPath(opts.config, env), env);
  const plan = planBackfill(config, await loadMappers(config), {
    route: opts.route,
    where: opts.where,
    since: opts.since,
    confirmSends: Boolean(opts.confirmSends),
  });
  const session = await openSalesforceSession(config.salesforce);
  const { store } = await openStore(config.store);
  const clients = new Map<string, McRestClient>();
  const mc = (mid: string | undefined) => mcClient(config, clients, mid);
  const table = plan.route.target.type !== 'dataExtension' && !opts.dryRun ? createTargets(config) : undefined;
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
    process.stderr.write('\nstopping after the page in flight (Ctrl-C again to quit now; the same command resumes)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const bar = !opts.json && process.stderr.isTTY ? progressBar() : undefined;
  try {
    const summary = await runBackfill({
      plan,
      store,
      source: new BulkQuerySource(session, config.salesforce.apiVersion),
      mc,
      ...(table ? { targets: table.targets } : {}),
      dryRun: Boolean(opts.dryRun),
      restart: Boolean(opts.restart),
      ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
      ...(opts.ingestThreshold ? { ingestThreshold: opts.ingestThreshold } : {}),
      signal: abort.signal,
      onProgress: (c) => {
        if (!bar) return;
        if (bar.getTotal() !== c.total) bar.start(c.total, 0, { accepted: 0, skipped: 0 });
        bar.update(c.read, { accepted: c.accepted, skipped: c.skipped });
      },
    });
    bar?.stop();
    out.write(opts.json ? `${JSON.stringify(summary)}\n` : render(summary));
    return summary.status === 'interrupted' ? 130 : 0;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.all([...clients.values()].map((c) => c.close()));
    await table?.close();
    await store.close();
  }
}

function mcClient(config: BridgeConfig, clients: Map<string, McRestClient>, mid: string | undefined): McRestClient {
  const m = config.marketingCloud;
  const account = mid ?? m.accountId ?? '';
  let client = clients.get(account);
  if (!client) {
    client = new McRestClient(
      new McTokenManager({
        authBaseUrl: m.authBaseUrl,
        clientId: m.clientId,
        clientSecret: m.clientSecret,
        ...(account ? { accountId: account } : {}),
      }),
    );
    clients.set(account, client);
  }
  return client;
}

function progressBar(): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'backfill |{bar}| {value}/{total} records read | {accepted} rows accepted | {skipped} newer in MC | {rate}/s | ETA {eta_formatted}',
      etaBuffer: 50,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** The summary for a person. */
function render(s: BackfillSummary): string {
  const rate = s.elapsedMs > 0 ? Math.round((s.read * 1000) / s.elapsedMs) : 0;
  const lines = [
    `backfill of route ${s.route}: ${s.status}${s.resumed ? ' (resumed)' : ''}`,
    `  query: ${s.soql} (job ${s.jobId}, ${s.total} records)`,
    `  read ${s.read} records in ${s.pages} pages, ${rate}/s; ${s.status === 'dry-run' ? 'would write' : 'accepted'} ${s.accepted} (${s.via}); skipped ${s.skipped} (the stream wrote a newer row); repaired ${s.repaired ?? 0} (changed while written); dead-lettered ${s.rejected}`,
    ...s.reasons.map((r) => `  dead letter: ${r}`),
  ];
  if (s.status === 'interrupted') lines.push('  interrupted: run the same command again to resume');
  return `${lines.join('\n')}\n`;
}
