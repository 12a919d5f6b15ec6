/**
 * Micro-measure of the embedded outbox's share of an event: commit in batches, claim, record
 * per request, as the dispatcher does, for journey-entry-shaped actions. CPU µs per action on
 * one core (user and system: the WAL's writes are system time). Not a test;
 * `node bench/store-micro.ts [actions] [actionsPerRecordTransaction] [SQL run on the schema first, to compare indexes]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { openSqliteStore } from '../src/outbox/sqlite/store.ts';
import type { NewAction } from '../src/core/model.ts';
import type { AttemptRecord } from '../src/outbox/contract.ts';

const total = Number(process.argv[2] ?? 100_000);
const perRecord = Number(process.argv[3] ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'store-micro-'));
const variant = process.argv[4] ?? '';
// The schema as the store migrates it, then changed by the given SQL.
if (variant) {
  const { DatabaseSync } = await import('node:sqlite');
  const s0 = openSqliteStore({ path: join(dir, 'o.db') });
  await s0.close();
  const db = new DatabaseSync(join(dir, 'o.db'));
  db.exec(variant);
  db.close();
}
const store = openSqliteStore({ path: join(dir, 'o.db') });
const rand = (n: number): string =>
  Math.floor(Math.random() * 36 ** n)
    .toString(36)
    .padStart(n, '0');

function action(i: number): NewAction {
  const recordId = `003${rand(12)}AAA`;
  return {
    idempotencyKey: `${rand(16)}${rand(16)}`,
    route: 'contact-welcome',
    target: 'journey',
    mode: 'batch',
    batchKey: 'APIEvent-bench',
    channel: '/data/ContactChangeEvent',
    replayId: String(i),
    recordId,
    contactKey: recordId,
    correlationId: `${rand(12)}-${rand(12)}`,
    payload: {
      ContactKey: recordId,
      EventDefinitionKey: 'APIEvent-bench',
      Data: { Email: `p${i}@example.com`, FirstName: 'Ada', LastName: 'Lovelace', AccountName: 'Acme Corporation', OwnerEmail: 'owner@example.com' },
    },
    receivedAt: Date.now(),
    changeType: 'UPDATE',
  } as unknown as NewAction;
}
const idsOf = (requestId: string) => (process.env.NO_IDS ? {} : { requestId, eventInstanceId: randomUUID() });
const batches: NewAction[][] = [];
for (let i = 0; i < total; i += 100) batches.push(Array.from({ length: 100 }, (_, k) => action(i + k)));

const phase = { commit: 0, claim: 0, record: 0 };
const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const t0 = cpu();
for (let b = 0; b < batches.length; b++) {
  let t = cpu();
  await store.commitBatch(batches[b]!, [], new Map([['/data/ContactChangeEvent', String(b)]]));
  phase.commit += cpu() - t;
  if (b % 8 === 7 || b === batches.length - 1) {
    t = cpu();
    const claimed = await store.claimDue(800, Date.now());
    phase.claim += cpu() - t;
    t = cpu();
    for (let i = 0; i < claimed.length; i += perRecord) {
      // As a journey answers: one request ID per request, one event instance ID per entry.
      const requestId = randomUUID();
      const records: AttemptRecord[] = claimed
        .slice(i, i + perRecord)
        .map((a) => ({ id: a.id, status: 'delivered', ids: idsOf(requestId) }) as AttemptRecord);
      await store.recordAttempts(records, Date.now());
    }
    phase.record += cpu() - t;
  }
}
const all = cpu() - t0;
const u1 = process.cpuUsage();
const us = (n: number): string => (n / total).toFixed(1);
console.log(
  JSON.stringify({
    actions: total,
    perRecord,
    usPerAction: us(all),
    user: us(u1.user),
    system: us(u1.system),
    commit: us(phase.commit),
    claim: us(phase.claim),
    record: us(phase.record),
  }),
);
await store.close();
rmSync(dir, { recursive: true, force: true });
