/**
 * Reads a `force-app` folder the way the Salesforce CLI does (`@salesforce/source-deploy-retrieve`,
 * `ComponentSet.fromSource`), then parses the components the bridge cares about into a small
 * typed model that the rules and the config cross-check read. SDR resolves file names to
 * metadata types but checks nothing against Salesforce's schema: that is what rules.ts is for.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

/** The part of source-deploy-retrieve's SourceComponent used here. */
export interface SourceComponent {
  type: { name: string };
  fullName: string;
  xml?: string;
  content?: string;
  parseXml(): Promise<unknown>;
  getChildren(): SourceComponent[];
}

/** The part of `@salesforce/source-deploy-retrieve` used here. */
export interface Sdr {
  ComponentSet: { fromSource(path: string): { getSourceComponents(): { toArray(): SourceComponent[] } } };
}

/**
 * source-deploy-retrieve, loaded through `require` with the small type above. Its own type
 * declarations pull in @jsforce/jsforce-node's ambient `declare module 'faye'`, which clashes with
 * src/types/faye.d.ts and breaks the type-check of the CometD subscriber.
 */
export function sdr(): Sdr {
  return createRequire(import.meta.url)('@salesforce/source-deploy-retrieve') as Sdr;
}

/** One component as SDR resolved it. */
export interface ResolvedComponent {
  type: string;
  fullName: string;
  /** The component's -meta.xml file. */
  file: string;
}

/** A field of a platform event (or of any custom object in force-app). */
export interface FieldDef {
  name: string;
  file: string;
  /** The fullName written inside the file (must match the file name). */
  fullName: string | undefined;
  type: string | undefined;
  length: number | undefined;
  precision: number | undefined;
  scale: number | undefined;
  visibleLines: number | undefined;
  required: boolean;
  unique: boolean;
  externalId: boolean;
  defaultValue: string | undefined;
}

/** A custom object; `isEvent` for platform events (`__e`). */
export interface ObjectDef {
  name: string;
  file: string;
  isEvent: boolean;
  eventType: string | undefined;
  publishBehavior: string | undefined;
  deploymentStatus: string | undefined;
  label: string | undefined;
  pluralLabel: string | undefined;
  fields: Map<string, FieldDef>;
}

/** A custom channel (`<Name>__chn`). */
export interface ChannelDef {
  name: string;
  file: string;
  channelType: string | undefined;
  label: string | undefined;
}

/** A channel member: an entity selected on the standard ChangeEvents channel or a custom channel. */
export interface ChannelMemberDef {
  name: string;
  file: string;
  eventChannel: string;
  selectedEntity: string;
  enrichedFields: string[];
  filterExpression: string | undefined;
}

/** Object permissions of a permission set, as booleans. */
export interface ObjectPermission {
  object: string;
  allowRead: boolean;
  allowCreate: boolean;
  allowEdit: boolean;
  allowDelete: boolean;
  viewAllRecords: boolean;
  modifyAllRecords: boolean;
}

export interface PermissionSetDef {
  name: string;
  file: string;
  objects: ObjectPermission[];
  fields: { field: string; readable: boolean; editable: boolean }[];
  /** Enabled user permissions (ApiEnabled, ViewAllData, ...). */
  userPermissions: Set<string>;
}

/** A Create Records element. */
export interface RecordCreate {
  name: string;
  object: string | undefined;
  assignments: { field: string; reference: string | undefined }[];
}

export interface FlowDef {
  name: string;
  file: string;
  triggerObject: string | undefined;
  triggerType: string | undefined;
  recordTriggerType: string | undefined;
  recordCreates: RecordCreate[];
  /** Names of the flow's own elements (formulas, variables, creates, ...). */
  elements: Set<string>;
  /** Every reference the flow makes: elementReference / targetReference values and {!merge} fields. */
  references: string[];
}

