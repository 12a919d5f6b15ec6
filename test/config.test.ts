// Rule: a bad config stops start-up with one ConfigError whose message names every bad dotted key and its value (never a secret's), and a good one loads into a frozen, fully defaulted object.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/core/errors.ts';
import { credentialStatus, load, parseConfig, readConfigFile, resolveConfigPath, DEFAULT_CONFIG_PATH } from '../src/config/load.ts';
import { endpointProblem, isMarketingCloudHost } from '../src/config/checks.ts';
import { schemaText, SCHEMA_FILE } from '../src/config/write-schema.ts';

const ENV = {
  SF_INSTANCE_URL: 'https://acme.my.salesforce.com',
  SF_ACCESS_TOKEN: '00D5g000000abcd!AQ0AQsecret-token-value',
  MC_AUTH_BASE_URL: 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com',
  MC_CLIENT_ID: 'client-id',
  MC_CLIENT_SECRET: 'client-secret-value',
};

/** A minimal valid config; `patch` replaces top-level sections. */
function config(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    channels: [{ name: '/data/ContactChangeEvent' }],
    routes: [
      {
        name: 'contact-welcome',
        channel: '/data/ContactChangeEvent',
        target: { type: 'journey', eventDefinitionKey: 'APIEvent-1' },
        mapping: { data: { Email: 'Email' }, required: ['Email'] },
      },
    ],
    ...patch,
  };
}

function route(patch: Record<string, unknown>): Record<string, unknown> {
  return { ...(config().routes as object[])[0], ...patch };
}

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the shipped config', () => {
  it('loads with every variable set, defaults filled and deeply frozen', () => {
    const loaded = load('config/bridge.json', ENV);
    expect(loaded.salesforce.instanceUrl).toBe(ENV.SF_INSTANCE_URL);
    expect(loaded.salesforce.auth).toEqual({ method: 'access_token', accessToken: ENV.SF_ACCESS_TOKEN });
    expect(loaded.marketingCloud.clientSecret).toBe(ENV.MC_CLIENT_SECRET);
    expect(loaded.channels[0]).toEqual({ name: '/data/ContactChangeEvent', replayFrom: -1, replayFallback: -2, recordIdField: 'Record_Id__c' });
    expect(loaded.routes[0]!.target).toEqual({ type: 'journey', eventDefinitionKey: 'APIEvent-contact-welcome', mode: 'batch' });
    expect(Object.isFrozen(loaded)).toBe(true);
    expect(Object.isFrozen(loaded.routes[0]!.mapping!.data)).toBe(true);
  });

  it('reports missing and set credentials without throwing, so start can choose between the demo and exit 2', () => {
    const status = credentialStatus('config/bridge.json', {});
    expect(status.complete).toBe(false);
    expect(status.missing).toContainEqual({ key: 'marketingCloud.clientSecret', variable: 'MC_CLIENT_SECRET' });
    expect(status.missing).toHaveLength(5);
    expect(status.set).toEqual([]);
    expect(credentialStatus('config/bridge.json', ENV).complete).toBe(true);
    expect(credentialStatus('config/bridge.json', { MC_CLIENT_ID: 'c' }).set).toEqual([{ key: 'marketingCloud.clientId', variable: 'MC_CLIENT_ID' }]);
  });

  it('fills every default from an almost empty config', () => {
    const parsed = parseConfig({});
    expect(parsed.dispatcher).toMatchObject({ batchSize: 100, concurrency: 4, maxAttempts: 12, pollIntervalMs: 50, keepAliveMs: 4000 });
    expect(parsed.dispatcher.keepAliveMs).toBeLessThan(5000);
    expect(parsed.store).toEqual({ kind: 'sqlite', path: 'data/bridge.db', retentionDays: 30 });
    expect(parsed.admin).toEqual({ enabled: false, host: '127.0.0.1', port: 9464, probesOnly: false });
    expect(parsed.shutdownTimeoutMs).toBe(8000);
    expect(parsed.log).toEqual({ level: 'info', pretty: 'auto', allowPersonalData: false });
    expect(parsed.marketingCloud.clientSecret).toEqual({ env: 'MC_CLIENT_SECRET' });
    expect(parsed.subscriber.maxBacklog).toBe(20000);
  });
});

