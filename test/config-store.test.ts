// Rule: the store section chooses SQLite or Postgres; the Postgres URL comes only from the environment (it may hold a password) and is never shown in an error.
import { ConfigError } from '../src/core/errors.ts';
import { load, parseConfig } from '../src/config/load.ts';

const ENV = {
  SF_INSTANCE_URL: 'https://acme.my.salesforce.com',
  SF_ACCESS_TOKEN: '00D5g000000abcd!AQ0AQsecret-token-value',
  MC_AUTH_BASE_URL: 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com',
  MC_CLIENT_ID: 'client-id',
  MC_CLIENT_SECRET: 'client-secret-value',
  DATABASE_URL: 'postgres://bridge:s3cret-pw@db.internal:5432/bridge',
};

function config(store: unknown): Record<string, unknown> {
  return { channels: [{ name: '/data/ContactChangeEvent' }], store };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

test('a postgres store gets every default and its URL from DATABASE_URL', () => {
  const c = load(config({ kind: 'postgres' }), ENV);
  expect(c.store).toEqual({
    kind: 'postgres',
    url: ENV.DATABASE_URL,
    schema: 'sfmc_bridge',
    poolSize: 10,
    claimLeaseMs: 30000,
    synchronousCommit: false,
    takeoverMs: 10000,
    retentionDays: 30,
  });
});

test('the store stays SQLite when the section is left out', () => {
  expect(parseConfig(config(undefined)).store).toEqual({ kind: 'sqlite', path: 'data/bridge.db', retentionDays: 30 });
});

test('a literal database URL is refused without showing it', () => {
  const err = configError(() => parseConfig(config({ kind: 'postgres', url: ENV.DATABASE_URL })));
  expect(err.message).toContain('store.url');
  expect(err.message).toContain('{"env": "DATABASE_URL"}');
  expect(err.message).not.toContain('s3cret-pw');
});

test('a missing DATABASE_URL, a bad schema name and a too short takeover bound are each named', () => {
  const { DATABASE_URL: _, ...withoutUrl } = ENV;
  const err = configError(() => load(config({ kind: 'postgres', schema: 'Bridge; DROP', takeoverMs: 10 }), withoutUrl));
  expect(err.message).toContain('store.schema');
  expect(err.message).toContain('store.takeoverMs');
  const missing = configError(() => load(config({ kind: 'postgres' }), withoutUrl));
  expect(missing.message).toContain('store.url: environment variable DATABASE_URL is not set');
});
