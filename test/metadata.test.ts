// Rule: force-app resolves with source-deploy-retrieve into exactly the components we ship, passes every offline rule, and each rule catches a deliberately broken copy.
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readForceApp, sdr } from '../src/metadata/force-app.ts';
import { METADATA_RULES, checkForceApp } from '../src/metadata/rules.ts';

const DEFAULT = 'force-app/main/default';
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'force-app-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));

describe('the shipped force-app', () => {
  it('resolves every component with source-deploy-retrieve, offline', () => {
    const components = sdr().ComponentSet.fromSource('force-app').getSourceComponents().toArray();
    const names = components.map((c) => `${c.type.name}:${c.fullName}`).sort();
    expect(names).toEqual([
      'CustomObject:MC_Contact_Delete__e',
      'CustomObject:MC_Delivery_Status__e',
      'CustomObject:MC_Journey_Entry__e',
      'CustomObject:MC_Send__e',
      'ExternalClientApplication:SFMC_Bridge',
      'Flow:MC_Delivery_Failure_Task',
      'Flow:MC_New_Contact_Journey_Entry',
      'Flow:MC_Order_Status_Send',
      'PermissionSet:SFMC_Bridge_Integration',
      'PlatformEventChannel:SFMC_Bridge__chn',
      'PlatformEventChannelMember:ChangeEvents_ContactChangeEvent',
      'PlatformEventChannelMember:ChangeEvents_LeadChangeEvent',
      'PlatformEventChannelMember:SFMC_Bridge_chn_ContactChangeEvent',
      'PlatformEventChannelMember:SFMC_Bridge_chn_LeadChangeEvent',
    ]);
    const fields = components.flatMap((c) => c.getChildren().map((f) => `${f.type.name}:${f.fullName}`)).sort();
    expect(fields).toEqual([
      'CustomField:MC_Contact_Delete__e.Correlation_Id__c',
      'CustomField:MC_Contact_Delete__e.Record_Id__c',
      ...[
        'Attempts__c',
        'Correlation_Id__c',
        'Error_Code__c',
        'Error_Reason__c',
        'MC_Message_Id__c',
        'MC_Request_Id__c',
        'Record_Id__c',
        'Route__c',
        'Settled_At__c',
        'Status_Key__c',
        'Status__c',
        'Target_Key__c',
        'Target_Type__c',
      ].map((f) => `CustomField:MC_Delivery_Status__e.${f}`),
      'CustomField:MC_Journey_Entry__e.Correlation_Id__c',
      'CustomField:MC_Journey_Entry__e.Data__c',
      'CustomField:MC_Journey_Entry__e.Event_Definition_Key__c',
      'CustomField:MC_Journey_Entry__e.Record_Id__c',
      'CustomField:MC_Send__e.Api__c',
      'CustomField:MC_Send__e.Attributes__c',
      'CustomField:MC_Send__e.Correlation_Id__c',
      'CustomField:MC_Send__e.Definition_Key__c',
      'CustomField:MC_Send__e.Email__c',
      'CustomField:MC_Send__e.Record_Id__c',
    ]);
  });

  it('keeps the pinned sourceApiVersion', () => {
    expect(JSON.parse(readFileSync('sfdx-project.json', 'utf8')).sourceApiVersion).toBe('62.0');
  });

  it('describes the generic events as PRODUCT.md does', async () => {
    const app = await readForceApp('force-app');
    const shape = (name: string) => {
      const e = app.objects.get(name)!;
      return {
        eventType: e.eventType,
        publishBehavior: e.publishBehavior,
        fields: Object.fromEntries([...e.fields.values()].map((f) => [f.name, `${f.type}(${f.length})${f.required ? ' required' : ''}`])),
      };
    };
    expect(shape('MC_Journey_Entry__e')).toEqual({
      eventType: 'HighVolume',
      publishBehavior: 'PublishAfterCommit',
      fields: {
        Record_Id__c: 'Text(18) required',
        Event_Definition_Key__c: 'Text(200) required',
        Data__c: 'LongTextArea(32768)',
        Correlation_Id__c: 'Text(255)',
      },
    });
    expect(shape('MC_Send__e')).toEqual({
      eventType: 'HighVolume',
      publishBehavior: 'PublishAfterCommit',
      fields: {
        Record_Id__c: 'Text(18) required',
        Definition_Key__c: 'Text(200) required',
        Email__c: 'Text(254)',
        Attributes__c: 'LongTextArea(32768)',
        Api__c: 'Text(20)',
        Correlation_Id__c: 'Text(255)',
      },
    });
  });

  it('passes every offline rule', async () => {
    expect(checkForceApp(await readForceApp('force-app'))).toEqual([]);
  });
});

/** A broken copy: `edit` changes one file (path under force-app/main/default). */
interface Breakage {
  rule: string;
  why: string;
  file: string;
  edit: (xml: string) => string;
  /** Rename the file instead of (or after) editing it. */
  renameTo?: string;
  /** A fragment the finding's message must contain. */
  says: string;
}

