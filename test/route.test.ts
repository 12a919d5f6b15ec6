// Rule: an event selects exactly the routes whose channel, entity, change type and changed fields match, each selected route yields actions with stable, distinct idempotency keys or a dead letter naming the field, a mapper is found in the project's mappers/ before the shipped ones, and a mapper that cannot be loaded is a ConfigError at start-up.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileRoutes } from '../src/route/routes.ts';
import { builtinMappers, defaultMapperDirs, loadMapper, loadMappers, MAPPERS_DIR, type MapperRegistry } from '../src/route/mapper-loader.ts';
import { normalize } from '../src/normalize/events.ts';
import { parseConfig } from '../src/config/load.ts';
import { correlationIdOf, idempotencyKey, NORMALIZE_ROUTE } from '../src/normalize/idempotency.ts';
import { ConfigError, Code } from '../src/core/errors.ts';
import { sizeProblem, surelyFits } from '../src/route/mapping-checks.ts';
import type { BridgeConfig } from '../src/config/schema.ts';
import type { JourneyEntryPayload, NormalizedEvent, RawEvent } from '../src/core/model.ts';
import { changeEvent, channel, platformEvent } from './helpers/cdc.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/mappers/', import.meta.url));
const CONTACT = '0035g00000XyZabAAF';

/** A parsed config (defaults filled) with the given routes on the Contact and admin-event channels. */
function routes(...list: Record<string, unknown>[]): BridgeConfig {
  return parseConfig({
    channels: [{ name: '/data/ContactChangeEvent' }, { name: '/data/ChangeEvents' }, { name: '/event/MC_Journey_Entry__e' }],
    routes: list.map((r, i) => ({
      name: `r${i}`,
      channel: '/data/ContactChangeEvent',
      target: { type: 'journey', eventDefinitionKey: `APIEvent-${i}` },
      ...(r.mapper === undefined ? { mapping: { data: { Email: 'Email' } } } : {}),
      ...r,
    })),
  }) as unknown as BridgeConfig;
}

function eventOf(raw: RawEvent): NormalizedEvent {
  const { events, deadLetters } = normalize(raw, channel(raw.channel));
  expect(deadLetters).toEqual([]);
  return events[0]!;
}

function selected(config: BridgeConfig, raw: RawEvent, mappers: MapperRegistry = builtinMappers()): string[] {
  const { actions, deadLetters } = compileRoutes(config, mappers).route(eventOf(raw));
  return [...actions.map((a) => a.route), ...deadLetters.map((d) => `${d.route}:${d.code}`)];
}

