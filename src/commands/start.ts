/** `sfmc-bridge start`: the service, until SIGTERM or SIGINT. */
import { hasCredentials, loadConfigFile, resolveConfigPath } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { startService } from '../service.ts';

/** Runs the service; resolves to the process exit code. */
export async function runStart(opts: { config?: string }): Promise<number> {
  const path = resolveConfigPath(opts.config, process.env);
  if (!hasCredentials(path, process.env)) {
    process.stderr.write(`sfmc-bridge: no credentials in the environment for ${path}; running the demo against the built-in emulators\n`);
    const { runDemo } = await import('./demo.ts');
    return runDemo({ events: 40, db: 'data/demo.db', keep: false });
  }
  const config = loadConfigFile(path, process.env);
  const logger = createLogger(config.log);
  const service = await startService(config, logger);
  return waitForShutdown(service, logger);
}

/** Waits for SIGTERM/SIGINT (clean stop, 0) or a fatal error (1). */
export async function waitForShutdown(service: { stop(): Promise<void>; failed: Promise<unknown> }, logger: { info(o: object, m: string): void }): Promise<number> {
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const first = await Promise.race([signalled.then((s) => ({ signal: s })), service.failed.then((err) => ({ err }))]);
  if ('signal' in first) {
    logger.info({ event: 'shutdown', signal: first.signal }, 'stopping: committing and finishing deliveries in flight');
    await service.stop();
    return 0;
  }
  await service.stop().catch(() => undefined);
  return 1;
}
