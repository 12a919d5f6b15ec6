/**
 * Starts both emulators and writes a bridge config that points at them; `useHarness` sets
 * them up around each test of a file, with the in-process service a test starts on them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMcEmulator } from '../../src/emulators/mc/index.ts';
import { to18 } from '../../src/normalize/ids.ts';
import type { McEmulator, McEmulatorOptions } from '../../src/emulators/mc/types.ts';
import { startStreamingEmulator } from '../../src/emulators/streaming/index.ts';
import type { StreamingEmulator, StreamingEmulatorOptions } from '../../src/emulators/streaming/types.ts';
import { load } from '../../src/config/load.ts';
import { createLogger } from '../../src/core/log.ts';
import { startService, type Service } from '../../src/service.ts';

export const SF_TOKEN = '00Dxx0000001gPF!AQ4AQFakeTokenForTests';
export const MC_CLIENT_ID = 'test-client-id';
export const MC_CLIENT_SECRET = 'test-client-secret-value';
export const WELCOME_KEY = 'APIEvent-contact-welcome';
export const CHANNEL = '/data/ContactChangeEvent';

/** Both emulators, a temporary folder, and the environment a bridge needs to reach them. */
export interface Harness {
  sf: StreamingEmulator;
  mc: McEmulator;
  dir: string;
  env: Record<string, string>;
  /** Writes `config` to the temporary folder and returns its path. */
  writeConfig(config: object, name?: string): string;
  close(): Promise<void>;
}

/** Options of the two emulators. */
export interface HarnessOptions {
  sf?: Partial<StreamingEmulatorOptions>;
  mc?: Partial<McEmulatorOptions>;
}

/** Starts the streaming and Marketing Cloud emulators on loopback ports. */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const sf = await startStreamingEmulator({ accessToken: SF_TOKEN, ...opts.sf });
  const mc = await startMcEmulator({ clientId: MC_CLIENT_ID, clientSecret: MC_CLIENT_SECRET, ...opts.mc });
  const dir = mkdtempSync(join(tmpdir(), 'sfmc-bridge-'));
  return {
    sf,
    mc,
    dir,
    env: {
      SF_INSTANCE_URL: sf.url,
      SF_ACCESS_TOKEN: SF_TOKEN,
      MC_AUTH_BASE_URL: mc.authBaseUrl,
      MC_CLIENT_ID,
      MC_CLIENT_SECRET,
    },
    writeConfig(config, name = 'bridge.json') {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(config, null, 2));
      return path;
    },
    async close() {
      await Promise.all([sf.close(), mc.close()]);
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
}

/** A harness that jest starts around each test (or once for the file), and the service a test runs on it. */
export interface HarnessFixture extends Harness {
  /** The service the test started, until it is stopped. */
  readonly service: Service | undefined;
  /**
   * Starts the bridge in this process on `config`, a config object or file path (default
   * `bridgeConfig(dir)`), resolved
   * against the emulators' environment plus `env`; silent unless given a logger. It is stopped
   * after the test, or by `stopService`.
   */
  startService(
    config?: Record<string, unknown> | string,
    opts?: { env?: Record<string, string>; logger?: Parameters<typeof startService>[1] },
  ): Promise<Service>;
  /** Stops the running service now (a restart within one test). */
  stopService(): Promise<void>;
}

/**
 * Registers the set-up and tear-down of the file's tests: before each test (`scope: 'all'`:
 * once, before the first) `setup` runs and the emulators start with `opts`; after it the
 * service the test started is stopped and the emulators are closed.
 */
export function useHarness(opts: HarnessOptions = {}, { scope = 'each', setup }: { scope?: 'each' | 'all'; setup?(): void } = {}): HarnessFixture {
  let current: Harness | undefined;
  let service: Service | undefined;
  const harness = (): Harness => {
    if (!current) throw new Error('the harness is not started: use it inside a test');
    return current;
  };
  const stopService = async (): Promise<void> => {
    const running = service;
    service = undefined;
    await running?.stop();
  };
  (scope === 'each' ? beforeEach : beforeAll)(async () => {
    setup?.();
    current = await startHarness(opts);
  });
  (scope === 'each' ? afterEach : afterAll)(async () => {
    await stopService();
    await current?.close();
    current = undefined;
  });
  return {
    get sf() {
      return harness().sf;
    },
    get mc() {
      return harness().mc;
    },
    get dir() {
      return harness().dir;
    },
    get env() {
      return harness().env;
    },
    get service() {
      return service;
    },
    writeConfig: (config, name) => harness().writeConfig(config, name),
    close: () => harness().close(),
    async startService(config, o = {}) {
      const h = harness();
      service = await startService(
        load(config ?? bridgeConfig(h.dir), { ...h.env, ...o.env }),
        o.logger ?? createLogger({ level: 'silent', pretty: false }),
      );
      return service;
    },
    stopService,
  };
}

/** A config routing Contact creates and e-mail changes into the welcome journey. */
export function bridgeConfig(dir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    channels: [{ name: CHANNEL, replayFrom: -2 }],
    routes: [
      {
        name: 'contact-welcome',
        channel: CHANNEL,
        changeTypes: ['CREATE', 'UPDATE'],
        changedFields: ['Email'],
        target: { type: 'journey', eventDefinitionKey: WELCOME_KEY, mode: 'batch' },
        mapping: { data: { Email: 'Email', FirstName: 'FirstName', LastName: 'Name.LastName' }, required: ['Email'] },
      },
    ],
    store: { kind: 'sqlite', path: join(dir, 'bridge.db') },
    dispatcher: { batchSize: 100, concurrency: 4, maxAttempts: 12, pollIntervalMs: 20 },
    log: { level: 'warn', pretty: false },
    ...overrides,
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An 18-character Contact ID for a number, valid checksum included. */
export function contactId(n: number): string {
  return to18(`0035g0000${String(n).padStart(6, '0')}`);
}
