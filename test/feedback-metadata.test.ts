// Rule: the feedback metadata in force-app (MC_Delivery_Status__e, its permission, the example Flow that makes a Task on a failure) validates offline, and `check` names what a feedback route would miss.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { STATUS_EVENT, STATUS_FIELDS } from '../src/delivery/feedback/status-event.ts';
import { crossCheckConfig } from '../src/metadata/cross-check.ts';
import { readForceApp } from '../src/metadata/force-app.ts';
import { checkForceApp } from '../src/metadata/rules.ts';

const FLOW = 'force-app/main/default/flows/MC_Delivery_Failure_Task.flow-meta.xml';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'feedback-meta-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of force-app with `edit` applied to one file. */
function copyWith(file: string, edit: (text: string) => string): string {
  const to = join(dir, `copy-${Math.random().toString(36).slice(2)}`);
  cpSync('force-app', join(to, 'force-app'), { recursive: true });
  cpSync('sfdx-project.json', join(to, 'sfdx-project.json'));
  const path = join(to, file);
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
  return join(to, 'force-app');
}

function shippedWithFeedback(): ReturnType<typeof parseConfig> {
  const config = JSON.parse(readFileSync('config/bridge.json', 'utf8'));
  delete config.$schema;
  config.routes[0].feedback = true;
  return parseConfig(config);
}

test('the shipped event defines every field the bridge sets, the Flow and the permission set pass every offline rule, and source-deploy-retrieve resolves them', async () => {
  const app = await readForceApp('force-app');
  const event = app.objects.get(STATUS_EVENT)!;
  expect(event.isEvent).toBe(true);
  expect(STATUS_FIELDS.filter((f) => !event.fields.has(f))).toEqual([]);
  expect(checkForceApp(app)).toEqual([]);
  const flow = app.flows.find((f) => f.name === 'MC_Delivery_Failure_Task')!;
  expect(flow).toMatchObject({ triggerType: 'PlatformEvent', triggerObject: STATUS_EVENT });
  expect(flow.recordCreates.map((rc) => rc.object)).toEqual(['Task']);
  const sdr = createRequire(import.meta.url)('@salesforce/source-deploy-retrieve') as {
    ComponentSet: { fromSource(p: string): { getSourceComponents(): { toArray(): { type: { name: string }; fullName: string }[] } } };
  };
  const names = sdr.ComponentSet.fromSource('force-app')
    .getSourceComponents()
    .toArray()
    .map((c) => `${c.type.name}:${c.fullName}`);
  expect(names).toEqual(expect.arrayContaining([`CustomObject:${STATUS_EVENT}`, 'Flow:MC_Delivery_Failure_Task']));
  expect((await crossCheckConfig(shippedWithFeedback(), app)).findings.filter((f) => f.rule === 'config-feedback')).toEqual([]);
});

test('a Flow on the status event that reads a field the event lacks, or starts on an event not defined, is an error naming the flow', async () => {
  const reads = await readForceApp(copyWith(FLOW, (t) => t.replace('$Record.Error_Code__c', '$Record.Error_Kind__c')));
  expect(checkForceApp(reads)).toEqual([
    expect.objectContaining({
      severity: 'error',
      rule: 'flow-event-trigger',
      message: expect.stringContaining('reads $Record.Error_Kind__c, which is not a field of MC_Delivery_Status__e'),
    }),
  ]);
  const starts = await readForceApp(copyWith(FLOW, (t) => t.replace(`<object>${STATUS_EVENT}</object>`, '<object>MC_Delivery_Stat__e</object>')));
  expect(checkForceApp(starts)).toEqual([
    expect.objectContaining({
      rule: 'flow-event-trigger',
      message: expect.stringContaining('"MC_Delivery_Stat__e", which is not a platform event defined'),
    }),
  ]);
});

test('check names a feedback route whose status event the integration user could not publish', async () => {
  const app = await readForceApp(
    copyWith('force-app/main/default/permissionsets/SFMC_Bridge_Integration.permissionset-meta.xml', (t) =>
      t.replace(
        /<allowCreate>true<\/allowCreate>(\s*<allowDelete>false<\/allowDelete>\s*<allowEdit>false<\/allowEdit>\s*<allowRead>true<\/allowRead>\s*<modifyAllRecords>false<\/modifyAllRecords>\s*<object>MC_Delivery_Status__e)/,
        '<allowCreate>false</allowCreate>$1',
      ),
    ),
  );
  const { findings } = await crossCheckConfig(shippedWithFeedback(), app);
  expect(findings.filter((f) => f.rule === 'config-feedback')).toEqual([
    expect.objectContaining({ severity: 'error', key: 'routes[0].feedback', message: expect.stringContaining('create MC_Delivery_Status__e') }),
  ]);
});
