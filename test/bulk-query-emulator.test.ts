// The emulator's Bulk API 2.0 query jobs behave as Salesforce's do: a client we did not write (jsforce's bulk2) creates, polls and reads a job, and results come as CSV pages chained by Sforce-Locator until it is "null".
import jsforce from 'jsforce';
import { QueryJobV2 } from 'jsforce/lib/api/bulk2.js';
import { startStreamingEmulator, type StreamingEmulator } from '../src/emulators/streaming/index.ts';

const TOKEN = '00Dxx0000001gPF!BulkQueryTestToken';
let emu: StreamingEmulator;

beforeAll(async () => {
  emu = await startStreamingEmulator({ accessToken: TOKEN, bulkPageSize: 10 });
  emu.seedContacts(25, { from: 100, modifiedAt: Date.parse('2026-01-02T03:04:05.000Z') });
  emu.upsertRecord('Contact', { Id: emu.seedContacts(1, { from: 500 }).firstId, LastName: 'Comma, "Quoted"', Email: null });
});
afterAll(() => emu.close());

test('jsforce bulk2.query creates, polls and reads a job; its job object (what the backfill drives) sees JobComplete', async () => {
  // One page: jsforce's result() pipes every page into one stream and fails with "write after
  // end" from the second page on, against Salesforce as here (jsforce/jsforce#1546, #1693); the
  // backfill therefore reads pages itself, by locator (next test).
  const single = await startStreamingEmulator({ accessToken: TOKEN, bulkPageSize: 1000 });
  try {
    single.seedContacts(25, { from: 100, modifiedAt: Date.parse('2026-01-02T03:04:05.000Z') });
    const c = new jsforce.Connection({ instanceUrl: single.url, accessToken: TOKEN, version: '62.0' });
    const records = await (
      await c.bulk2.query('SELECT Id, LastName, Email, SystemModstamp FROM Contact', { pollInterval: 10, pollTimeout: 5000 })
    ).toArray();
    expect(records).toHaveLength(25);
    expect(records[0]).toMatchObject({ LastName: 'Contact100', Email: 'seed.100@example.com', SystemModstamp: '2026-01-02T03:04:05.000Z' });
    const job = new QueryJobV2(c, {
      bodyParams: { operation: 'query', query: 'SELECT Id FROM Contact' },
      pollingOptions: { pollInterval: 10, pollTimeout: 5000 },
    });
    await job.open();
    await job.poll();
    const again = await c.bulk2.job('query', { id: job.id }).check();
    expect(again).toMatchObject({ id: job.id, state: 'JobComplete', numberRecordsProcessed: 25, object: 'Contact' });
  } finally {
    await single.close();
  }
});

test('a page read with maxRecords names the next locator; the last says null; a WHERE on SystemModstamp filters', async () => {
  const base = `${emu.url}/services/data/v62.0/jobs/query`;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const created = (await (
    await fetch(base, {
      method: 'POST',
      headers,
      body: JSON.stringify({ operation: 'query', query: 'SELECT Id FROM Contact WHERE SystemModstamp <= 2026-01-02T03:04:05.000Z' }),
    })
  ).json()) as { id: string; state: string };
  expect(created.state).toBe('UploadComplete');
  expect((await (await fetch(`${base}/${created.id}`, { headers })).json()) as { state: string; numberRecordsProcessed: number }).toMatchObject({
    state: 'JobComplete',
    numberRecordsProcessed: 25,
  });
  let locator: string | null = '';
  let rows = 0;
  for (let page = 0; locator !== 'null' && page < 10; page++) {
    const res = await fetch(`${base}/${created.id}/results?maxRecords=20${locator ? `&locator=${locator}` : ''}`, { headers });
    expect(res.headers.get('content-type')).toMatch(/text\/csv/);
    locator = res.headers.get('sforce-locator');
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('Id');
    rows += lines.length - 1;
  }
  expect(rows).toBe(25);
  expect((await fetch(`${base}/${created.id}/results?locator=made-up`, { headers })).status).toBe(400);
});
