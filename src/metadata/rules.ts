/**
 * What Salesforce would refuse (or silently ignore) in force-app, checked offline. SDR resolves
 * files to metadata types but knows nothing of these rules, and a deploy that fails in the
 * customer's org is the most expensive place to find out. Each rule has a stable ID; the tests
 * show every rule catching a deliberately broken copy, and `sfmc-bridge check` runs them all.
 */
import { basename } from 'node:path';
import {
  CDC_STANDARD_OBJECTS,
  EVENT_FIELD_TYPES,
  EVENT_OBJECT_PERMISSIONS,
  FILTER_OPERATORS,
  HEADER_ARRAY_FIELDS,
  LONG_TEXT_LENGTH,
  MAX_ENRICHED_FIELDS,
  MIN_API,
  NUMBER_PRECISION_MAX,
  PUBLISH_BEHAVIORS,
  REQUIRED_STANDARD_FIELDS,
  STANDARD_CHANGE_CHANNEL,
  TEXT_LENGTH,
  channelMemberName,
  compoundOf,
  objectOfChangeEvent,
} from './facts.ts';
import { finding, type Finding } from './findings.ts';
import type { FieldDef, ForceApp, ObjectDef } from './force-app.ts';

/** One offline rule. */
export interface MetadataRule {
  id: string;
  /** What Salesforce requires, in one sentence. */
  description: string;
  check(app: ForceApp): Finding[];
}

const PERMISSION_FLAGS = ['allowRead', 'allowCreate', 'allowEdit', 'allowDelete', 'viewAllRecords', 'modifyAllRecords'] as const;
const q = (v: unknown) => JSON.stringify(v);
const API_NAME = /^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$/;

function events(app: ForceApp): ObjectDef[] {
  return [...app.objects.values()].filter((o) => o.isEvent);
}

function eventFieldProblems(field: FieldDef): string[] {
  const problems: string[] = [];
  const { type } = field;
  if (!field.name.endsWith('__c') || !API_NAME.test(field.name.slice(0, -3)) || field.name.length - 3 > 40) {
    problems.push(`${q(field.name)} is not a custom field API name (letters, digits, single underscores, at most 40 characters, then __c)`);
  }
  if (field.fullName !== undefined && field.fullName !== field.name)
    problems.push(`fullName ${q(field.fullName)} does not match the file name ${q(field.name)}`);
  if (type === undefined || !EVENT_FIELD_TYPES.has(type)) {
    problems.push(`type ${q(type)} is not allowed on a platform event (allowed: ${[...EVENT_FIELD_TYPES].join(', ')})`);
    return problems;
  }
  if (type === 'Text' && !(field.length !== undefined && field.length >= TEXT_LENGTH.min && field.length <= TEXT_LENGTH.max)) {
    problems.push(`Text length ${q(field.length)} must be ${TEXT_LENGTH.min} to ${TEXT_LENGTH.max}`);
  }
  if (type === 'LongTextArea') {
    if (!(field.length !== undefined && field.length >= LONG_TEXT_LENGTH.min && field.length <= LONG_TEXT_LENGTH.max)) {
      problems.push(`LongTextArea length ${q(field.length)} must be ${LONG_TEXT_LENGTH.min} to ${LONG_TEXT_LENGTH.max}`);
    }
    if (!(field.visibleLines !== undefined && field.visibleLines >= 2))
      problems.push(`LongTextArea needs visibleLines of 2 or more (got ${q(field.visibleLines)})`);
  }
  if (type !== 'Text' && type !== 'LongTextArea' && field.length !== undefined) problems.push(`length is not allowed on a ${type} field`);
  if (type === 'Number') {
    const p = field.precision;
    const s = field.scale ?? 0;
    if (!(p !== undefined && Number.isInteger(p) && p >= 1 && p <= NUMBER_PRECISION_MAX))
      problems.push(`Number precision ${q(p)} must be 1 to ${NUMBER_PRECISION_MAX}`);
    else if (!(Number.isInteger(s) && s >= 0 && s <= p)) problems.push(`Number scale ${q(field.scale)} must be 0 to the precision (${p})`);
  }
  if (type === 'Checkbox') {
    if (field.defaultValue !== 'true' && field.defaultValue !== 'false')
      problems.push(`Checkbox needs defaultValue true or false (got ${q(field.defaultValue)})`);
    if (field.required) problems.push('a Checkbox cannot be required (it always has a value)');
  }
  if (field.unique) problems.push('unique is not supported on platform event fields');
  if (field.externalId) problems.push('externalId is not supported on platform event fields');
  return problems;
}

