/**
 * The `sfmc-bridge` command line. Exit codes: 0 clean shutdown, 2 invalid config or
 * arguments, 1 fatal runtime error.
 */
import { Command, CommanderError } from 'commander';
import { exitCodeOf, failureJson, failureText } from './commands/failure.ts';
import { ConfigError } from './core/errors.ts';

function program(json: boolean): Command {
  const cmd = new Command('sfmc-bridge')
    .description('Salesforce Change Data Capture and Platform Events to Marketing Cloud')
    .exitOverride()
    // With --json the usage error is reported once, as JSON, by main().
    .configureOutput({
      outputError: (text, write) => {
        if (!json) write(text);
      },
    })
    .showHelpAfterError(!json);

  cmd
    .command('start')
    .description("run the bridge (the demo against the built-in emulators when none of the config's variables is set, outside NODE_ENV=production)")
    .option('-c, --config <path>', 'config file (default: $SFMC_BRIDGE_CONFIG or config/bridge.json)')
    .option('--dry-run', 'contact deletions are logged and dead-lettered (CONTACT_DELETE_DRY_RUN), not sent; everything else runs as usual')
    .action(async (opts: { config?: string; dryRun?: boolean }) => {
      const { runStart } = await import('./commands/start.ts');
      process.exitCode = await runStart(opts);
    });

  cmd
    .command('check')
    .description('check the config and force-app against each other (and, with credentials, against the org and Marketing Cloud); exit 1 on an error')
    .option('-c, --config <path>', 'config file (default: $SFMC_BRIDGE_CONFIG or config/bridge.json)')
    .option('--force-app <dir>', 'Salesforce package directory to check', 'force-app')
    .option('--offline', 'skip the org describe and the Marketing Cloud token even when credentials are set')
    .option('--json', 'print the report as one JSON object')
    .action(async (opts: { config?: string; forceApp: string; offline?: boolean; json?: boolean }) => {
      const { runCheck } = await import('./commands/check.ts');
      process.exitCode = await runCheck({ config: opts.config, forceApp: opts.forceApp, offline: Boolean(opts.offline), json: Boolean(opts.json) });
    });

  cmd
    .command('trace')
    .description('the timeline of one record: received, routed, each delivery attempt, delivered or dead-lettered')
    .argument('<id>', 'record ID (15 or 18 characters), contact key, or the Correlation_Id__c an admin gave an event')
    .option('-c, --config <path>', 'config file (default: $SFMC_BRIDGE_CONFIG or config/bridge.json)')
    .option('--json', 'one JSON object, for machines')
    .action(async (id: string, opts: { config?: string; json?: boolean }) => {
      const { runTrace } = await import('./commands/trace.ts');
      process.exitCode = await runTrace(id, opts);
    });

  cmd
    .command('demo')
    .description('the whole pipeline against the built-in emulators: no credentials needed')
    .option('-n, --events <count>', 'Contact changes to publish', '40')
    .option('--db <path>', 'embedded store file', 'data/demo.db')
    .option('--keep', 'keep running after the demo until interrupted')
    .option('--transport <kind>', 'Salesforce transport: cometd or pubsub', 'cometd')
    .action(async (opts: { events: string; db: string; keep?: boolean; transport: string }) => {
      const { runDemo } = await import('./commands/demo.ts');
      if (opts.transport !== 'cometd' && opts.transport !== 'pubsub')
        throw new ConfigError('--transport', `expected cometd or pubsub, got ${JSON.stringify(opts.transport)}`);
      process.exitCode = await runDemo({
        events: positiveInt('--events', opts.events),
        db: opts.db,
        keep: Boolean(opts.keep),
        transport: opts.transport,
      });
    });

  cmd
    .command('emulate')
    .description('start the Salesforce streaming and Marketing Cloud emulators and print their URLs')
    .option('--sf-port <port>', 'streaming emulator port (0: any free port)', '0')
    .option('--mc-port <port>', 'Marketing Cloud emulator port (0: any free port)', '0')
    .option('--json', 'print the URLs and credentials as one JSON line')
    .action(async (opts: { sfPort: string; mcPort: string; json?: boolean }) => {
      const { runEmulate } = await import('./commands/emulate.ts');
      process.exitCode = await runEmulate({
        sfPort: port('--sf-port', opts.sfPort),
        mcPort: port('--mc-port', opts.mcPort),
        json: Boolean(opts.json),
      });
    });
  cmd
    .command('backfill')
    .description(
      'load the records that existed before the bridge started, through one route (Bulk API 2.0 query → data extension rows or, with --confirm-sends, sends); resumable',
    )
    .requiredOption('--route <name>', 'the route whose mapping and target apply')
    .option('-c, --config <path>', 'config file (default: $SFMC_BRIDGE_CONFIG or config/bridge.json)')
    .option('--where <soql>', "SOQL condition on the route's object, e.g. \"MailingCountry = 'FR'\"")
    .option('--since <iso-date>', 'only records modified since this date (SystemModstamp)')
    .option('--dry-run', 'read and map everything, write nothing; say what would be written')
    .option('--json', 'print the summary as one JSON object')
    .option('--confirm-sends', 'allow a journey or send route: every selected person gets the message')
    .option('--restart', 'forget an unfinished backfill of this route and start over')
    .option('--page-size <n>', 'records read per page', '10000')
    .option('--ingest-threshold <n>', 'from this many records on, rows go through Bulk Data Ingest rather than async rows', '10000')
    .action(
      async (opts: {
        route: string;
        config?: string;
        where?: string;
        since?: string;
        dryRun?: boolean;
        json?: boolean;
        confirmSends?: boolean;
        restart?: boolean;
        pageSize: string;
        ingestThreshold: string;
      }) => {
        const { runBackfillCommand } = await import('./commands/backfill.ts');
        process.exitCode = await runBackfillCommand({
          ...opts,
          pageSize: positiveInt('--page-size', opts.pageSize),
          ingestThreshold: positiveInt('--ingest-threshold', opts.ingestThreshold),
        });
      },
    );
  const dlq = cmd.command('dlq').description('the dead-letter queue: list, retry, discard');
  const dlqOpts = (c: Command) =>
    c
      .option('-c, --config <path>', 'config file (default: $SFMC_BRIDGE_CONFIG or config/bridge.json)')
      .option('--route <name>', "only this route's dead letters")
      .option('--json', 'one JSON line for machines');
  dlqOpts(dlq.command('list').description("list dead letters, oldest first (--json adds each one's history)"))
    .option('--all', 'include discarded ones')
    .option('--limit <n>', 'at most this many', '1000')
    .action(async (opts: { config?: string; route?: string; json?: boolean; all?: boolean; limit: string }) => {
      const { runDlqList } = await import('./commands/dlq.ts');
      process.exitCode = await runDlqList({ ...opts, limit: positiveInt('--limit', opts.limit) });
    });
  dlqOpts(dlq.command('retry [ids...]').description('make dead letters due again (mapping re-run for those that died before delivery)'))
    .option('--all', 'every dead letter (of --route, when given)')
    .action(async (ids: string[], opts: { config?: string; route?: string; json?: boolean; all?: boolean }) => {
      const { runDlqRetry } = await import('./commands/dlq.ts');
      process.exitCode = await runDlqRetry(ids, opts);
    });
  dlqOpts(dlq.command('discard <ids...>').description('take dead letters out of the queue (row and history kept)')).action(
    async (ids: string[], opts: { config?: string; route?: string; json?: boolean }) => {
      const { runDlqDiscard } = await import('./commands/dlq.ts');
      process.exitCode = await runDlqDiscard(ids, opts);
    },
  );
  return cmd;
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(flag, `expected a positive whole number, got ${JSON.stringify(value)}`);
  return n;
}

function port(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(flag, `expected a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}

/** Runs the CLI with `argv` (without node and script) and sets the exit code. */
export async function main(argv: string[]): Promise<void> {
  // `--json` anywhere on the line: a failure is then one JSON object too (on stderr, as sf does).
  const json = argv.includes('--json');
  try {
    await program(json).parseAsync(argv, { from: 'user' });
  } catch (err) {
    const code = exitCodeOf(err);
    process.exitCode = code;
    if (code === 0) return; // --help, --version
    if (json) process.stderr.write(`${JSON.stringify(failureJson(err))}\n`);
    else if (!(err instanceof CommanderError)) process.stderr.write(failureText(err));
  }
}