describe('selection', () => {
  it('selects by channel', () => {
    const config = routes({}, { channel: '/data/ChangeEvents' });
    expect(selected(config, changeEvent())).toEqual(['r0']);
    expect(selected(config, changeEvent({ channel: '/data/ChangeEvents' }))).toEqual(['r1']);
  });

  it('selects by change type, a listed type also selecting its gap twin', () => {
    const config = routes({ changeTypes: ['CREATE'] }, { changeTypes: ['UPDATE'] }, { changeTypes: ['DELETE'] }, { changeTypes: [] });
    expect(selected(config, changeEvent({ header: { changeType: 'CREATE', changedFields: [] } }))).toEqual(['r0', 'r3']);
    expect(selected(config, changeEvent())).toEqual(['r1', 'r3']);
    // A gap event has no field data, so the declarative mapping dead-letters it (until enrichment fills it).
    expect(selected(config, changeEvent({ header: { changeType: 'GAP_UPDATE', changedFields: [] }, fields: {} }))).toEqual(['r1', 'r3']);
  });

  it('tells the enrichment stage the routes routing would map, in config order, the same list for the same selection', () => {
    const config = routes({ changeTypes: ['CREATE'] }, { changeTypes: ['UPDATE'] }, { changeTypes: [] }, { channel: '/data/ChangeEvents' });
    const router = compileRoutes(config, builtinMappers());
    const names = (raw: RawEvent) => router.selects(eventOf(raw)).map((r) => r.name);
    expect(names(changeEvent({ header: { changeType: 'CREATE', changedFields: [] } }))).toEqual(['r0', 'r2']);
    expect(names(changeEvent())).toEqual(['r1', 'r2']);
    expect(names(changeEvent({ channel: '/data/ChangeEvents' }))).toEqual(['r3']);
    expect(names(changeEvent({ channel: '/data/LeadChangeEvent' }))).toEqual([]);
    const one = router.selects(eventOf(changeEvent({ replayId: '1' })));
    expect(router.selects(eventOf(changeEvent({ replayId: '2' })))).toBe(one);
    expect(Object.isFrozen(one)).toBe(true);
  });

  it('selects by changed fields in either naming form', () => {
    const config = routes(
      { changedFields: ['Email'] },
      { changedFields: ['LastName'] },
      { changedFields: ['Name.FirstName'] },
      { changedFields: ['Phone'] },
    );
    const raw = changeEvent({
      header: { changedFields: ['Email', 'Name.LastName', 'Name.FirstName'] },
      fields: { Email: 'jane@example.com', Name: { FirstName: 'Jane', LastName: 'Doe' } },
    });
    expect(selected(config, raw)).toEqual(['r0', 'r1', 'r2']);
  });

  it('on CREATE (no changedFields from Salesforce) selects when the event carries a value for a listed field', () => {
    const config = routes({ changedFields: ['Email'] }, { changedFields: ['Phone'] }, { changedFields: ['Name.LastName'] });
    const raw = changeEvent({
      header: { changeType: 'CREATE', changedFields: [] },
      fields: { Email: 'jane@example.com', Name: { LastName: 'Doe' } },
    });
    expect(selected(config, raw)).toEqual(['r0', 'r2']);
  });

  it('selects by entity on /data/ChangeEvents', () => {
    const config = routes({ channel: '/data/ChangeEvents', entities: ['Lead'] }, { channel: '/data/ChangeEvents', entities: ['Contact'] });
    expect(selected(config, changeEvent({ channel: '/data/ChangeEvents' }))).toEqual(['r1']);
  });

  it('dead-letters an event without record IDs once per interested route, so the resync is visible', () => {
    const config = routes({ changeTypes: ['UPDATE'] }, { channel: '/data/ChangeEvents' });
    const { actions, deadLetters } = compileRoutes(config, builtinMappers()).route(
      eventOf(changeEvent({ header: { changeType: 'GAP_OVERFLOW', recordIds: [] }, fields: {} })),
    );
    expect(actions).toEqual([]);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ route: 'r0', code: Code.RESYNC_REQUIRED, recordId: '' });
    expect(deadLetters[0]!.reason).toBe(
      'Contact GAP_OVERFLOW on /data/ContactChangeEvent names no records (wildcard IDs or overflow): route "r0" needs a resync of Contact',
    );
  });
});