describe('secrets', () => {
  it('refuses a literal secret, naming the key but never the value', () => {
    const err = configError(() => load(config({ marketingCloud: { clientSecret: 'hunter2-super-secret' } }), ENV));
    expect(err.key).toBe('marketingCloud.clientSecret');
    expect(err.message).toMatch(/^marketingCloud\.clientSecret: is a literal secret/);
    expect(err.message).toContain('{"env": "MC_CLIENT_SECRET"}');
    expect(err.message).not.toContain('hunter2');
  });

  it('refuses a literal access token the same way', () => {
    const err = configError(() => parseConfig(config({ salesforce: { auth: { method: 'access_token', accessToken: '00D!secret' } } })));
    expect(err.message).toMatch(/^salesforce\.auth\.accessToken: is a literal secret/);
    expect(err.message).not.toContain('00D!secret');
  });

  it('names the key and the variable when a referenced variable is not set', () => {
    const err = configError(() => load(config(), { ...ENV, MC_CLIENT_SECRET: undefined }));
    expect(err.message).toBe('marketingCloud.clientSecret: environment variable MC_CLIENT_SECRET is not set');
  });

  it('treats an empty variable as not set', () => {
    const err = configError(() => load(config(), { ...ENV, SF_ACCESS_TOKEN: '' }));
    expect(err.message).toContain('salesforce.auth.accessToken: environment variable SF_ACCESS_TOKEN is not set');
  });
});

describe('endpoints', () => {
  it('refuses a Marketing Cloud host outside marketingcloudapis.com', () => {
    const err = configError(() => parseConfig(config({ marketingCloud: { authBaseUrl: 'https://auth.example.com' } })));
    expect(err.message).toBe('marketingCloud.authBaseUrl: "https://auth.example.com": host "auth.example.com" is not under marketingcloudapis.com');
  });

  it('refuses a look-alike host that only contains the domain', () => {
    expect(endpointProblem('https://mcx.auth.marketingcloudapis.com.evil.io', 'marketingCloud')).toMatch(/not under marketingcloudapis\.com/);
    expect(isMarketingCloudHost('evilmarketingcloudapis.com')).toBe(false);
    expect(isMarketingCloudHost('MC1.REST.MARKETINGCLOUDAPIS.COM')).toBe(true);
  });

  it('refuses http to any host but 127.0.0.1 and localhost', () => {
    const err = configError(() => parseConfig(config({ salesforce: { instanceUrl: 'http://acme.my.salesforce.com' } })));
    expect(err.message).toBe(
      'salesforce.instanceUrl: "http://acme.my.salesforce.com" must use https (http is allowed only for 127.0.0.1 and localhost)',
    );
  });

  it('applies the same rules to a URL that comes from the environment', () => {
    const err = configError(() => load(config(), { ...ENV, MC_AUTH_BASE_URL: 'http://10.0.0.5:8080' }));
    expect(err.message).toBe(
      'marketingCloud.authBaseUrl: from MC_AUTH_BASE_URL: "http://10.0.0.5:8080" must use https (http is allowed only for 127.0.0.1 and localhost)',
    );
  });

  it('accepts loopback emulators over http', () => {
    const loaded = load(
      config({
        salesforce: { instanceUrl: 'http://127.0.0.1:4010' },
        marketingCloud: { authBaseUrl: 'http://localhost:4020' },
      }),
      ENV,
    );
    expect(loaded.salesforce.instanceUrl).toBe('http://127.0.0.1:4010');
    expect(loaded.marketingCloud.authBaseUrl).toBe('http://localhost:4020');
  });

  it('refuses URLs that carry credentials or are not URLs', () => {
    expect(endpointProblem('https://user:pw@acme.my.salesforce.com', 'salesforce')).toMatch(/must not carry credentials/);
    expect(endpointProblem('acme.my.salesforce.com', 'salesforce')).toBe('"acme.my.salesforce.com" is not an absolute URL');
    expect(endpointProblem('ftp://acme.my.salesforce.com', 'salesforce')).toMatch(/must use https/);
  });
});

