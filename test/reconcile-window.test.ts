// A reconciliation after a refused replay ID re-enters only what was lost: its window ends at the oldest event Salesforce still holds, and a change already sent is not sent again.
import { PassThrough } from 'node:stream';
import { createLogger } from '../src/core/log.ts';
import { bridgeConfig, contactId, useHarness, waitFor } from './helpers/harness.ts';

let lines: Record<string, unknown>[];
const h = useHarness(
  {},
  {
    setup: () => {
      lines = [];
    },
  },
);

async function start() {
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return h.startService(bridgeConfig(h.dir), { logger: createLogger({ level: 'info', pretty: false, destination: out }) });
}

let serial = 0;
function publish(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = contactId(serial++);
    ids.push(id);
    h.sf.publishChange({
      entityName: 'Contact',
      changeType: 'CREATE',
      recordIds: [id],
      fields: { Email: `${id}@example.com`, Name: { LastName: `L${id}` } },
    });
  }
  return ids;
}

test('after a refused replay ID: the lost changes are reconciled, the retained ones come once as events, the last change before the loss is not re-entered', async () => {
  let s = await start();
  const before = publish(10);
  await waitFor(() => before.every((id) => h.mc.received({ contactKey: id }).length > 0), 20_000, 'the first 10 contacts');
  await s.dispatcher.settled();
  await h.stopService();
  // While the bridge is down: 8 creates and an update fall out of retention, 12 more are retained.
  const lost = publish(8);
  const lastLost = h.sf.publishChange({
    entityName: 'Contact',
    changeType: 'UPDATE',
    recordIds: [lost[0]!],
    fields: { Email: 'changed@example.com' },
  }).replayId;
  const retained = publish(12);
  h.sf.expireRetention(lastLost);
  const restCallsBefore = h.sf.restCalls().length;

  s = await start();
  const all = [...before, ...lost, ...retained];
  await waitFor(() => all.every((id) => h.mc.received({ contactKey: id }).length > 0), 20_000, 'all 30 contacts');
  await s.salesforce.settled();
  await s.dispatcher.settled();

  // From outside: each contact entered once, the lost update with its new address.
  const entries = (id: string) => h.mc.received({ contactKey: id });
  expect(all.filter((id) => entries(id).length !== 1).map((id) => [id, entries(id).length])).toEqual([]);
  expect(entries(lost[0]!)[0]!.data?.Email).toBe('changed@example.com');
  // From the bridge's side: one action per contact, the lost ones from the reconciliation.
  for (const id of all) expect(await s.store.actionsFor(id)).toHaveLength(1);
  expect(lines.some((l) => l.event === 'reconciled')).toBe(true);

  // The window: from the last commit before the loss to the oldest retained event, as reported.
  const window = s.salesforce.telemetry.lossWindows[0]!;
  const loud = lines.find((l) => l.event === 'data_loss_possible')!;
  expect(loud.windowEnd).toBe(new Date(window.until).toISOString());
  const [query] = h.sf
    .restCalls()
    .slice(restCallsBefore)
    .filter((c) => c.soql?.includes('LastModifiedDate >='));
  expect(query!.soql).toContain(`LastModifiedDate >= ${new Date(window.since!).toISOString()}`);
  expect(query!.soql).toContain(`LastModifiedDate <= ${new Date(window.until).toISOString()}`);
});