describe('the declarative journey-entry mapper', () => {
  it('maps flattened and dotted paths into one entry keyed by the 18-character ID', () => {
    const config = routes({
      target: { type: 'journey', eventDefinitionKey: 'APIEvent-welcome', mode: 'single' },
      mapping: {
        data: { EmailAddress: 'Email', First: 'FirstName', Last: 'Name.LastName', City: 'MailingAddress.City', Missing: 'Phone' },
        required: ['EmailAddress'],
      },
    });
    const raw = changeEvent({
      header: { recordIds: ['0035g00000XyZab'], changedFields: ['Email'] },
      fields: { Email: 'jane@example.com', Name: { FirstName: 'Jane', LastName: 'Doe' }, MailingAddress: { City: 'Lyon' } },
    });
    const { actions, deadLetters } = compileRoutes(config, builtinMappers()).route(eventOf(raw));
    expect(deadLetters).toEqual([]);
    expect(actions).toEqual([
      {
        idempotencyKey: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        route: 'r0',
        target: 'journey',
        mode: 'single',
        batchKey: 'APIEvent-welcome',
        payload: {
          eventDefinitionKey: 'APIEvent-welcome',
          contactKey: CONTACT,
          data: { EmailAddress: 'jane@example.com', First: 'Jane', Last: 'Doe', City: 'Lyon' },
        },
        correlationId: expect.stringMatching(/^[0-9a-f]{16}$/),
        channel: '/data/ContactChangeEvent',
        replayId: '123456',
        recordId: CONTACT,
        contactKey: CONTACT,
        receivedAt: 1_760_000_000_000,
        changeType: 'UPDATE',
      },
    ]);
  });

  it('sends a field the change cleared as null', () => {
    const config = routes({ changedFields: ['Email'], mapping: { data: { Email: 'Email', Phone: 'Phone' } } });
    const raw = changeEvent({ header: { changedFields: ['Email', 'Phone'] }, fields: { Email: 'jane@example.com' } });
    expect((compileRoutes(config, builtinMappers()).route(eventOf(raw)).actions[0]!.payload as JourneyEntryPayload).data).toEqual({
      Email: 'jane@example.com',
      Phone: null,
    });
  });

  it('dead-letters an event whose required field is missing, naming the field and the record', () => {
    const config = routes({ mapping: { data: { Email: 'Email', Last: 'Name.LastName' }, required: ['Email', 'Last'] } });
    const raw = changeEvent({ header: { changedFields: ['Title'] }, fields: { Title: 'CEO' } });
    const { actions, deadLetters } = compileRoutes(config, builtinMappers()).route(eventOf(raw));
    expect(actions).toEqual([]);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ route: 'r0', code: Code.MAPPING_MISSING_FIELD, recordId: CONTACT, contactKey: CONTACT });
    expect(deadLetters[0]!.reason).toBe(
      `route "r0": required fields "Email", "Last" (from Name.LastName) missing on Contact ${CONTACT} (UPDATE); an UPDATE carries only the fields it changed`,
    );
  });
});