/** The parsed force-app. */
export interface ForceApp {
  dir: string;
  /** sfdx-project.json next to (or above) the folder, when found. */
  project: { file: string; sourceApiVersion: string | undefined } | undefined;
  components: ResolvedComponent[];
  /** Why SDR could not read the folder, when it could not. */
  resolveError: string | undefined;
  objects: Map<string, ObjectDef>;
  channels: Map<string, ChannelDef>;
  members: ChannelMemberDef[];
  permissionSets: PermissionSetDef[];
  flows: FlowDef[];
}

type Xml = Record<string, unknown>;

/** XML lists come back as one object when there is a single element. */
export function list<T = Xml>(value: unknown): T[] {
  if (value === undefined || value === null || value === '') return [];
  return (Array.isArray(value) ? value : [value]) as T[];
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object') return undefined;
  return String(value);
}

function num(value: unknown): number | undefined {
  const t = text(value);
  if (t === undefined || t.trim() === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : Number.NaN;
}

function bool(value: unknown): boolean {
  return text(value) === 'true';
}

async function root(component: SourceComponent, tag: string): Promise<Xml> {
  const parsed = (await component.parseXml()) as Xml;
  return (parsed[tag] ?? {}) as Xml;
}

function findProject(dir: string): ForceApp['project'] {
  let at = dir;
  for (let i = 0; i < 4; i++) {
    const file = join(at, 'sfdx-project.json');
    if (existsSync(file)) {
      try {
        const json = JSON.parse(readFileSync(file, 'utf8')) as { sourceApiVersion?: unknown };
        return { file, sourceApiVersion: typeof json.sourceApiVersion === 'string' ? json.sourceApiVersion : undefined };
      } catch {
        return { file, sourceApiVersion: undefined };
      }
    }
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  return undefined;
}

function fieldDef(xml: Xml, name: string, file: string): FieldDef {
  return {
    name,
    file,
    fullName: text(xml.fullName),
    type: text(xml.type),
    length: num(xml.length),
    precision: num(xml.precision),
    scale: num(xml.scale),
    visibleLines: num(xml.visibleLines),
    required: bool(xml.required),
    unique: bool(xml.unique),
    externalId: bool(xml.externalId),
    defaultValue: text(xml.defaultValue),
  };
}

const REFERENCE_KEYS = new Set([
  'elementReference',
  'targetReference',
  'leftValueReference',
  'assignToReference',
  'inputReference',
  'collectionReference',
]);
const ELEMENT_KINDS = [
  'actionCalls',
  'assignments',
  'constants',
  'decisions',
  'formulas',
  'loops',
  'recordCreates',
  'recordDeletes',
  'recordLookups',
  'recordUpdates',
  'screens',
  'subflows',
  'textTemplates',
  'variables',
  'collectionProcessors',
  'transforms',
];

function collectReferences(value: unknown, out: string[]): void {
  if (typeof value === 'string') {
    for (const m of value.matchAll(/\{!([^}]+)\}/g)) out.push(m[1]!.trim());
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collectReferences(item, out);
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (REFERENCE_KEYS.has(key) && typeof child === 'string') out.push(child);
      else collectReferences(child, out);
    }
  }
}

function flowDef(xml: Xml, name: string, file: string): FlowDef {
  const start = (xml.start ?? {}) as Xml;
  const elements = new Set<string>();
  for (const kind of ELEMENT_KINDS)
    for (const el of list(xml[kind])) {
      const n = text(el.name);
      if (n) elements.add(n);
    }
  const references: string[] = [];
  collectReferences(xml, references);
  return {
    name,
    file,
    triggerObject: text(start.object),
    triggerType: text(start.triggerType),
    recordTriggerType: text(start.recordTriggerType),
    recordCreates: list(xml.recordCreates).map((el) => ({
      name: text(el.name) ?? '',
      object: text(el.object),
      assignments: list(el.inputAssignments).map((a) => {
        const value = (a.value ?? {}) as Xml;
        return { field: text(a.field) ?? '', reference: text(value.elementReference) };
      }),
    })),
    elements,
    references,
  };
}

