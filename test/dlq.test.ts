// The dead-letter queue keeps every dead action with its reason and history; `dlq retry` makes a delivery-time dead letter due again and re-runs the mapping of a plan-time one, `dlq discard` takes one out, all through the real CLI.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { load } from '../src/config/load.ts';
import { clearSharedTokenManagers } from '../src/delivery/mc/auth.ts';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import { createPlanner } from '../src/pipeline/planner.ts';
import { builtinMappers } from '../src/route/mapper-loader.ts';
import { contactId, useHarness, waitFor } from './helpers/harness.ts';

const BIN = fileURLToPath(new URL('../bin/sfmc-bridge.js', import.meta.url));
const CHANNEL = '/event/Order_Confirmed__e';
const h = useHarness({ mc: { sendDefinitionKeys: ['order-confirm'] } }, { setup: clearSharedTokenManagers });

function config(required: string[]): Record<string, unknown> {
  return {
    channels: [{ name: CHANNEL, replayFrom: -2, recordIdField: 'Contact_Id__c' }],
    routes: [
      {
        name: 'order',
        channel: CHANNEL,
        target: { type: 'transactional', definitionKey: 'order-confirm', addressField: 'Email__c' },
        mapping: { data: { OrderNumber: 'Order_Number__c', Note: 'Note__c' }, required },
      },
    ],
    store: { kind: 'sqlite', path: join(h.dir, 'bridge.db') },
    dispatcher: { pollIntervalMs: 20, maxAttempts: 3, retry: { baseMs: 10, capMs: 50 } },
    log: { level: 'warn', pretty: false },
  };
}

function cli(args: string[], configPath: string): { status: number | null; out: any; stdout: string } {
  const r = spawnSync(process.execPath, [BIN, 'dlq', ...args, '--config', configPath], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...h.env },
  });
  let out: unknown;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    out = undefined;
  }
  if (r.status !== 0 && r.status !== 2) throw new Error(`dlq ${args.join(' ')} failed: ${r.stderr}`);
  return { status: r.status, out, stdout: r.stdout };
}