describe('admin listener exposure', () => {
  it('refuses a non-loopback host without a token, naming admin.token and the host', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
      const err = configError(() => parseConfig(config({ admin: { enabled: true, host } })));
      expect(err.key).toBe('admin.token');
      expect(err.message).toContain(`admin.host is ${JSON.stringify(host)}`);
      expect(err.message).toContain('admin.probesOnly');
    }
  });

  it('accepts a non-loopback host with a token, or with probesOnly; loopback needs neither', () => {
    expect(parseConfig(config({ admin: { enabled: true, host: '0.0.0.0', token: { env: 'SFMC_BRIDGE_ADMIN_TOKEN' } } })).admin.host).toBe('0.0.0.0');
    expect(parseConfig(config({ admin: { enabled: true, host: '0.0.0.0', probesOnly: true } })).admin.probesOnly).toBe(true);
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1'])
      expect(parseConfig(config({ admin: { enabled: true, host } })).admin.host).toBe(host);
  });
});

describe('routes', () => {
  it('refuses a route on an undeclared channel', () => {
    const err = configError(() => parseConfig(config({ routes: [route({ channel: '/data/LeadChangeEvent' })] })));
    expect(err.message).toBe('routes[0].channel: "/data/LeadChangeEvent" is not a declared channel (declared: "/data/ContactChangeEvent")');
  });

  it('refuses duplicate route names', () => {
    const err = configError(() => parseConfig(config({ routes: [route({}), route({})] })));
    expect(err.message).toBe('routes[1].name: "contact-welcome" is already used by routes[0]');
  });

  it('refuses both mapping and mapper, and neither', () => {
    const both = configError(() => parseConfig(config({ routes: [route({ mapper: 'journey-entry-event' })] })));
    expect(both.message).toBe('routes[0].mapper: "journey-entry-event" given together with `mapping`: give one of them');
    const neither = configError(() => parseConfig(config({ routes: [route({ mapping: undefined })] })));
    expect(neither.message).toBe('routes[0]: route "contact-welcome" needs `mapping` or `mapper`');
  });

  it('refuses an empty event definition key, naming the key and the value', () => {
    const err = configError(() => parseConfig(config({ routes: [route({ target: { type: 'journey', eventDefinitionKey: ' ' } })] })));
    expect(err.key).toBe('routes[0].target.eventDefinitionKey');
    expect(err.message).toBe('routes[0].target.eventDefinitionKey: must not be empty (got " ")');
  });

  it('refuses an unknown change type, naming its position and value', () => {
    const err = configError(() => parseConfig(config({ routes: [route({ changeTypes: ['CREATE', 'UPSERT'] })] })));
    expect(err.message).toMatch(/^routes\[0\]\.changeTypes\[1\]: Invalid option: .*"CREATE".* \(got "UPSERT"\)$/);
  });

  it('refuses a required field that is not a key of mapping.data', () => {
    const err = configError(() => parseConfig(config({ routes: [route({ mapping: { data: { Email: 'Email' }, required: ['Phone'] } })] })));
    expect(err.message).toBe('routes[0].mapping.required[0]: "Phone" is not a key of mapping.data');
  });

  it('refuses changedFields on a platform event channel, where it could never match', () => {
    const err = configError(() =>
      parseConfig(
        config({
          channels: [{ name: '/event/MC_Journey_Entry__e' }],
          routes: [route({ channel: '/event/MC_Journey_Entry__e', changedFields: ['Email'] })],
        }),
      ),
    );
    expect(err.message).toMatch(/^routes\[0\]\.changedFields: \["Email"\] given for platform event channel/);
  });

  it('refuses a duplicate channel', () => {
    const err = configError(() => parseConfig(config({ channels: [{ name: '/data/ContactChangeEvent' }, { name: '/data/ContactChangeEvent' }] })));
    expect(err.message).toBe('channels[1].name: "/data/ContactChangeEvent" is already declared at channels[0]');
  });
});

