/** `sfmc-bridge start`: the service, until SIGTERM or SIGINT. */
import { hasCredentials, loadConfigFile, resolveConfigPath } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { startService } from '../service.ts';

/** Runs the service; resolves to the process exit code. */
export async function runStart(opts: { config?: string }): Promise<number> {
  // Listen before anything else: a SIGTERM during start-up must still end in a clean stop.
  const signalled = shutdownSignal();
  const path = resolveConfigPath(opts.config, process.env);
  if (!hasCredentials(path, process.env)) {
    process.stderr.write(`sfmc-bridge: no credentials in the environment for ${path}; running the demo against the built-in emulators\n`);
    const { runDemo } = await import('./demo.ts');
    return runDemo({ events: 40, db: 'data/demo.db', keep: false });
  }
  const config = loadConfigFile(path, process.env);
  const logger = createLogger(config.log);
  const service = await startService(config, logger);
  return waitForShutdown(service, logger, signalled);
}

/** Resolves with the name of the first SIGTERM or SIGINT received. */
export function shutdownSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** Waits for a shutdown signal (clean stop, 0) or a fatal error (1). */
export async function waitForShutdown(
  service: { stop(): Promise<void>; failed: Promise<unknown> },
  logger: { info(o: object, m: string): void },
  signalled: Promise<string> = shutdownSignal(),
): Promise<number> {
  const first = await Promise.race([signalled.then((s) => ({ signal: s })), service.failed.then((err) => ({ err }))]);
  if ('signal' in first) {
    logger.info({ event: 'shutdown', signal: first.signal }, 'stopping: committing and finishing deliveries in flight');
    await service.stop();
    return 0;
  }
  await service.stop().catch(() => undefined);
  return 1;
}