test('list, retry (requeue and re-derive) and discard, each keeping its history', async () => {
  const [paused, noNote, keep] = [contactId(1), contactId(2), contactId(3)];
  h.mc.setDefinitionStatus('order-confirm', 'paused');
  h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: paused, Email__c: 'p@example.com', Order_Number__c: 'ORD-1', Note__c: 'n' });
  h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: noNote, Email__c: 'n@example.com', Order_Number__c: 'ORD-2' });
  h.sf.publishPlatformEvent('Order_Confirmed__e', { Contact_Id__c: keep, Email__c: 'bad-address', Order_Number__c: 'ORD-3', Note__c: 'n' });
  const strict = h.writeConfig(config(['OrderNumber', 'Note']));
  const s1 = await h.startService(strict);
  await waitFor(async () => (await s1.store.counts()).dead >= 3, 10_000, 'three dead letters');
  await s1.dispatcher.settled();
  await h.stopService();

  const listed = cli(['list', '--json'], strict).out as {
    id: number;
    recordId: string;
    errorCode: string;
    error: string;
    target: string | null;
    history: { outcome: string }[];
  }[];
  // The paused definition is found Inactive by the target probe, which refuses the send with that reason.
  expect(listed.map((r) => [r.recordId, r.errorCode])).toEqual([
    [paused, 'MC_DEFINITION_INACTIVE'],
    [noNote, 'MAPPING_MISSING_FIELD'],
    [keep, 'MAPPING_BAD_VALUE'],
  ]);
  const [deadPaused, deadNote, deadKeep] = listed;
  expect(deadPaused!.error).toMatch(/"order-confirm" is Inactive/);
  expect(deadPaused!.history.map((x) => x.outcome)).toEqual(['dead']);
  expect(deadNote!.target).toBeNull();
  expect(cli(['list', '--route', 'nope', '--json'], strict).out).toEqual([]);

  // The fix: the definition is active again and the route no longer needs a note.
  h.mc.setDefinitionStatus('order-confirm', 'active');
  const relaxed = h.writeConfig(config(['OrderNumber']), 'relaxed.json');
  const retried = cli(['retry', String(deadPaused!.id), String(deadNote!.id), String(deadKeep!.id), '--json'], relaxed);
  expect(retried.status).toBe(0);
  expect(retried.out.outcomes).toEqual([
    { id: deadPaused!.id, result: 'requeued', detail: 'due again' },
    { id: deadNote!.id, result: 'requeued', detail: 'due again' },
    { id: deadKeep!.id, result: 'still_dead', detail: expect.stringContaining('bad-address') },
  ]);
  expect(cli(['retry', '999999'], relaxed).status).toBe(2);

  const s2 = await h.startService(relaxed);
  await waitFor(() => h.mc.stats().sends >= 2, 10_000, 'two sends after the retry');
  await s2.dispatcher.settled();
  expect(
    h.mc
      .sends()
      .map((x) => x.contactKey)
      .sort(),
  ).toEqual([paused, noNote].sort());
  const [row] = await s2.store.actionsFor(noNote);
  expect(row).toMatchObject({ status: 'delivered', target: 'transactional', deliveryIds: { messageKey: row!.idempotencyKey } });
  expect((await s2.store.attemptsOf(deadPaused!.id)).map((x) => x.outcome)).toEqual(['dead', 'requeued']);
  expect((await s2.store.attemptsOf(deadNote!.id)).map((x) => x.outcome)).toEqual(['rederived']);
  expect((await s2.store.attemptsOf(deadKeep!.id)).map((x) => x.outcome)).toEqual(['rederive_failed']);
  await h.stopService();

  const discarded = cli(['discard', String(deadKeep!.id), '--json'], relaxed);
  expect(discarded.out).toEqual({ discarded: [deadKeep!.id], notDeadLetters: [] });
  expect(cli(['list', '--json'], relaxed).out).toEqual([]);
  const all = cli(['list', '--all', '--json'], relaxed).out as { id: number; discardedAt: number; history: { outcome: string }[] }[];
  expect(all.map((r) => r.id)).toEqual([deadKeep!.id]);
  expect(all[0]!.discardedAt).toBeGreaterThan(0);
  expect(all[0]!.history.map((x) => x.outcome)).toEqual(['rederive_failed', 'discarded']);
  expect(cli(['list'], relaxed).stdout).toContain('empty');
});

test('a dead letter made before normalization is re-derived from the stored raw message', async () => {
  const id = contactId(7);
  const cfg = config(['OrderNumber']);
  cfg.channels = []; // the channel is not declared: UNKNOWN_CHANNEL dead letter
  cfg.routes = [];
  const before = h.writeConfig(cfg);
  // The message arrived on a channel the config did not declare: the planner dead-letters the raw message.
  const raw = {
    channel: CHANNEL,
    replayId: '1',
    receivedAt: Date.now(),
    data: {
      schema: 's',
      event: { replayId: 1, EventUuid: 'u-1' },
      payload: { Contact_Id__c: id, Email__c: 'r@example.com', Order_Number__c: 'ORD-7' },
    },
  };
  const made = createPlanner(load(before, h.env), builtinMappers())([raw]);
  expect(made.deadLetters.map((d) => d.code)).toEqual(['UNKNOWN_CHANNEL']);
  const store = openSqliteStore({ path: join(h.dir, 'bridge.db') });
  await store.commitBatch([], made.deadLetters, new Map());
  await store.close();

  const fixed = h.writeConfig(config(['OrderNumber']), 'fixed.json');
  const r = cli(['retry', '--all', '--json'], fixed);
  expect(r.out.outcomes).toEqual([{ id: expect.any(Number), result: 'rederived', detail: 'replaced, 1 new action(s)' }]);
  await h.startService(fixed);
  await waitFor(() => h.mc.stats().sends >= 1, 10_000, 'the re-derived send');
  expect(h.mc.sends()[0]).toMatchObject({ contactKey: id, to: 'r@example.com' });
  expect(cli(['list', '--json'], fixed).out).toEqual([]);
});