const replace = (from: string, to: string) => (xml: string) => {
  if (!xml.includes(from)) throw new Error(`breakage does not apply: ${from}`);
  return xml.replace(from, to);
};

const JOURNEY = 'objects/MC_Journey_Entry__e';
const CONTACT_MEMBER = 'platformEventChannelMembers/SFMC_Bridge_chn_ContactChangeEvent.platformEventChannelMember-meta.xml';
const PERMSET = 'permissionsets/SFMC_Bridge_Integration.permissionset-meta.xml';
const NEW_CONTACT_FLOW = 'flows/MC_New_Contact_Journey_Entry.flow-meta.xml';

const BREAKAGES: Breakage[] = [
  {
    rule: 'sdr-resolve',
    why: 'a file no metadata type claims',
    file: 'objects/MC_Send__e/MC_Send__e.object-meta.xml',
    edit: (x) => x,
    renameTo: 'objects/MC_Send__e/MC_Send__e.objekt-meta.xml',
    says: 'cannot read the folder',
  },
  {
    rule: 'project-api-version',
    why: 'a filter needs API 56.0',
    file: '../../../sfdx-project.json',
    edit: replace('"62.0"', '"50.0"'),
    says: 'filterExpression needs API 56.0',
  },
  {
    rule: 'event-high-volume',
    why: 'StandardVolume event',
    file: `${JOURNEY}/MC_Journey_Entry__e.object-meta.xml`,
    edit: replace('HighVolume', 'StandardVolume'),
    says: '"StandardVolume" must be "HighVolume"',
  },
  {
    rule: 'event-definition',
    why: 'unknown publish behaviour',
    file: `${JOURNEY}/MC_Journey_Entry__e.object-meta.xml`,
    edit: replace('PublishAfterCommit', 'PublishLater'),
    says: 'publishBehavior "PublishLater"',
  },
  {
    rule: 'event-field',
    why: 'Text longer than 255',
    file: `${JOURNEY}/fields/Correlation_Id__c.field-meta.xml`,
    edit: replace('<length>255</length>', '<length>300</length>'),
    says: 'Text length 300 must be 1 to 255',
  },
  {
    rule: 'event-field',
    why: 'a field type events do not have',
    file: `${JOURNEY}/fields/Correlation_Id__c.field-meta.xml`,
    edit: replace('<type>Text</type>', '<type>Picklist</type>'),
    says: 'type "Picklist" is not allowed',
  },
  {
    rule: 'event-field',
    why: 'a required checkbox',
    file: `${JOURNEY}/fields/Correlation_Id__c.field-meta.xml`,
    edit: (x) =>
      x
        .replace('<type>Text</type>', '<type>Checkbox</type>')
        .replace('<length>255</length>', '<defaultValue>false</defaultValue>')
        .replace('<required>false</required>', '<required>true</required>'),
    says: 'a Checkbox cannot be required',
  },
  {
    rule: 'event-field',
    why: 'LongTextArea too short',
    file: `${JOURNEY}/fields/Data__c.field-meta.xml`,
    edit: replace('<length>32768</length>', '<length>100</length>'),
    says: 'LongTextArea length 100',
  },
  {
    rule: 'channel-definition',
    why: 'unknown channel type',
    file: 'platformEventChannels/SFMC_Bridge__chn.platformEventChannel-meta.xml',
    edit: replace('<channelType>data</channelType>', '<channelType>stream</channelType>'),
    says: 'channelType "stream"',
  },
  {
    rule: 'channel-member-channel',
    why: 'a member of a channel that is not defined',
    file: CONTACT_MEMBER,
    edit: (x) => x.replace('SFMC_Bridge__chn', 'Other__chn'),
    renameTo: 'platformEventChannelMembers/Other_chn_ContactChangeEvent.platformEventChannelMember-meta.xml',
    says: 'eventChannel "Other__chn" is neither ChangeEvents',
  },
  {
    rule: 'channel-member-entity',
    why: 'an object name instead of its change event',
    file: 'platformEventChannelMembers/ChangeEvents_LeadChangeEvent.platformEventChannelMember-meta.xml',
    edit: replace('LeadChangeEvent', 'Lead'),
    renameTo: 'platformEventChannelMembers/ChangeEvents_Lead.platformEventChannelMember-meta.xml',
    says: 'did you mean "LeadChangeEvent"',
  },
  {
    rule: 'channel-member-name',
    why: 'a member file not named <Channel>_<Entity>',
    file: CONTACT_MEMBER,
    edit: (x) => x,
    renameTo: 'platformEventChannelMembers/SFMC_Bridge_Contact.platformEventChannelMember-meta.xml',
    says: 'should be named SFMC_Bridge_chn_ContactChangeEvent',
  },
  {
    rule: 'channel-member-enrichment',
    why: 'a compound part enriched',
    file: CONTACT_MEMBER,
    edit: replace('<name>Name</name>', '<name>LastName</name>'),
    says: 'enrich "Name" instead',
  },
  {
    rule: 'channel-member-enrichment',
    why: 'enrichment on the standard channel',
    file: 'platformEventChannelMembers/ChangeEvents_ContactChangeEvent.platformEventChannelMember-meta.xml',
    edit: replace('<eventChannel>', '<enrichedFields><name>Email</name></enrichedFields><eventChannel>'),
    says: 'only allowed on a custom channel',
  },
  {
    rule: 'channel-member-filter',
    why: 'a filter on a header array',
    file: CONTACT_MEMBER,
    edit: replace('HasOptedOutOfEmail = false', "ChangeEventHeader.changedFields = 'Email'"),
    says: 'ChangeEventHeader.changedFields is an array',
  },
  {
    rule: 'channel-member-filter',
    why: 'unbalanced parentheses',
    file: CONTACT_MEMBER,
    edit: replace('HasOptedOutOfEmail = false', '(HasOptedOutOfEmail = false'),
    says: 'unbalanced parentheses',
  },
  {
    rule: 'permset-event-permissions',
    why: 'edit granted on an event',
    file: PERMSET,
    edit: (x) =>
      x.replace(
        /(<allowEdit>)false(<\/allowEdit>\s*<allowRead>true<\/allowRead>\s*<modifyAllRecords>false<\/modifyAllRecords>\s*<object>MC_Send__e)/,
        '$1true$2',
      ),
    says: 'allowEdit on platform event MC_Send__e',
  },
  {
    rule: 'permset-required-field',
    why: 'FLS on a required field',
    file: PERMSET,
    edit: replace('<field>Lead.Email</field>', '<field>Lead.Company</field>'),
    says: 'Lead.Company is a required field',
  },
  {
    rule: 'permset-integration',
    why: 'no View All on Contact',
    file: PERMSET,
    edit: (x) => x.replace(/(<object>Contact<\/object>\s*<viewAllRecords>)true/, '$1false'),
    says: 'Read + View All on Contact',
  },
  {
    rule: 'flow-publish',
    why: 'a field the event does not have',
    file: NEW_CONTACT_FLOW,
    edit: replace('<field>Data__c</field>', '<field>Payload__c</field>'),
    says: '"Payload__c" is not a field of MC_Journey_Entry__e',
  },
  {
    rule: 'flow-publish',
    why: 'a required field left unassigned',
    file: NEW_CONTACT_FLOW,
    edit: replace('<field>Event_Definition_Key__c</field>', '<field>Correlation_Id__c</field>'),
    says: 'required field MC_Journey_Entry__e.Event_Definition_Key__c is not assigned',
  },
  {
    rule: 'flow-publish',
    why: 'publishing from a before-save flow',
    file: NEW_CONTACT_FLOW,
    edit: replace('RecordAfterSave', 'RecordBeforeSave'),
    says: 'a before-save flow cannot create records',
  },
  {
    rule: 'flow-event-trigger',
    why: 'a status Flow reading a field the event lacks',
    file: 'flows/MC_Delivery_Failure_Task.flow-meta.xml',
    edit: replace('$Record.Status__c', '$Record.State__c'),
    says: 'reads $Record.State__c, which is not a field of MC_Delivery_Status__e',
  },
  {
    rule: 'flow-references',
    why: 'a reference to a missing formula',
    file: NEW_CONTACT_FLOW,
    edit: replace('<elementReference>EntryDataJson</elementReference>', '<elementReference>EntryData</elementReference>'),
    says: 'no element named "EntryData"',
  },
  {
    rule: 'flow-references',
    why: '$Record__Prior in a create-only flow',
    file: NEW_CONTACT_FLOW,
    edit: replace('{!$Record.FirstName}', '{!$Record__Prior.FirstName}'),
    says: '$Record__Prior is only available',
  },
];

describe('each rule catches a broken copy', () => {
  it('covers every rule', () => {
    expect(new Set(BREAKAGES.map((b) => b.rule))).toEqual(new Set(METADATA_RULES.map((r) => r.id)));
  });

  it.each(BREAKAGES.map((b) => [b.rule, b.why, b] as const))('%s: %s', async (_rule, _why, b) => {
    const root = mkdtempSync(join(tmp, 'copy-'));
    cpSync('force-app', join(root, 'force-app'), { recursive: true });
    cpSync('sfdx-project.json', join(root, 'sfdx-project.json'));
    const dir = join(root, DEFAULT);
    const path = join(dir, b.file);
    writeFileSync(path, b.edit(readFileSync(path, 'utf8')));
    if (b.renameTo) renameSync(path, join(dir, b.renameTo));

    const findings = checkForceApp(await readForceApp(join(root, 'force-app')));
    const caught = findings.filter((f) => f.rule === b.rule && f.severity === 'error');
    expect(caught.map((f) => f.message)).toEqual(expect.arrayContaining([expect.stringContaining(b.says)]));
    expect(caught[0]!.file).toBeDefined();
  });
});
