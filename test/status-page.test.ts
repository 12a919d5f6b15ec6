/**
 * The status page works in a real browser: it shows live counters and the latest records, and
 * a support person can search one record and see its timeline (headless Debian Chromium).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { load } from '../src/config/load.ts';
import { createLogger } from '../src/core/log.ts';
import { startService, type Service } from '../src/service.ts';
import { bridgeConfig, contactId, startHarness, waitFor, type Harness } from './helpers/harness.ts';

const TOKEN = 'status-page-token-51c2';
let h: Harness;
let service: Service;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  h = await startHarness();
  h.mc.injectFault({ kind: 'status', status: 503, count: 1 });
  for (let i = 0; i < 20; i++)
    h.sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(i)], fields: { Email: `p${i}@example.com` } });
  const config = load(bridgeConfig(h.dir, { admin: { enabled: true, port: 0, token: { env: 'ADMIN_TOKEN' } } }), { ...h.env, ADMIN_TOKEN: TOKEN });
  service = await startService(config, createLogger({ level: 'silent', pretty: false }));
  await waitFor(() => h.mc.stats().uniqueContacts >= 20, 20_000, '20 contacts delivered');
  profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  // A fresh profile directory per run: nothing carried over between runs or engineers.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await h.close();
  if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

test('searching a record (by its 15-character ID) on the status page shows its timeline: received, routed, a failed attempt, delivered with its IDs', async () => {
  const page = await browser.newPage();
  try {
    // The token travels in the fragment, which the browser never sends to the server.
    await page.goto(`${service.admin!.url}/#token=${TOKEN}`);
    await page.waitForFunction(`document.getElementById('delivered')?.textContent === '20'`, undefined, { timeout: 20_000 });
    expect(await page.textContent('#backlog')).toBe('0');
    expect(await page.textContent('#state')).toContain('subscribed');
    expect(await page.locator('#recent tr').count()).toBeGreaterThan(0);
    expect(page.url()).not.toContain(TOKEN);

    const id = contactId(7);
    await page.fill('#trace-id', id.slice(0, 15));
    await page.click('#trace-go');
    await page.waitForSelector('#timeline li.delivered', { timeout: 20_000 });
    expect(await page.textContent('#trace-summary')).toBe(`Timeline of ${id}: 1 action(s)`);
    const steps = await page.locator('#timeline li').allTextContents();
    const eventInstanceId = h.mc.received({ contactKey: id })[0]!.eventInstanceId;
    expect(steps).toHaveLength(4);
    expect(steps[0]).toMatch(/received {2}\/data\/ContactChangeEvent {2}replayId=\d+ {2}changeType=CREATE/);
    expect(steps[1]).toContain(`routed  route=contact-welcome  action=journey APIEvent-contact-welcome  contactKey=${id}`);
    expect(steps[2]).toMatch(/attempt 1 failed {2}MC_SERVER_ERROR: .*503.*\(will retry\)/);
    expect(steps[3]).toContain(`delivered  attempt 2`);
    expect(steps[3]).toContain(`eventInstanceId=${eventInstanceId}`);

    await page.fill('#trace-id', contactId(999));
    await page.click('#trace-go');
    await page.waitForFunction(`document.getElementById('trace-summary')?.textContent?.startsWith('No history')`, undefined, { timeout: 20_000 });
    expect(await page.locator('#timeline li').count()).toBe(0);
  } finally {
    await page.close();
  }
}, 60_000);

test('without the token the page asks for it instead of showing data', async () => {
  // A new tab starts with empty sessionStorage: no token remembered from the first test.
  const page = await browser.newPage();
  try {
    await page.goto(`${service.admin!.url}/`);
    await page.waitForSelector('#token-form:not([hidden])', { timeout: 20_000 });
    expect(await page.textContent('#error')).toContain('bearer token');
    expect(await page.textContent('#delivered')).toBe('–');
    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await page.waitForFunction(`document.getElementById('delivered')?.textContent === '20'`, undefined, { timeout: 20_000 });
  } finally {
    await page.close();
  }
}, 60_000);