/**
 * Resolves and parses `dir` (a package directory such as `force-app`). Never throws for bad
 * metadata: an unresolvable folder comes back with `resolveError` set, for the rules to report.
 */
export async function readForceApp(dir: string): Promise<ForceApp> {
  const app: ForceApp = {
    dir,
    project: findProject(dir),
    components: [],
    resolveError: undefined,
    objects: new Map(),
    channels: new Map(),
    members: [],
    permissionSets: [],
    flows: [],
  };
  if (!existsSync(dir)) {
    app.resolveError = `${dir} does not exist`;
    return app;
  }
  let sources: SourceComponent[];
  try {
    sources = sdr().ComponentSet.fromSource(dir).getSourceComponents().toArray();
  } catch (err) {
    app.resolveError = (err as Error).message;
    return app;
  }
  for (const c of sources) {
    const file = c.xml ?? c.content ?? dir;
    app.components.push({ type: c.type.name, fullName: c.fullName, file });
    switch (c.type.name) {
      case 'CustomObject': {
        const xml = await root(c, 'CustomObject');
        const object: ObjectDef = {
          name: c.fullName,
          file,
          isEvent: c.fullName.endsWith('__e'),
          eventType: text(xml.eventType),
          publishBehavior: text(xml.publishBehavior),
          deploymentStatus: text(xml.deploymentStatus),
          label: text(xml.label),
          pluralLabel: text(xml.pluralLabel),
          fields: new Map(),
        };
        // Fields declared inline (mdapi style) and as child files (source format) both count.
        for (const inline of list(xml.fields)) {
          const n = text(inline.fullName) ?? '';
          object.fields.set(n, fieldDef(inline, n, file));
        }
        for (const child of c.getChildren()) {
          if (child.type.name !== 'CustomField') continue;
          const n = child.fullName.slice(c.fullName.length + 1);
          object.fields.set(n, fieldDef(await root(child, 'CustomField'), n, child.xml ?? file));
          app.components.push({ type: 'CustomField', fullName: child.fullName, file: child.xml ?? file });
        }
        app.objects.set(c.fullName, object);
        break;
      }
      case 'PlatformEventChannel': {
        const xml = await root(c, 'PlatformEventChannel');
        app.channels.set(c.fullName, { name: c.fullName, file, channelType: text(xml.channelType), label: text(xml.label) });
        break;
      }
      case 'PlatformEventChannelMember': {
        const xml = await root(c, 'PlatformEventChannelMember');
        app.members.push({
          name: c.fullName,
          file,
          eventChannel: text(xml.eventChannel) ?? '',
          selectedEntity: text(xml.selectedEntity) ?? '',
          enrichedFields: list(xml.enrichedFields).map((f) => text(f.name) ?? ''),
          filterExpression: text(xml.filterExpression),
        });
        break;
      }
      case 'PermissionSet': {
        const xml = await root(c, 'PermissionSet');
        app.permissionSets.push({
          name: c.fullName,
          file,
          objects: list(xml.objectPermissions).map((p) => ({
            object: text(p.object) ?? '',
            allowRead: bool(p.allowRead),
            allowCreate: bool(p.allowCreate),
            allowEdit: bool(p.allowEdit),
            allowDelete: bool(p.allowDelete),
            viewAllRecords: bool(p.viewAllRecords),
            modifyAllRecords: bool(p.modifyAllRecords),
          })),
          fields: list(xml.fieldPermissions).map((p) => ({ field: text(p.field) ?? '', readable: bool(p.readable), editable: bool(p.editable) })),
          userPermissions: new Set(
            list(xml.userPermissions)
              .filter((p) => bool(p.enabled))
              .map((p) => text(p.name) ?? ''),
          ),
        });
        break;
      }
      case 'Flow':
        app.flows.push(flowDef(await root(c, 'Flow'), c.fullName, file));
        break;
      default:
        break;
    }
  }
  return app;
}

/** `file` relative to the working directory, for messages. */
export function shownPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') ? file : rel;
}
