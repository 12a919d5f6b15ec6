/** `sfmc-bridge start`: the service, until SIGTERM or SIGINT. */
import { credentialStatus, load, loadConfigFile, readConfigFile, resolveConfigPath, type CredentialStatus, type Env } from '../config/load.ts';
import { ConfigError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { startService } from '../service.ts';

/**
 * Whether `start` may fall back to the demo: only on a newcomer's first `npm start`, where none
 * of the variables the config refers to is set, and never under NODE_ENV=production (the
 * Dockerfile's), where a container missing its secrets must fail rather than look healthy.
 * @throws ConfigError naming each missing variable and the key that wants it (exit code 2).
 */
export function demoFallback(path: string, env: Env): boolean {
  const status = credentialStatus(path, env);
  if (status.complete) return false;
  if (status.set.length === 0 && env.NODE_ENV !== 'production') return true;
  throw missingVariables(status, env);
}

function missingVariables(status: CredentialStatus, env: Env): ConfigError {
  const [first, ...rest] = status.missing;
  const lines = rest.map((m) => `\n${m.key}: environment variable ${m.variable} is not set`).join('');
  const why =
    status.set.length > 0
      ? `${status.set.map((u) => u.variable).join(', ')} ${status.set.length === 1 ? 'is' : 'are'} set, so this is not a first run: no demo fallback`
      : 'NODE_ENV is production: no demo fallback';
  return new ConfigError(first!.key, `environment variable ${first!.variable} is not set${lines}\n(${why})`);
}

/** The config file's content with contact deletions in dry run (`start --dry-run`). */
function withDryRun(input: unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input; // load names the problem
  const config = input as { dispatcher?: { deletes?: object } };
  return { ...config, dispatcher: { ...config.dispatcher, deletes: { ...config.dispatcher?.deletes, dryRun: true } } };
}

/** Runs the service; resolves to the process exit code. */
export async function runStart(opts: { config?: string; dryRun?: boolean }): Promise<number> {
  // Listen before anything else: a SIGTERM during start-up must still end in a clean stop.
  let signalledAt: number | undefined;
  const signalled = shutdownSignal().then((s) => ((signalledAt = Date.now()), s));
  const path = resolveConfigPath(opts.config, process.env);
  if (demoFallback(path, process.env)) {
    process.stderr.write(
      `sfmc-bridge: none of the environment variables ${path} refers to is set; running the demo against the built-in emulators instead (set them to run for real)\n`,
    );
    const { runDemo } = await import('./demo.ts');
    return runDemo({ events: 40, db: 'data/demo.db', keep: false });
  }
  const config = opts.dryRun ? load(withDryRun(readConfigFile(path)), process.env) : loadConfigFile(path, process.env);
  const logger = createLogger(config.log);
  const service = await startService(config, logger);
  const code = await waitForShutdown(service, logger, signalled, config.shutdownTimeoutMs);
  // A drain cut short (or a fatal stop) leaves requests in flight whose sockets would hold the
  // process open: exit now. After a clean stop everything is committed too, and a socket some
  // library still holds may keep the process only until the configured time is up, so a
  // supervisor's kill timeout just above shutdownTimeoutMs never has to SIGKILL it.
  if (code !== 0) process.exit(code);
  const left = signalledAt === undefined ? 0 : config.shutdownTimeoutMs - (Date.now() - signalledAt);
  setTimeout(() => process.exit(code), Math.max(0, left)).unref();
  return code;
}

/** Resolves with the name of the first SIGTERM or SIGINT received. */
export function shutdownSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/**
 * Waits for a shutdown signal (clean stop, 0) or a fatal error (1). A stop that outlasts
 * `timeoutMs` returns 1: what was in flight is still pending in the store and is sent again
 * after the restart (at least once), so nothing is lost, but the drain was not clean. The
 * drain gets `timeoutMs` less a small reserve (`exitReserveMs`), kept for the log line and the
 * exit itself, so the process is gone within `timeoutMs` of the signal.
 */
export async function waitForShutdown(
  service: { stop(): Promise<void>; failed: Promise<unknown> },
  logger: { info(o: object, m: string): void; error?(o: object, m: string): void },
  signalled: Promise<string> = shutdownSignal(),
  timeoutMs?: number,
): Promise<number> {
  const first = await Promise.race([signalled.then((s) => ({ signal: s })), service.failed.then((err) => ({ err }))]);
  if ('signal' in first) {
    const started = Date.now();
    logger.info({ event: 'shutdown', signal: first.signal, timeoutMs }, 'stopping: committing and finishing deliveries in flight');
    if (timeoutMs === undefined) {
      await service.stop();
      return 0;
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      service.stop().then(() => 'stopped' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs - exitReserveMs(timeoutMs));
      }),
    ]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') {
      (logger.error ?? logger.info).call(
        logger,
        { event: 'shutdown_timeout', timeoutMs },
        'deliveries still in flight at the shutdown deadline; they stay pending and are sent again after restart',
      );
      return 1;
    }
    logger.info({ event: 'shutdown_complete', signal: first.signal, ms: Date.now() - started }, 'stopped cleanly');
    return 0;
  }
  await service.stop().catch(() => undefined);
  return 1;
}

/**
 * What the exit keeps of the shutdown time: a fifth, between 100 ms and 1 s. A tenth was not
 * enough on a busy machine: the stores' close and the last log lines took 216 ms past a 200 ms
 * reserve at a load average of 13 on 2 cores, and the exit came after the deadline.
 */
export function exitReserveMs(timeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.round(timeoutMs / 5)));
}
