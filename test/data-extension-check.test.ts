// `check` with credentials reads a data extension's fields from Marketing Cloud (SOAP DataExtensionField retrieve) and names, by config key, every mapped column that does not exist, every required field the route never fills and a primary key that differs from the route's.
import { startMcEmulator, type McEmulator } from '../src/emulators/mc/index.ts';
import { load } from '../src/config/load.ts';
import { probeMarketingCloud } from '../src/metadata/org-probe.ts';
import { McTokenManager } from '../src/delivery/mc/auth.ts';
import { McRestClient } from '../src/delivery/mc/http.ts';
import { readDataExtensionFields } from '../src/delivery/mc/de-fields.ts';

const ID = 'de-check-client';
const SECRET = 'de-check-secret-0000';
const KEY = 'Contacts_Sendable';

let emu: McEmulator;
beforeAll(async () => {
  emu = await startMcEmulator({
    clientId: ID,
    clientSecret: SECRET,
    dataExtensions: [
      {
        key: KEY,
        fields: [
          { name: 'ContactKey', type: 'Text', isPrimaryKey: true, maxLength: 18 },
          { name: 'Email', type: 'EmailAddress', isRequired: true },
          { name: 'LastName', type: 'Text' },
          { name: 'Region', type: 'Text', isRequired: true },
          { name: 'Score', type: 'Decimal' },
        ],
      },
    ],
  });
});
afterAll(() => emu.close());

function config(target: Record<string, unknown>, data: Record<string, string>) {
  return load(
    {
      channels: [{ name: '/data/ContactChangeEvent' }],
      routes: [
        { name: 'contacts-de', channel: '/data/ContactChangeEvent', target: { type: 'dataExtension', key: KEY, ...target }, mapping: { data } },
      ],
    },
    {
      MC_AUTH_BASE_URL: emu.authBaseUrl,
      MC_CLIENT_ID: ID,
      MC_CLIENT_SECRET: SECRET,
      SF_INSTANCE_URL: 'http://127.0.0.1:1',
      SF_ACCESS_TOKEN: '00Dxx!x',
    },
  );
}

test('the fields come back through the SOAP retrieve, with types, keys and required flags', async () => {
  const client = new McRestClient(new McTokenManager({ authBaseUrl: emu.authBaseUrl, clientId: ID, clientSecret: SECRET }));
  try {
    const fields = await readDataExtensionFields(client, KEY);
    expect(fields.map((f) => [f.name, f.type, f.isPrimaryKey, f.isRequired])).toEqual([
      ['ContactKey', 'Text', true, true],
      ['Email', 'EmailAddress', false, true],
      ['LastName', 'Text', false, false],
      ['Region', 'Text', false, true],
      ['Score', 'Decimal', false, false],
    ]);
    expect(await readDataExtensionFields(client, 'No_Such_DE')).toEqual([]);
  } finally {
    await client.close();
  }
});

test('a route that matches its data extension passes', async () => {
  const findings = await probeMarketingCloud(
    config(
      { fieldTypes: { Email: 'EmailAddress', Score: 'Decimal' } },
      { Email: 'Email', LastName: 'LastName', Region: 'MailingState', Score: 'Score__c' },
    ),
  );
  expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
  expect(findings).toEqual(
    expect.arrayContaining([expect.objectContaining({ rule: 'de-fields', message: expect.stringContaining('match its 5 fields') })]),
  );
});

test('an unknown column, a required field never filled, a wrong primary key and a type mismatch are named by key', async () => {
  const findings = await probeMarketingCloud(
    config(
      { primaryKey: ['LastName'], fieldTypes: { Score: 'Number' } },
      { Email: 'Email', LastName: 'LastName', Phone: 'MobilePhone', Score: 'Score__c' },
    ),
  );
  const de = findings.filter((f) => f.rule === 'de-fields');
  expect(de).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        severity: 'error',
        key: 'routes[0].mapping.data.Phone',
        message: expect.stringContaining('"Phone" is not a field of data extension Contacts_Sendable'),
      }),
      expect.objectContaining({ severity: 'error', key: 'routes[0].mapping.data', message: expect.stringContaining('required field Region') }),
      expect.objectContaining({
        severity: 'error',
        key: 'routes[0].target.primaryKey',
        message: expect.stringContaining('primary key of data extension Contacts_Sendable is ContactKey'),
      }),
      expect.objectContaining({ severity: 'warning', key: 'routes[0].target.fieldTypes.Score', message: expect.stringContaining('Decimal') }),
    ]),
  );
  expect(de.filter((f) => f.severity === 'error')).toHaveLength(3);
});

test('a data extension key that does not exist is an error on target.key', async () => {
  const findings = await probeMarketingCloud(config({ key: 'Contacts_Typo' }, { Email: 'Email' }));
  expect(findings).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        severity: 'error',
        rule: 'de-fields',
        key: 'routes[0].target.key',
        message: expect.stringContaining('"Contacts_Typo" has no fields visible'),
      }),
    ]),
  );
});