describe('schema errors', () => {
  it('collects every problem into one message, one "key: problem (value)" per line', () => {
    const err = configError(() =>
      parseConfig(
        config({
          dispatcher: { batchSize: 500, concurency: 2 },
          channels: [{ name: 'ContactChangeEvent', replayFrom: 5 }],
          log: { level: 'loud' },
        }),
      ),
    );
    const lines = err.message.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'dispatcher.batchSize: Too big: expected number to be <=100 (got 500)',
        'dispatcher: Unrecognized key: "concurency"',
        'channels[0].replayFrom: must be -1 (new events only) or -2 (all retained events) (got 5)',
        expect.stringMatching(/^channels\[0\]\.name: must be a channel such as .* \(got "ContactChangeEvent"\)$/),
        expect.stringMatching(/^log\.level: Invalid option: .* \(got "loud"\)$/),
      ]),
    );
    expect(lines).toHaveLength(5);
  });

  it('names a missing required field', () => {
    const err = configError(() => parseConfig(config({ routes: [{ name: 'r', channel: '/data/ContactChangeEvent', mapper: 'x' }] })));
    expect(err.message).toBe('routes[0].target: is required (expected object)');
  });

  it('names an unknown auth method by its value', () => {
    const err = configError(() => parseConfig(config({ salesforce: { auth: { method: 'password' } } })));
    expect(err.message).toMatch(/^salesforce\.auth\.method: .*access_token.* \(got "password"\)$/);
  });
});

describe('config files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfmc-bridge-config-'));

  it('names an unreadable or malformed file', () => {
    expect(configError(() => readConfigFile(join(dir, 'absent.json'))).message).toMatch(/cannot read ".*absent\.json" \(ENOENT\)/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"channels": [');
    expect(configError(() => load(bad, ENV)).message).toMatch(/bad\.json" is not valid JSON/);
  });

  it('finds the file: --config > SFMC_BRIDGE_CONFIG > config/bridge.json', () => {
    const env = { SFMC_BRIDGE_CONFIG: '/etc/bridge.json' };
    expect(resolveConfigPath(['start', '--config', 'a.json'], env)).toBe('a.json');
    expect(resolveConfigPath(['start', '--config=b.json'], env)).toBe('b.json');
    expect(resolveConfigPath(['start'], env)).toBe('/etc/bridge.json');
    expect(resolveConfigPath(['start'], {})).toBe(DEFAULT_CONFIG_PATH);
    expect(resolveConfigPath('c.json', env)).toBe('c.json');
    expect(resolveConfigPath(undefined, {})).toBe('config/bridge.json');
    expect(configError(() => resolveConfigPath(['start', '--config'], {})).key).toBe('--config');
  });
});

describe('JSON Schema', () => {
  it('the committed config/bridge.schema.json is the one the zod schema generates (run `npm run schema`)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaText());
  });

  it('documents every field', () => {
    const schema = JSON.parse(schemaText());
    const undocumented: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [name, child] of Object.entries(props ?? {})) {
        if (typeof child.description !== 'string') undocumented.push(`${path}.${name}`);
        walk(child, `${path}.${name}`);
        if (child.items) walk(child.items as Record<string, unknown>, `${path}.${name}[]`);
        for (const option of (child.oneOf ?? child.anyOf ?? []) as Record<string, unknown>[]) walk(option, `${path}.${name}`);
      }
    };
    walk(schema, '');
    expect(undocumented).toEqual([]);
  });
});
