// Rule: a target that cannot work (an unknown event definition key, a journey ID in its place, an inactive send definition, a missing scope) is named by `check` and by the probe `start` runs at start-up and periodically, before a send to it is refused; a key first named by an event is looked up once.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { check } from '../src/commands/check.ts';
import { clearSharedTokenManagers } from '../src/delivery/mc/auth.ts';
import { McClients } from '../src/delivery/mc/clients.ts';
import { guardTarget } from '../src/delivery/probe-guard.ts';
import { TargetProbe } from '../src/delivery/target-probe.ts';
import type { DeliveryItem, Target } from '../src/delivery/target.ts';
import { startMcEmulator } from '../src/emulators/mc/index.ts';
import { ALL_SCOPES } from '../src/emulators/mc/definitions.ts';
import type { McEmulator } from '../src/emulators/mc/types.ts';
import { Telemetry } from '../src/telemetry/telemetry.ts';
import { bridgeConfig, contactId, MC_CLIENT_ID, MC_CLIENT_SECRET, useHarness, waitFor } from './helpers/harness.ts';

const JOURNEY_ID = '3c5a7e1f-2b44-4d1e-9a0c-7f1e2d3c4b5a';

function capture() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function item(id: number, payload: Record<string, unknown>): DeliveryItem {
  return { id, idempotencyKey: `k${id}`, mode: 'batch', payload: payload as never };
}

/** A target that records what reaches it and delivers everything. */
function recordingTarget(): Target & { seen: DeliveryItem[] } {
  const seen: DeliveryItem[] = [];
  return {
    seen,
    async deliver(items) {
      seen.push(...items);
      return items.map((i) => ({ id: i.id, status: 'delivered' as const, ids: {} }));
    },
  };
}

describe('check, with credentials', () => {
  let mc: McEmulator;
  beforeAll(async () => {
    mc = await startMcEmulator({
      clientId: 'probe-client',
      clientSecret: 'probe-secret',
      eventDefinitionKeys: ['APIEvent-contact-welcome'],
      sendDefinitionKeys: ['order-confirm'],
      scopes: ALL_SCOPES.filter((s) => s !== 'email_send'),
    });
  });
  afterAll(() => mc.close());

  it('names an unknown event definition key, a journey ID used as one, an inactive send definition and a missing scope, each by its config key', async () => {
    const config = JSON.parse(readFileSync('config/bridge.json', 'utf8'));
    config.routes[0].target.eventDefinitionKey = 'APIEvent-no-such-entry';
    config.routes[1].target.eventDefinitionKey = JOURNEY_ID;
    config.routes[2].target.definitionKey = 'order-confirm';
    delete config.$schema;
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'probe-'));
    const path = join(dir, 'bridge.json');
    (await import('node:fs')).writeFileSync(path, JSON.stringify(config));
    mc.setDefinitionStatus('order-confirm', 'paused');
    const env = {
      SF_INSTANCE_URL: 'http://127.0.0.1:9',
      SF_ACCESS_TOKEN: 'x',
      MC_AUTH_BASE_URL: mc.authBaseUrl,
      MC_CLIENT_ID: 'probe-client',
      MC_CLIENT_SECRET: 'probe-secret',
    };
    // The org side is not under test here: every object has every field.
    const describe = async () => async (object: string) => ({
      name: object,
      fields: [
        'Email',
        'FirstName',
        'LastName',
        'Name',
        'Record_Id__c',
        'Event_Definition_Key__c',
        'Data__c',
        'Correlation_Id__c',
        'Definition_Key__c',
        'Email__c',
        'Attributes__c',
        'Api__c',
      ].map((name) => ({ name })),
    });
    const report = await check({ config: path, env, describe });
    const errors = report.findings.filter((f) => f.severity === 'error').map((f) => [f.rule, f.key, f.message]);
    expect(errors).toEqual([
      ['mc-target', 'routes[0].target.eventDefinitionKey', expect.stringContaining('"APIEvent-no-such-entry" does not exist')],
      ['mc-target', 'routes[1].target.eventDefinitionKey', expect.stringContaining('looks like a journey ID')],
      ['mc-target', 'routes[2].target.definitionKey', expect.stringMatching(/"order-confirm" is Inactive: .*three days/)],
      ['mc-scope', 'routes[2].target.type', expect.stringContaining('lacks scope email_send')],
    ]);
    expect(report.ok).toBe(false);
  });
});

