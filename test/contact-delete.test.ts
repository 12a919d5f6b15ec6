// Rule: a deletion in Salesforce (a CDC DELETE or an MC_Contact_Delete__e event) reaches Marketing Cloud as a batched Contact Delete whose operation is followed to its end, only on a route that says confirmDeletes, never past the hourly cap, never in dry run, and an UNDELETE is reported as not reversible.
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { load } from '../src/config/load.ts';
import { clearSharedTokenManagers } from '../src/delivery/mc/auth.ts';
import { McClients } from '../src/delivery/mc/clients.ts';
import { DeletionFollower } from '../src/delivery/deletion-status.ts';
import { createContactDeleteTarget } from '../src/delivery/targets/contact-delete.ts';
import type { DeliveryItem } from '../src/delivery/target.ts';
import { startMcEmulator } from '../src/emulators/mc/index.ts';
import type { McEmulator } from '../src/emulators/mc/types.ts';
import { contactId, MC_CLIENT_ID, MC_CLIENT_SECRET, useHarness, waitFor } from './helpers/harness.ts';

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

const items = (from: number, n: number): DeliveryItem[] =>
  Array.from({ length: n }, (_, i) => ({
    id: from + i,
    idempotencyKey: `d${from + i}`,
    mode: 'batch' as const,
    payload: { contactKey: contactId(from + i) } as never,
  }));

describe('the guard in the config', () => {
  const route = (target: object, extra: object = {}) => ({
    channels: [{ name: '/data/ContactChangeEvent' }],
    routes: [{ name: 'forget', channel: '/data/ContactChangeEvent', changeTypes: ['DELETE'], target, mapper: 'contact-delete', ...extra }],
  });
  const env = {
    SF_INSTANCE_URL: 'http://127.0.0.1:1',
    SF_ACCESS_TOKEN: 't',
    MC_AUTH_BASE_URL: 'http://127.0.0.1:2',
    MC_CLIENT_ID: 'c',
    MC_CLIENT_SECRET: 's',
  };

  it('refuses a contactDelete route without "confirmDeletes": true, naming the key', () => {
    expect(() => load(route({ type: 'contactDelete' }), env)).toThrow(/routes\[0\]\.target\.confirmDeletes: .*set "confirmDeletes": true/);
    expect(() => load(route({ type: 'contactDelete', confirmDeletes: false }), env)).toThrow(/routes\[0\]\.target\.confirmDeletes/);
  });

  it('refuses a contactDelete route that would delete on CREATE or UPDATE', () => {
    expect(() => load(route({ type: 'contactDelete', confirmDeletes: true }, { changeTypes: ['CREATE', 'UPDATE'] }), env)).toThrow(
      /routes\[0\]\.changeTypes: .*DELETE/,
    );
    expect(load(route({ type: 'contactDelete', confirmDeletes: true }), env).routes[0]!.target).toMatchObject({
      type: 'contactDelete',
      confirmDeletes: true,
    });
  });
});