describe('custom mappers', () => {
  it('loads mappers/<name>.ts by name and routes platform events through it', async () => {
    const config = routes({ channel: '/event/MC_Journey_Entry__e', mapper: 'journey-entry-event', mapping: undefined });
    const mappers = await loadMappers(config);
    expect(mappers.has('journey-entry-event')).toBe(true);
    const raw = platformEvent({ eventUuid: '2ec0e371-1395-457f-9275-be1b527a72f7' });
    const { actions } = compileRoutes(config, mappers).route(eventOf(raw));
    expect(actions).toHaveLength(1);
    expect(actions[0]!.payload).toEqual({ eventDefinitionKey: 'APIEvent-admin', contactKey: CONTACT, data: { Email: 'jane@example.com' } });
    expect(actions[0]!.batchKey).toBe('APIEvent-admin');
  });

  it('dead-letters what the example mapper cannot use, naming the field', async () => {
    const config = routes({ channel: '/event/MC_Journey_Entry__e', mapper: 'journey-entry-event', mapping: undefined });
    const router = compileRoutes(config, await loadMappers(config));
    const raw = platformEvent({ payload: { Record_Id__c: '0035g00000XyZab', Data__c: '{"Email":' } });
    const { deadLetters } = router.route(eventOf(raw));
    expect(deadLetters[0]).toMatchObject({ code: 'MAPPING_BAD_VALUE' });
    expect(deadLetters[0]!.reason).toMatch(/^Data__c on MC_Journey_Entry__e for 0035g00000XyZabAAF is not valid JSON/);
  });

  it('is a ConfigError naming the route key when the module or its default export is missing, or it fails to load', async () => {
    const missing = routes({ mapper: 'no-such-mapper', mapping: undefined });
    await expect(loadMappers(missing)).rejects.toThrow(ConfigError);
    await expect(loadMappers(missing)).rejects.toThrow(/^routes\[0\]\.mapper: "no-such-mapper": no mapper module no-such-mapper\.ts/);
    await expect(loadMapper('no-default', 'routes[3].mapper', FIXTURES)).rejects.toThrow(
      /^routes\[3\]\.mapper: "no-default": .*no-default\.ts must export a mapper function as its default export \(found undefined\)$/,
    );
    await expect(loadMapper('fails-to-load', 'routes[1].mapper', FIXTURES)).rejects.toThrow(
      /^routes\[1\]\.mapper: "fails-to-load": .* failed to load: mapper module exploded at import$/,
    );
    await expect(loadMapper('../src/ids', 'routes[0].mapper')).rejects.toThrow(/is not a mapper module name/);
  });

  it("looks a mapper up in the project's own mappers/ (the working directory's) first, then among the shipped ones", async () => {
    const project = mkdtempSync(join(tmpdir(), 'mappers-'));
    try {
      // A packaged install: the project has its own mappers/, the shipped ones live in the package.
      mkdirSync(join(project, 'mappers'));
      writeFileSync(join(project, 'mappers', 'welcome.js'), 'export default () => [];\n');
      writeFileSync(join(project, 'mappers', 'send-event.js'), 'export default () => "the project\'s own";\n');
      const dirs = defaultMapperDirs(project);
      const route = routes({}).routes[0]!;
      expect(dirs.map((d) => fileURLToPath(d))).toEqual([join(project, 'mappers/'), fileURLToPath(MAPPERS_DIR)]);
      expect((await loadMapper('welcome', 'routes[0].mapper', dirs))(eventOf(changeEvent()), route)).toEqual([]);
      expect((await loadMapper('send-event', 'routes[0].mapper', dirs))(eventOf(changeEvent()), route)).toBe("the project's own");
      expect(await loadMapper('journey-entry-event', 'routes[0].mapper', dirs)).toBe((await import('../mappers/journey-entry-event.ts')).default);
      await expect(loadMapper('nowhere', 'routes[2].mapper', dirs)).rejects.toThrow(
        `routes[2].mapper: "nowhere": no mapper module nowhere.ts (or .js) in ${join(project, 'mappers/')} or ${fileURLToPath(MAPPERS_DIR)}`,
      );
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('is a ConfigError when a route names a mapper that was not loaded', () => {
    expect(() => compileRoutes(routes({ mapper: 'journey-entry-event', mapping: undefined }), builtinMappers())).toThrow(
      /^routes\[0\]\.mapper: mapper "journey-entry-event" is not loaded/,
    );
  });

  it('turns a mapper that throws or returns a bad action into a dead letter, keeping its good actions', async () => {
    const config = routes({ name: 'buggy', mapper: 'throws', mapping: undefined }, { name: 'half', mapper: 'bad-result', mapping: undefined });
    const mappers = await loadMappers(config, { dir: FIXTURES });
    const { actions, deadLetters } = compileRoutes(config, mappers).route(eventOf(changeEvent()));
    expect(actions.map((a) => [a.route, a.mode])).toEqual([['half', 'single']]);
    expect(deadLetters.map((d) => [d.route, d.code])).toEqual([
      ['buggy', Code.MAPPER_FAILED],
      ['half', Code.MAPPER_INVALID_RESULT],
    ]);
    expect(deadLetters[0]!.reason).toBe('route "buggy": mapper "throws" threw: cannot read properties of undefined (reading "Email")');
    expect(deadLetters[1]!.reason).toBe('route "half": mapper "bad-result" action [1] payload.contactKey: expected a non-empty string, got ""');
  });

  it('gives several actions of one event distinct keys and canonical 18-character contact keys', async () => {
    const config = routes({ mapper: 'two-journeys', mapping: undefined });
    const { actions } = compileRoutes(config, await loadMappers(config, { dir: FIXTURES })).route(eventOf(changeEvent()));
    expect(actions.map((a) => [a.batchKey, a.contactKey, a.payload.contactKey])).toEqual([
      ['APIEvent-a', CONTACT, CONTACT],
      ['APIEvent-b', CONTACT, CONTACT],
    ]);
    expect(actions[0]!.idempotencyKey).not.toBe(actions[1]!.idempotencyKey);
  });
});

describe('idempotency keys', () => {
  const base = {
    channel: '/data/ContactChangeEvent',
    replayId: '123456',
    kind: 'change' as const,
    transactionKey: 'tx-1',
    sequenceNumber: 1,
    recordId: CONTACT,
    commitTimestamp: 1763900000123,
  };

  it('are stable: the recipe is pinned (changing it re-keys every action in flight)', () => {
    expect(idempotencyKey(base, 'contact-welcome')).toBe(idempotencyKey({ ...base }, 'contact-welcome'));
    // The commitTimestamp in 11 hex digits, then the first 32 characters of
    // base64url(sha256("v2\n/data/ContactChangeEvent\nt:tx-1:1\n0035g00000XyZabAAF\ncontact-welcome")), checked with openssl.
    expect(idempotencyKey(base, 'contact-welcome')).toBe('19ab0a2077bXacBEjs6s9hPXwt2O54Q14HXDHf4LHk7');
    expect(idempotencyKey({ ...base, commitTimestamp: undefined }, 'contact-welcome')).toBe('00000000000XacBEjs6s9hPXwt2O54Q14HXDHf4LHk7');
  });

  it('keep their pinned values for every identity form, action index and time (stored keys must match after any rewrite)', () => {
    const pe = { channel: '/event/MC_Journey_Entry__e', replayId: '2', kind: 'platform' as const, recordId: CONTACT };
    // Index 1: base64url(sha256("v2\n/data/ContactChangeEvent\nt:tx-1:1\n0035g00000XyZabAAF\ncontact-welcome\n1")), checked with openssl.
    expect(idempotencyKey(base, 'contact-welcome', 1)).toBe('19ab0a2077bpovV6Y2cZDd4yq3QrWuEQ4F3rRSHCIMF');
    expect(idempotencyKey(base, 'contact-welcome', 12)).toBe('19ab0a2077bCjTzzrGr2E9wwKJYCgwsVuqjp_7JTnp5');
    expect(idempotencyKey({ ...base, sequenceNumber: undefined }, 'r')).toBe('19ab0a2077bdnZcWuMWWtuvYrsulj7z2PB01Yw_gCe9');
    expect(idempotencyKey({ ...base, transactionKey: undefined }, 'r')).toBe('19ab0a2077bZg9zHuCaXTwxIAjs5pfF-BY7iAOCfrFn');
    expect(idempotencyKey({ ...base, recordId: '' }, NORMALIZE_ROUTE)).toBe('19ab0a2077byNR5PT653M8LXOwXurRmxzkGIRdc3yuU');
    expect(idempotencyKey({ ...pe, eventUuid: '2ec0e371-1395-457f-9275-be1b527a72f7', publishedAt: 1763900000123 }, 'r')).toBe(
      '19ab0a2077bHd8vuEAzixqIThDivzGwiC2OyyehOm4f',
    );
    expect(idempotencyKey(pe, 'r')).toBe('000000000003eBwBeEmyvLVs1isf97XwRmpynxzjBnR');
    // A time past the 11 hex digits is left out (0), not cut.
    expect(idempotencyKey({ ...base, commitTimestamp: 2 ** 60 }, 'r')).toBe('000000000009XY5rajSZndBy-3yTtgPN117nuWd-fRt');
    // Keys of one time share the prefix, another time gets its own (a cached prefix must follow the time).
    expect(idempotencyKey({ ...base, commitTimestamp: 1763900000124 }, 'contact-welcome')).toBe('19ab0a2077cXacBEjs6s9hPXwt2O54Q14HXDHf4LHk7');
    expect(idempotencyKey(base, 'contact-welcome')).toBe('19ab0a2077bXacBEjs6s9hPXwt2O54Q14HXDHf4LHk7');
    expect(correlationIdOf('/data/ContactChangeEvent', '123456', CONTACT)).toBe('6173ab5305487028');
    expect(correlationIdOf('/event/MC_Journey_Entry__e', '2', CONTACT, 'u-1')).toBe('ec9ba5afbb238590');
  });

  it('sort by the time the event happened, so the stores add new keys at the end of their index', () => {
    const later = idempotencyKey({ ...base, transactionKey: 'tx-0', commitTimestamp: base.commitTimestamp + 1 }, 'contact-welcome');
    expect(later > idempotencyKey(base, 'contact-welcome')).toBe(true);
    // A platform event's CreatedDate plays the commitTimestamp's part.
    const pe = { channel: '/event/MC_Send__e', replayId: '9', kind: 'platform' as const, recordId: CONTACT, eventUuid: 'u-1' };
    expect(idempotencyKey({ ...pe, publishedAt: 1763900000123 }, 'r').slice(0, 11)).toBe('19ab0a2077b');
  });

  it('do not depend on the replay ID of a change event, so a replay after an org migration keeps them', () => {
    expect(idempotencyKey({ ...base, replayId: '999' }, 'r')).toBe(idempotencyKey(base, 'r'));
  });

  it('differ by channel, transaction, sequence, record, route and action index', () => {
    const keys = [
      idempotencyKey(base, 'r'),
      idempotencyKey({ ...base, channel: '/data/ChangeEvents' }, 'r'),
      idempotencyKey({ ...base, transactionKey: 'tx-2' }, 'r'),
      idempotencyKey({ ...base, sequenceNumber: 2 }, 'r'),
      idempotencyKey({ ...base, recordId: '0035g00000XyZacAAF' }, 'r'),
      idempotencyKey(base, 's'),
      idempotencyKey(base, 'r', 1),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) expect(key).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('use the EventUuid of a platform event, else its replay ID', () => {
    const pe = { channel: '/event/MC_Journey_Entry__e', replayId: '2', kind: 'platform' as const, recordId: CONTACT };
    const withUuid = { ...pe, eventUuid: '2ec0e371-1395-457f-9275-be1b527a72f7' };
    expect(idempotencyKey({ ...withUuid, replayId: '3' }, 'r')).toBe(idempotencyKey(withUuid, 'r'));
    expect(idempotencyKey({ ...pe, replayId: '3' }, 'r')).not.toBe(idempotencyKey(pe, 'r'));
  });

  it('are the same for the same event routed twice (a replay cannot enter a contact twice)', () => {
    const config = routes({});
    const router = compileRoutes(config, builtinMappers());
    const first = router.route(eventOf(changeEvent())).actions[0]!;
    const again = router.route(eventOf(changeEvent({ replayId: '777' }))).actions[0]!;
    expect(again.idempotencyKey).toBe(first.idempotencyKey);
  });
});

describe('the payload size cap', () => {
  const ctx = { field: 'mapping.data', where: 'Contact 0035g00000XyZabAAF' };
  const exactlyFits = (value: unknown, limit: number) => Buffer.byteLength(JSON.stringify(value)) <= limit;

  it('refuses exactly what is over the limit as JSON, whatever the bound without serializing says', () => {
    const cases: Record<string, unknown>[] = [
      { Email: 'a@example.com', FirstName: 'Jane', LastName: 'Doe', Score: -1.2345678901234567e-308, OptedOut: true, Gone: null },
      { Notes: '\u0001'.repeat(100) }, // each escaped as 6 bytes
      { Notes: 'é'.repeat(300), Name: '😀'.repeat(50) }, // 2 and 4 bytes of UTF-8
      { Nested: { a: 'x'.repeat(500) }, List: ['y'.repeat(100)] },
      { Later: { toJSON: () => 'z'.repeat(2000) } },
    ];
    for (const value of cases) {
      const json = Buffer.byteLength(JSON.stringify(value));
      for (const limit of [json - 1, json, json + 1, 6 * json]) {
        expect(surelyFits(value, limit) ? true : exactlyFits(value, limit)).toBe(exactlyFits(value, limit));
        expect(sizeProblem(value, ctx, limit) === undefined).toBe(exactlyFits(value, limit));
      }
    }
    expect(sizeProblem({ Notes: '\u0001'.repeat(100) }, ctx, 600)?.message).toMatch(/is 612 bytes as JSON, more than the 600 bytes/);
  });
});