describe('the periodic probe and the guard in front of the targets', () => {
  let mc: McEmulator;
  let clients: McClients;
  beforeEach(async () => {
    clearSharedTokenManagers();
    mc = await startMcEmulator({
      clientId: MC_CLIENT_ID,
      clientSecret: MC_CLIENT_SECRET,
      eventDefinitionKeys: ['APIEvent-a'],
      sendDefinitionKeys: ['order-confirm'],
    });
    clients = new McClients({ credentials: { authBaseUrl: mc.authBaseUrl, clientId: MC_CLIENT_ID, clientSecret: MC_CLIENT_SECRET } });
  });
  afterEach(async () => {
    await clients.close();
    await mc.close();
  });

  it('reports a send definition that goes inactive, refuses sends to it with the reason, and lets them through once it is active again', async () => {
    const { logger, lines } = capture();
    const telemetry = new Telemetry(logger);
    const metric: string[] = [];
    telemetry.listen({ targetProblem: (kind, state) => metric.push(`${kind}:${state}`) });
    const probe = new TargetProbe({
      clientFor: clients.clientFor,
      routes: [{ name: 'send', target: { type: 'transactional', definitionKey: 'order-confirm' } }],
      intervalMs: 100,
      events: telemetry.targets,
    });
    const inner = recordingTarget();
    const guarded = guardTarget('transactional', inner, probe);
    probe.start();
    try {
      const send = { definitionKey: 'order-confirm', contactKey: contactId(1), address: 'a@example.com', attributes: {} };
      expect(await guarded.deliver([item(1, send)])).toEqual([expect.objectContaining({ status: 'delivered' })]);

      mc.setDefinitionStatus('order-confirm', 'paused');
      await waitFor(() => lines.some((l) => l.event === 'target_problem'), 5000, 'the problem line');
      const line = lines.find((l) => l.event === 'target_problem')!;
      expect(line).toMatchObject({
        level: 50,
        kind: 'sendDefinition',
        key: 'order-confirm',
        state: 'inactive',
        configKey: 'routes[0].target.definitionKey',
      });
      expect(metric).toEqual(['sendDefinition:inactive']);
      const refused = await guarded.deliver([item(2, send)]);
      expect(refused).toEqual([
        expect.objectContaining({
          status: 'dead',
          error: expect.objectContaining({ code: 'MC_DEFINITION_INACTIVE', message: expect.stringContaining('three days') }),
        }),
      ]);
      expect(inner.seen.map((i) => i.id)).toEqual([1]);

      mc.setDefinitionStatus('order-confirm', 'active');
      await waitFor(() => lines.some((l) => l.event === 'target_recovered'), 5000, 'the recovery line');
      expect(await guarded.deliver([item(3, send)])).toEqual([expect.objectContaining({ status: 'delivered' })]);
      expect(inner.seen.map((i) => i.id)).toEqual([1, 3]);
      // Reported once per change, not once per probe round.
      expect(lines.filter((l) => l.event === 'target_problem')).toHaveLength(1);
    } finally {
      await probe.stop();
    }
  });

  it('looks a key first named by an event up once: an unknown one is refused with the reason, a good one goes through', async () => {
    const probe = new TargetProbe({ clientFor: clients.clientFor, routes: [], intervalMs: 0 });
    const inner = recordingTarget();
    const guarded = guardTarget('journey', inner, probe);
    const before = mc.stats().lookups;
    const unknown = { eventDefinitionKey: 'APIEvent-typo', contactKey: contactId(1), data: {} };
    const good = { eventDefinitionKey: 'APIEvent-a', contactKey: contactId(2), data: {} };
    const first = await guarded.deliver([item(1, unknown), item(2, good), item(3, unknown)]);
    expect(first.map((o) => o.status)).toEqual(['dead', 'delivered', 'dead']);
    expect(first[0]).toMatchObject({ error: { code: 'MC_DEFINITION_MISSING', message: expect.stringContaining('"APIEvent-typo" does not exist') } });
    const second = await guarded.deliver([item(4, unknown), item(5, good)]);
    expect(second.map((o) => o.status)).toEqual(['dead', 'delivered']);
    expect(mc.stats().lookups - before).toBe(2); // one lookup per key, then the cache
    expect(inner.seen.map((i) => i.id)).toEqual([2, 5]);
  });

  it('finds a scope the token lacks on a periodic round, with an error line naming the scope and the route', async () => {
    const narrow = await startMcEmulator({
      clientId: 'narrow',
      clientSecret: 'narrow-secret',
      scopes: ['journeys_read', 'email_send', 'email_read'],
    });
    const narrowClients = new McClients({ credentials: { authBaseUrl: narrow.authBaseUrl, clientId: 'narrow', clientSecret: 'narrow-secret' } });
    const { logger, lines } = capture();
    const probe = new TargetProbe({
      clientFor: narrowClients.clientFor,
      routes: [{ name: 'welcome', target: { type: 'journey', eventDefinitionKey: 'APIEvent-a' } }],
      intervalMs: 100,
      events: new Telemetry(logger).targets,
    });
    try {
      probe.start();
      await waitFor(() => lines.some((l) => l.event === 'target_scope_missing'), 5000, 'the scope line');
      expect(lines.find((l) => l.event === 'target_scope_missing')).toMatchObject({
        level: 50,
        scope: 'journeys_execute',
        configKey: 'routes[0].target.type',
      });
    } finally {
      await probe.stop();
      await narrowClients.close();
      await narrow.close();
    }
  });
});

describe('start', () => {
  const h = useHarness({ mc: { eventDefinitionKeys: ['APIEvent-other'] } }, { setup: clearSharedTokenManagers });

  it("logs an unknown event definition key at start-up and dead-letters the route's actions with that reason instead of sending them", async () => {
    const { logger, lines } = capture();
    const s = await h.startService(bridgeConfig(h.dir, { dispatcher: { pollIntervalMs: 20, probe: { intervalMs: 60_000 } } }), { logger });
    await waitFor(() => lines.some((l) => l.event === 'target_problem'), 10_000, 'the start-up probe line');
    expect(lines.find((l) => l.event === 'target_problem')).toMatchObject({
      key: 'APIEvent-contact-welcome',
      state: 'missing',
      configKey: 'routes[0].target.eventDefinitionKey',
    });
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(7)], fields: { Email: 'x@example.com' } });
    await waitFor(async () => (await s.store.counts()).dead >= 1, 10_000, 'the dead letter');
    const [dead] = await s.store.deadLetters();
    expect(dead).toMatchObject({ errorCode: 'MC_DEFINITION_MISSING', error: expect.stringContaining('APIEvent-contact-welcome') });
    expect(h.mc.stats().entries).toBe(0);
  });
});