describe('the contactDelete target against the Marketing Cloud emulator', () => {
  let mc: McEmulator;
  let clients: McClients;
  beforeEach(async () => {
    clearSharedTokenManagers();
    mc = await startMcEmulator({ clientId: MC_CLIENT_ID, clientSecret: MC_CLIENT_SECRET, deleteMs: 30 });
    clients = new McClients({ credentials: { authBaseUrl: mc.authBaseUrl, clientId: MC_CLIENT_ID, clientSecret: MC_CLIENT_SECRET } });
  });
  afterEach(async () => {
    await clients.close();
    await mc.close();
  });

  it('sends the keys in batches, stores each operation ID and follows it until Marketing Cloud completes it', async () => {
    const settled: [string, string, number][] = [];
    const follower = new DeletionFollower({
      clientFor: clients.clientFor,
      pollMs: 20,
      events: { settled: (op, status, n) => settled.push([op, status, n]) },
    });
    const target = createContactDeleteTarget(clients.clientFor, {
      batchSize: 500,
      maxPerHour: 10_000,
      events: { accepted: (op, keys, mid) => follower.follow(op, mid, keys.length) },
    });
    const batch = items(1, 1200);
    const outcomes = await target.deliver(batch);
    expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
    const ops = mc.deletions();
    expect(ops.map((o) => o.contactKeys.length)).toEqual([500, 500, 200]);
    expect(ops.flatMap((o) => o.contactKeys)).toEqual(batch.map((i) => (i.payload as { contactKey: string }).contactKey));
    expect(outcomes[0]).toMatchObject({ ids: { operationId: String(ops[0]!.operationID) } });
    expect(outcomes[1199]).toMatchObject({ ids: { operationId: String(ops[2]!.operationID) } });
    await waitFor(() => settled.length === 3, 15_000, 'three operations settled');
    expect(settled.map(([, status, n]) => [status, n])).toEqual([
      ['Completed', 500],
      ['Completed', 500],
      ['Completed', 200],
    ]);
    await follower.stop();
  });

  it('holds back deletions past the hourly cap with an alert, and sends again once the hour has passed', async () => {
    let now = 1_000_000;
    const capped: number[] = [];
    const target = createContactDeleteTarget(clients.clientFor, {
      maxPerHour: 5,
      now: () => now,
      events: { capped: (keys) => capped.push(keys.length) },
    });
    expect((await target.deliver(items(1, 3))).map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    const second = await target.deliver(items(10, 4));
    expect(second.map((o) => o.status)).toEqual(['delivered', 'delivered', 'dead', 'dead']);
    expect(second[2]).toMatchObject({
      error: {
        code: 'CONTACT_DELETE_CAPPED',
        message: expect.stringMatching(/5 contact\(s\) already deleted in the last hour.*maxPerHour.*dlq retry/),
      },
    });
    expect(capped).toEqual([2]);
    expect(mc.deletions().flatMap((o) => o.contactKeys)).toHaveLength(5);
    now += 3_600_001;
    expect((await target.deliver(items(20, 2))).map((o) => o.status)).toEqual(['delivered', 'delivered']);
    expect(mc.deletions().flatMap((o) => o.contactKeys)).toHaveLength(7);
  });

  it('in dry run sends nothing, says what it would delete, and keeps each deletion as a dead letter to send later', async () => {
    const would: string[][] = [];
    const target = createContactDeleteTarget(clients.clientFor, { dryRun: true, events: { wouldDelete: (keys) => would.push([...keys]) } });
    const outcomes = await target.deliver(items(1, 2));
    expect(outcomes).toEqual([
      expect.objectContaining({ status: 'dead', error: expect.objectContaining({ code: 'CONTACT_DELETE_DRY_RUN' }) }),
      expect.objectContaining({ status: 'dead', error: expect.objectContaining({ code: 'CONTACT_DELETE_DRY_RUN' }) }),
    ]);
    expect(would).toEqual([[contactId(1), contactId(2)]]);
    expect(mc.deletions()).toEqual([]);
  });
});

describe('through the bridge', () => {
  const h = useHarness({ mc: { deleteMs: 30 } }, { setup: clearSharedTokenManagers });
  const config = (deletes: object = {}) => ({
    channels: [
      { name: '/data/ContactChangeEvent', replayFrom: -2 },
      { name: '/event/MC_Contact_Delete__e', replayFrom: -2 },
    ],
    routes: [
      {
        name: 'contact-delete',
        channel: '/data/ContactChangeEvent',
        changeTypes: ['DELETE', 'UNDELETE'],
        target: { type: 'contactDelete', confirmDeletes: true },
        mapper: 'contact-delete',
      },
      {
        name: 'admin-contact-delete',
        channel: '/event/MC_Contact_Delete__e',
        target: { type: 'contactDelete', confirmDeletes: true },
        mapper: 'contact-delete-event',
      },
    ],
    store: { kind: 'sqlite', path: join(h.dir, 'bridge.db') },
    dispatcher: { pollIntervalMs: 20, deletes: { statusPollMs: 1000, ...deletes } },
    log: { level: 'info', pretty: false },
  });

  it('deletes on a CDC DELETE and on MC_Contact_Delete__e, shows the operation on trace, logs its completion, and reports an UNDELETE as not reversible', async () => {
    const [gone, privacy, back] = [contactId(1), contactId(2), contactId(3)];
    h.sf.publishChange({ entityName: 'Contact', changeType: 'DELETE', recordIds: [gone] });
    h.sf.publishPlatformEvent('MC_Contact_Delete__e', { Record_Id__c: privacy.slice(0, 15), Correlation_Id__c: 'DSR-17' });
    h.sf.publishChange({ entityName: 'Contact', changeType: 'UNDELETE', recordIds: [back] });
    const { logger, lines } = capture();
    const s = await h.startService(config(), { logger });
    await waitFor(() => h.mc.deletions().flatMap((d) => d.contactKeys).length >= 2, 10_000, 'two deletions');
    expect(
      h.mc
        .deletions()
        .flatMap((d) => d.contactKeys)
        .sort(),
    ).toEqual([gone, privacy].sort());
    await waitFor(async () => (await s.store.counts()).dead >= 1, 10_000, 'the UNDELETE dead letter');
    await s.dispatcher.settled();
    for (const id of [gone, privacy]) {
      const [row] = await s.store.actionsFor(id);
      expect(row).toMatchObject({ status: 'delivered', target: 'contactDelete', deliveryIds: { operationId: expect.stringMatching(/^\d+$/) } });
      const [entry] = await s.store.trace(id);
      expect(entry!.deliveryIds?.operationId).toBe(row!.deliveryIds!.operationId);
    }
    expect((await s.store.actionsFor(back))[0]).toMatchObject({
      status: 'dead',
      errorCode: 'CONTACT_UNDELETE_IRREVERSIBLE',
      error: expect.stringContaining('cannot be restored'),
    });
    await waitFor(() => lines.filter((l) => l.event === 'contact_delete_settled').length >= 1, 10_000, 'the completion line');
    expect(lines.find((l) => l.event === 'contact_delete_settled')).toMatchObject({ status: 'Completed' });
  });

  it('with dry run on, logs what would be deleted and sends nothing', async () => {
    h.sf.publishChange({ entityName: 'Contact', changeType: 'DELETE', recordIds: [contactId(9)] });
    const { logger, lines } = capture();
    const s = await h.startService(config({ dryRun: true }), { logger });
    await waitFor(async () => (await s.store.counts()).dead >= 1, 10_000, 'the dry-run dead letter');
    expect((await s.store.actionsFor(contactId(9)))[0]).toMatchObject({ status: 'dead', errorCode: 'CONTACT_DELETE_DRY_RUN' });
    expect(lines.find((l) => l.event === 'contact_delete_dry_run')).toMatchObject({ level: 40, contactKeys: [contactId(9)] });
    expect(h.mc.deletions()).toEqual([]);
  });
});