/** Tokens of a filter expression: field names and operators, values skipped. */
function filterTerms(expression: string): { fields: string[]; operators: string[]; balanced: boolean } {
  const withoutStrings = expression.replace(/'(?:\\.|[^'\\])*'/g, " '' ");
  let depth = 0;
  let balanced = true;
  for (const ch of withoutStrings) {
    if (ch === '(') depth++;
    if (ch === ')' && --depth < 0) balanced = false;
  }
  balanced &&= depth === 0;
  const fields: string[] = [];
  const operators: string[] = [];
  const term = /([A-Za-z][A-Za-z0-9_.]*)\s*(==|!=|>=|<=|=|>|<|\bNOT\s+IN\b|\bIN\b|\bLIKE\b|[!~^*%]=?|==)/gi;
  for (const m of withoutStrings.matchAll(term)) {
    fields.push(m[1]!);
    operators.push(m[2]!.toUpperCase().replace(/\s+/g, ' '));
  }
  return { fields, operators, balanced };
}

function apiVersion(app: ForceApp): number | undefined {
  const v = Number(app.project?.sourceApiVersion);
  return Number.isFinite(v) ? v : undefined;
}

/** Every offline rule, in the order their findings are reported. */
export const METADATA_RULES: readonly MetadataRule[] = [
  {
    id: 'sdr-resolve',
    description: 'Every file in force-app resolves to a metadata component (what `sf project deploy start` reads).',
    check: (app) =>
      app.resolveError !== undefined
        ? [finding('error', 'sdr-resolve', `source-deploy-retrieve cannot read the folder: ${app.resolveError}`, { file: app.dir })]
        : app.components.length === 0
          ? [finding('error', 'sdr-resolve', 'no metadata components found', { file: app.dir })]
          : [],
  },
  {
    id: 'project-api-version',
    description: 'sfdx-project.json pins a sourceApiVersion high enough for what force-app uses (enrichment 51.0, filters 56.0).',
    check: (app) => {
      if (app.project === undefined)
        return [
          finding(
            'warning',
            'project-api-version',
            'no sfdx-project.json found next to the folder: the deploy will use whatever API version the CLI defaults to',
            { file: app.dir },
          ),
        ];
      const v = apiVersion(app);
      if (v === undefined)
        return [
          finding('error', 'project-api-version', `sourceApiVersion ${q(app.project.sourceApiVersion)} is not pinned to a version such as "62.0"`, {
            file: app.project.file,
          }),
        ];
      const out: Finding[] = [];
      if (app.members.some((m) => m.filterExpression !== undefined) && v < MIN_API.filterExpression) {
        out.push(
          finding(
            'error',
            'project-api-version',
            `filterExpression needs API ${MIN_API.filterExpression}.0 or later, sourceApiVersion is ${app.project.sourceApiVersion}`,
            { file: app.project.file },
          ),
        );
      }
      if (app.members.some((m) => m.enrichedFields.length > 0) && v < MIN_API.enrichedFields) {
        out.push(
          finding(
            'error',
            'project-api-version',
            `enrichedFields need API ${MIN_API.enrichedFields}.0 or later, sourceApiVersion is ${app.project.sourceApiVersion}`,
            { file: app.project.file },
          ),
        );
      }
      return out;
    },
  },
  {
    id: 'event-high-volume',
    description: 'New platform events must be HighVolume (StandardVolume is deprecated and refused).',
    check: (app) =>
      events(app)
        .filter((e) => e.eventType !== 'HighVolume')
        .map((e) => finding('error', 'event-high-volume', `${e.name}: eventType ${q(e.eventType)} must be "HighVolume"`, { file: e.file })),
  },
  {
    id: 'event-definition',
    description: 'A platform event is Deployed, has labels, a valid __e name and a publish behaviour Salesforce knows.',
    check: (app) =>
      events(app).flatMap((e) => {
        const problems: string[] = [];
        if (!API_NAME.test(e.name.slice(0, -3)) || e.name.length - 3 > 40)
          problems.push('the name must be letters, digits and single underscores (at most 40) before __e');
        if (e.deploymentStatus !== 'Deployed') problems.push(`deploymentStatus ${q(e.deploymentStatus)} must be "Deployed"`);
        if (e.publishBehavior !== undefined && !PUBLISH_BEHAVIORS.has(e.publishBehavior))
          problems.push(`publishBehavior ${q(e.publishBehavior)} must be PublishAfterCommit or PublishImmediately`);
        if (!e.label) problems.push('label is missing');
        if (!e.pluralLabel) problems.push('pluralLabel is missing');
        if (e.fields.size === 0) problems.push('it has no fields');
        return problems.map((p) => finding('error', 'event-definition', `${e.name}: ${p}`, { file: e.file }));
      }),
  },
  {
    id: 'event-field',
    description: 'Platform event fields use the six allowed types with lengths, precision and flags Salesforce accepts.',
    check: (app) =>
      events(app).flatMap((e) =>
        [...e.fields.values()].flatMap((f) =>
          eventFieldProblems(f).map((p) => finding('error', 'event-field', `${e.name}.${f.name}: ${p}`, { file: f.file })),
        ),
      ),
  },
  {
    id: 'channel-definition',
    description: 'A custom channel is named <Name>__chn, has a label, and channelType data (change events) or event (platform events).',
    check: (app) =>
      [...app.channels.values()].flatMap((c) => {
        const problems: string[] = [];
        if (!c.name.endsWith('__chn') || !API_NAME.test(c.name.slice(0, -5))) problems.push(`${q(c.name)} must be <Name>__chn`);
        if (c.channelType !== 'data' && c.channelType !== 'event') problems.push(`channelType ${q(c.channelType)} must be "data" or "event"`);
        if (!c.label) problems.push('label is missing');
        return problems.map((p) => finding('error', 'channel-definition', `${c.name}: ${p}`, { file: c.file }));
      }),
  },
  {
    id: 'channel-member-channel',
    description: 'A member names ChangeEvents or a custom channel defined in force-app, of the type matching its entity, once per entity.',
    check: (app) => {
      const out: Finding[] = [];
      const seen = new Set<string>();
      for (const m of app.members) {
        const isChange = objectOfChangeEvent(m.selectedEntity) !== undefined;
        if (m.eventChannel === STANDARD_CHANGE_CHANNEL) {
          if (!isChange)
            out.push(
              finding('error', 'channel-member-channel', `${m.name}: the ChangeEvents channel only takes change events, not ${q(m.selectedEntity)}`, {
                file: m.file,
              }),
            );
        } else {
          const channel = app.channels.get(m.eventChannel);
          if (channel === undefined) {
            out.push(
              finding(
                'error',
                'channel-member-channel',
                `${m.name}: eventChannel ${q(m.eventChannel)} is neither ChangeEvents nor a channel in platformEventChannels/`,
                { file: m.file },
              ),
            );
          } else if (channel.channelType === 'data' && !isChange) {
            out.push(
              finding(
                'error',
                'channel-member-channel',
                `${m.name}: ${m.eventChannel} is a data channel; ${q(m.selectedEntity)} is not a change event`,
                { file: m.file },
              ),
            );
          } else if (channel.channelType === 'event' && !m.selectedEntity.endsWith('__e')) {
            out.push(
              finding(
                'error',
                'channel-member-channel',
                `${m.name}: ${m.eventChannel} is an event channel; ${q(m.selectedEntity)} is not a platform event`,
                { file: m.file },
              ),
            );
          }
        }
        const key = `${m.eventChannel}/${m.selectedEntity}`;
        if (seen.has(key))
          out.push(
            finding('error', 'channel-member-channel', `${m.name}: ${m.selectedEntity} is selected twice on ${m.eventChannel}`, { file: m.file }),
          );
        seen.add(key);
      }
      return out;
    },
  },
  {
    id: 'channel-member-entity',
    description:
      'A member selects a real entity: <Object>ChangeEvent of a CDC-enabled object, <Name>__ChangeEvent, or a platform event in force-app.',
    check: (app) =>
      app.members.flatMap((m) => {
        const object = objectOfChangeEvent(m.selectedEntity);
        if (m.selectedEntity.endsWith('__e')) {
          return app.objects.has(m.selectedEntity)
            ? []
            : [
                finding('error', 'channel-member-entity', `${m.name}: platform event ${q(m.selectedEntity)} is not defined in objects/`, {
                  file: m.file,
                }),
              ];
        }
        if (object === undefined) {
          const hint = CDC_STANDARD_OBJECTS.has(m.selectedEntity) ? ` (did you mean ${q(`${m.selectedEntity}ChangeEvent`)}?)` : '';
          return [
            finding(
              'error',
              'channel-member-entity',
              `${m.name}: selectedEntity ${q(m.selectedEntity)} is not a change event name such as ContactChangeEvent or My_Object__ChangeEvent${hint}`,
              { file: m.file },
            ),
          ];
        }
        if (object.endsWith('__c')) return [];
        return CDC_STANDARD_OBJECTS.has(object)
          ? []
          : [
              finding(
                'warning',
                'channel-member-entity',
                `${m.name}: ${q(object)} is not a standard object known to support Change Data Capture; check the object reference`,
                { file: m.file },
              ),
            ];
      }),
  },
  {
    id: 'channel-member-name',
    description: 'A member file is named <Channel>_<Entity>, with __chn written _chn (the developer name Salesforce derives).',
    check: (app) =>
      app.members.flatMap((m) => {
        const expected = channelMemberName(m.eventChannel, m.selectedEntity);
        return m.name === expected
          ? []
          : [
              finding('error', 'channel-member-name', `${basename(m.file)} should be named ${expected}.platformEventChannelMember-meta.xml`, {
                file: m.file,
              }),
            ];
      }),
  },
  {
    id: 'channel-member-enrichment',
    description:
      'Enriched fields: only on custom channels and change events, at most 10, whole compound fields (Name) rather than their parts, no relationship paths.',
    check: (app) =>
      app.members.flatMap((m) => {
        if (m.enrichedFields.length === 0) return [];
        const out: string[] = [];
        if (m.eventChannel === STANDARD_CHANGE_CHANNEL) out.push('enrichedFields are only allowed on a custom channel, not on ChangeEvents');
        if (objectOfChangeEvent(m.selectedEntity) === undefined) out.push('enrichedFields are only for change events');
        if (m.enrichedFields.length > MAX_ENRICHED_FIELDS) out.push(`${m.enrichedFields.length} enriched fields; at most ${MAX_ENRICHED_FIELDS}`);
        const seen = new Set<string>();
        for (const f of m.enrichedFields) {
          const compound = compoundOf(f);
          if (compound !== undefined) out.push(`${q(f)} is part of the compound field ${compound}: enrich ${q(compound)} instead`);
          if (f.includes('.')) out.push(`${q(f)}: relationship paths cannot be enriched; enrich the lookup field itself`);
          if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(f.replace(/\./g, ''))) out.push(`${q(f)} is not a field API name`);
          if (seen.has(f)) out.push(`${q(f)} is listed twice`);
          seen.add(f);
        }
        return out.map((p) => finding('error', 'channel-member-enrichment', `${m.name}: ${p}`, { file: m.file }));
      }),
  },
  {
    id: 'channel-member-filter',
    description:
      'A filterExpression sits on a custom channel member, uses supported operators, balanced parentheses, and no ChangeEventHeader array field.',
    check: (app) =>
      app.members.flatMap((m) => {
        if (m.filterExpression === undefined) return [];
        const out: string[] = [];
        if (m.eventChannel === STANDARD_CHANGE_CHANNEL) out.push('filterExpression is only allowed on a custom channel, not on ChangeEvents');
        const { fields, operators, balanced } = filterTerms(m.filterExpression);
        if (!balanced) out.push(`unbalanced parentheses in ${q(m.filterExpression)}`);
        if (fields.length === 0) out.push(`${q(m.filterExpression)} has no <field> <operator> <value> term`);
        operators.forEach((op) => {
          if (!FILTER_OPERATORS.has(op)) out.push(`operator ${q(op)} is not supported (use ${[...FILTER_OPERATORS].join(', ')})`);
        });
        for (const f of fields) {
          const [head, part] = f.split('.');
          if (head === 'ChangeEventHeader' && part !== undefined && HEADER_ARRAY_FIELDS.has(part))
            out.push(`ChangeEventHeader.${part} is an array and cannot be filtered on`);
        }
        return out.map((p) => finding('error', 'channel-member-filter', `${m.name}: ${p}`, { file: m.file }));
      }),
  },
  {
    id: 'permset-event-permissions',
    description: 'On a platform event a permission set grants only Read and Create, names an event that exists, and sets no field permissions.',
    check: (app) =>
      app.permissionSets.flatMap((p) => {
        const out: Finding[] = [];
        for (const o of p.objects.filter((o) => o.object.endsWith('__e'))) {
          const extra = PERMISSION_FLAGS.filter((k) => o[k] && !EVENT_OBJECT_PERMISSIONS.has(k));
          for (const k of extra)
            out.push(
              finding(
                'error',
                'permset-event-permissions',
                `${p.name}: ${k} on platform event ${o.object}; events take only allowRead and allowCreate`,
                { file: p.file },
              ),
            );
          if (!app.objects.has(o.object))
            out.push(finding('warning', 'permset-event-permissions', `${p.name}: ${o.object} is not defined in force-app`, { file: p.file }));
        }
        for (const f of p.fields.filter((f) => f.field.split('.')[0]!.endsWith('__e'))) {
          out.push(
            finding(
              'error',
              'permset-event-permissions',
              `${p.name}: field permission on ${f.field}; platform event fields have no field-level security`,
              { file: p.file },
            ),
          );
        }
        return out;
      }),
  },
  {
    id: 'permset-required-field',
    description: 'A permission set sets no field-level security on always-required standard fields (Salesforce refuses the deploy).',
    check: (app) =>
      app.permissionSets.flatMap((p) =>
        p.fields
          .filter((f) => REQUIRED_STANDARD_FIELDS.has(f.field))
          .map((f) =>
            finding('error', 'permset-required-field', `${p.name}: ${f.field} is a required field; field permissions cannot be set on it`, {
              file: p.file,
            }),
          ),
      ),
  },
  {
    id: 'permset-integration',
    description: 'Some permission set gives the subscriber API Enabled, Read + View All on every selected object and Read on every event.',
    check: (app) => {
      const objects = new Set<string>();
      for (const m of app.members) {
        const object = objectOfChangeEvent(m.selectedEntity);
        if (object !== undefined) objects.add(object);
      }
      const needs = [...objects].map((o) => ({ object: o, viewAll: true })).concat(events(app).map((e) => ({ object: e.name, viewAll: false })));
      if (needs.length === 0) return [];
      const grants = (ps: ForceApp['permissionSets'][number]) =>
        ps.userPermissions.has('ApiEnabled') &&
        needs.every((n) => ps.objects.some((o) => o.object === n.object && o.allowRead && (!n.viewAll || o.viewAllRecords)));
      if (app.permissionSets.some(grants)) return [];
      const best = app.permissionSets[0];
      const missing =
        best === undefined
          ? ['a permission set']
          : [
              ...(best.userPermissions.has('ApiEnabled') ? [] : ['ApiEnabled']),
              ...needs
                .filter((n) => !best.objects.some((o) => o.object === n.object && o.allowRead && (!n.viewAll || o.viewAllRecords)))
                .map((n) => `${n.viewAll ? 'Read + View All' : 'Read'} on ${n.object}`),
            ];
      return [
        finding(
          'error',
          'permset-integration',
          `the integration user would receive nothing: missing ${missing.join(', ')} (without them Salesforce silently delivers no events)`,
          { file: best?.file ?? app.dir },
        ),
      ];
    },
  },
  {
    id: 'flow-publish',
    description:
      'A Flow that publishes an event creates one defined in force-app, assigns only its fields, every required one, from an after-save trigger.',
    check: (app) =>
      app.flows.flatMap((flow) =>
        flow.recordCreates
          .filter((rc) => rc.object?.endsWith('__e'))
          .flatMap((rc) => {
            const out: string[] = [];
            const event = app.objects.get(rc.object!);
            if (flow.triggerType === 'RecordBeforeSave') out.push(`${rc.name}: a before-save flow cannot create records; use RecordAfterSave`);
            if (event === undefined) {
              out.push(`${rc.name}: publishes ${rc.object}, which is not defined in objects/`);
            } else {
              const assigned = new Set<string>();
              for (const a of rc.assignments) {
                if (!event.fields.has(a.field))
                  out.push(`${rc.name}: ${q(a.field)} is not a field of ${event.name} (fields: ${[...event.fields.keys()].join(', ')})`);
                if (assigned.has(a.field)) out.push(`${rc.name}: ${a.field} is assigned twice`);
                assigned.add(a.field);
              }
              for (const f of event.fields.values())
                if (f.required && !assigned.has(f.name)) out.push(`${rc.name}: required field ${event.name}.${f.name} is not assigned`);
            }
            return out.map((p) => finding('error', 'flow-publish', `${flow.name}: ${p}`, { file: flow.file }));
          }),
      ),
  },
  {
    id: 'flow-event-trigger',
    description: 'A Flow started by a platform event names an event defined in force-app and reads only fields that event has ($Record.<Field>).',
    check: (app) =>
      app.flows
        .filter((flow) => flow.triggerType === 'PlatformEvent')
        .flatMap((flow) => {
          const out: string[] = [];
          const event = flow.triggerObject === undefined ? undefined : app.objects.get(flow.triggerObject);
          if (event === undefined || !flow.triggerObject!.endsWith('__e')) {
            out.push(`starts on ${q(flow.triggerObject)}, which is not a platform event defined in objects/`);
          } else {
            const seen = new Set<string>();
            for (const ref of flow.references) {
              const [head, field] = ref.split('.');
              if (head !== '$Record' || field === undefined || seen.has(field)) continue;
              seen.add(field);
              if (!event.fields.has(field) && !EVENT_SYSTEM_FIELDS.has(field))
                out.push(`reads $Record.${field}, which is not a field of ${event.name} (fields: ${[...event.fields.keys()].join(', ')})`);
            }
          }
          return out.map((p) => finding('error', 'flow-event-trigger', `${flow.name}: ${p}`, { file: flow.file }));
        }),
  },
  {
    id: 'flow-references',
    description: 'A Flow refers only to its own elements and to $Record/$Flow globals; $Record__Prior only in update triggers.',
    check: (app) =>
      app.flows.flatMap((flow) => {
        const out: string[] = [];
        const reported = new Set<string>();
        for (const ref of flow.references) {
          const head = ref.split('.')[0]!;
          if (head === '$Record__Prior' && flow.recordTriggerType !== 'Update' && flow.recordTriggerType !== 'CreateAndUpdate') {
            if (!reported.has(head))
              out.push(`$Record__Prior is only available when the flow runs on updates (recordTriggerType is ${q(flow.recordTriggerType)})`);
          } else if (head.startsWith('$')) {
            continue;
          } else if (!flow.elements.has(head) && !reported.has(head)) {
            out.push(`refers to ${q(ref)}, but the flow has no element named ${q(head)}`);
          }
          reported.add(head);
        }
        return out.map((p) => finding('error', 'flow-references', `${flow.name}: ${p}`, { file: flow.file }));
      }),
  },
];

/** Fields every platform event message has besides its own. */
const EVENT_SYSTEM_FIELDS: ReadonlySet<string> = new Set(['ReplayId', 'EventUuid', 'CreatedDate', 'CreatedById']);

/** Runs every offline rule over a parsed force-app. */
export function checkForceApp(app: ForceApp): Finding[] {
  return METADATA_RULES.flatMap((rule) => rule.check(app));
}
