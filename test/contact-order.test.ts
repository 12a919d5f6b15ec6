// A contact's actions reach Marketing Cloud one at a time and in order, even when the first one has to be retried, on both stores.
import { join } from 'node:path';
import { bridgeConfig, CHANNEL, contactId, useHarness, waitFor } from './helpers/harness.ts';
import { dropSchema, freshSchemaName, requirePostgres, TEST_DATABASE_URL } from './helpers/postgres.ts';

const h = useHarness();
let schema: string | undefined;

afterEach(async () => {
  if (schema) await dropSchema(schema);
  schema = undefined;
});

const stores: [string, () => Record<string, unknown>][] = [
  ['sqlite', () => ({ kind: 'sqlite', path: join(h.dir, 'bridge.db') })],
  ['postgres', () => ({ kind: 'postgres', url: { env: 'ORDER_TEST_PG_URL' }, schema: (schema = freshSchemaName('order')) })],
];

test.each(stores)(
  '%s: Email a → b → c in one transaction, the first request answered 500: Marketing Cloud accepts a, b, c in that order',
  async (kind, store) => {
    if (kind === 'postgres') await requirePostgres();
    const id = contactId(1);
    const other = contactId(2);
    h.mc.injectFault({ kind: 'status', status: 500, count: 1 });
    await h.startService(
      bridgeConfig(h.dir, {
        routes: [
          {
            name: 'contact-welcome',
            channel: CHANNEL,
            changeTypes: ['CREATE', 'UPDATE'],
            changedFields: ['Email'],
            target: { type: 'journey', eventDefinitionKey: 'APIEvent-contact-welcome', mode: 'single' },
            mapping: { data: { Email: 'Email' }, required: ['Email'] },
          },
        ],
        store: store(),
      }),
      { env: { ORDER_TEST_PG_URL: TEST_DATABASE_URL } },
    );
    const transactionKey = 'tx-order-1';
    ['a', 'b', 'c'].forEach((v, i) =>
      h.sf.publishChange({
        entityName: 'Contact',
        changeType: i === 0 ? 'CREATE' : 'UPDATE',
        recordIds: [id],
        fields: { Email: `${v}@example.com` },
        transactionKey,
        sequenceNumber: i + 1,
      }),
    );
    // Another contact is not held up by the first one's retry.
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [other], fields: { Email: 'o@example.com' } });

    await waitFor(() => h.mc.received({ contactKey: id }).length >= 3, 30_000, 'three entries of the contact');
    expect(h.mc.received({ contactKey: id }).map((e) => e.data?.Email)).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    expect(h.mc.received({ contactKey: other })).toHaveLength(1);
    // The bridge's side: the first action took two attempts, and each was delivered after the one before it.
    const delivered = async () => (await h.service!.store.actionsFor(id)).filter((r) => r.status === 'delivered');
    await waitFor(async () => (await delivered()).length === 3, 10_000, 'the three outcomes recorded');
    const rows = await delivered();
    expect(rows.map((r) => r.attempts)).toEqual([2, 1, 1]);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.deliveredAt!).toBeGreaterThanOrEqual(rows[i - 1]!.deliveredAt!);
  },
  60_000,
);
