/**
 * The config against force-app: does every channel the bridge subscribes to exist in the
 * metadata it deploys with, and does every field a route reads exist on the event? A channel
 * without its CDC selection or event definition does not fail at start-up: Salesforce simply
 * delivers nothing, which is the failure this check exists to catch before an admin waits for
 * events that never come.
 */
import { splitDotted } from '../normalize/compound.ts';
import { ConfigError } from '../core/errors.ts';
import { defaultMapperDirs, findMapperFile, loadMapper, type MapperDirs } from '../route/mapper-loader.ts';
import type { ParsedConfig } from '../config/schema.ts';
import { EVENT_STANDARD_FIELDS, STANDARD_CHANGE_CHANNEL, changeEventName, objectOfChangeEvent } from './facts.ts';
import { finding, type Finding } from './findings.ts';
import type { ForceApp, ObjectDef } from './force-app.ts';
import { STATUS_EVENT, STATUS_FIELDS } from '../delivery/feedback/status-event.ts';

/** What a channel delivers, as far as force-app tells. */
export interface ChannelSource {
  kind: 'change' | 'event';
  /** Objects (Contact, Thing__c) or events (X__e) the channel carries. */
  entities: string[];
}

const q = (v: unknown) => JSON.stringify(v);

/** Objects selected on a channel (`ChangeEvents` or `X__chn`), from its members. */
function selectedOn(app: ForceApp, channel: string): string[] {
  return app.members.filter((m) => m.eventChannel === channel).map((m) => objectOfChangeEvent(m.selectedEntity) ?? m.selectedEntity);
}

/**
 * What the config's channel `name` delivers according to force-app, plus the findings that
 * say why it would deliver nothing.
 */
export function channelSource(app: ForceApp, name: string, key: string): { source: ChannelSource | undefined; findings: Finding[] } {
  const [, prefix, topic = ''] = name.split('/');
  if (prefix === 'event') {
    if (topic.endsWith('__chn')) {
      const channel = app.channels.get(topic);
      if (channel === undefined)
        return {
          source: undefined,
          findings: [
            finding('error', 'config-channel-defined', `${name}: no custom channel ${topic} in force-app (platformEventChannels/)`, { key }),
          ],
        };
      if (channel.channelType !== 'event')
        return {
          source: undefined,
          findings: [
            finding('error', 'config-channel-defined', `${name}: ${topic} is a ${channel.channelType} channel; subscribe to it as /data/${topic}`, {
              key,
              file: channel.file,
            }),
          ],
        };
      return { source: { kind: 'event', entities: selectedOn(app, topic) }, findings: [] };
    }
    const event = app.objects.get(topic);
    if (event === undefined || !event.isEvent) {
      return {
        source: undefined,
        findings: [
          finding('error', 'config-event-defined', `${name}: platform event ${topic} is not defined in force-app (objects/${topic}/)`, { key }),
        ],
      };
    }
    return { source: { kind: 'event', entities: [topic] }, findings: [] };
  }
  if (topic === STANDARD_CHANGE_CHANNEL) {
    const entities = selectedOn(app, STANDARD_CHANGE_CHANNEL);
    return entities.length > 0
      ? { source: { kind: 'change', entities }, findings: [] }
      : {
          source: undefined,
          findings: [
            finding(
              'error',
              'config-cdc-selected',
              `${name}: no object is selected for Change Data Capture in force-app (platformEventChannelMembers/ChangeEvents_*)`,
              { key },
            ),
          ],
        };
  }
  if (topic.endsWith('__chn')) {
    const channel = app.channels.get(topic);
    if (channel === undefined)
      return {
        source: undefined,
        findings: [finding('error', 'config-channel-defined', `${name}: no custom channel ${topic} in force-app (platformEventChannels/)`, { key })],
      };
    if (channel.channelType !== 'data')
      return {
        source: undefined,
        findings: [
          finding('error', 'config-channel-defined', `${name}: ${topic} is an event channel; subscribe to it as /event/${topic}`, {
            key,
            file: channel.file,
          }),
        ],
      };
    const entities = selectedOn(app, topic);
    return entities.length > 0
      ? { source: { kind: 'change', entities }, findings: [] }
      : {
          source: undefined,
          findings: [
            finding('error', 'config-channel-defined', `${name}: custom channel ${topic} has no members, so it delivers nothing`, {
              key,
              file: channel.file,
            }),
          ],
        };
  }
  const object = objectOfChangeEvent(topic);
  if (object === undefined) {
    return {
      source: undefined,
      findings: [
        finding(
          'error',
          'config-cdc-selected',
          `${name}: not a change event channel (/data/<Object>ChangeEvent, /data/<Name>__ChangeEvent, /data/ChangeEvents or /data/<Name>__chn)`,
          { key },
        ),
      ],
    };
  }
  const member = app.members.find((m) => m.eventChannel === STANDARD_CHANGE_CHANNEL && m.selectedEntity === topic);
  if (member === undefined) {
    return {
      source: undefined,
      findings: [
        finding(
          'error',
          'config-cdc-selected',
          `${name}: ${object} is not selected for Change Data Capture; add platformEventChannelMembers/ChangeEvents_${changeEventName(object)}.platformEventChannelMember-meta.xml`,
          { key },
        ),
      ],
    };
  }
  return { source: { kind: 'change', entities: [object] }, findings: [] };
}

/** Event fields a custom mapper reads, from its optional `fields` export (undefined when it declares none). */
async function mapperFields(name: string, dirs: MapperDirs): Promise<string[] | undefined> {
  const file = findMapperFile(name, dirs);
  if (file === undefined) return undefined;
  const module = (await import(file.href)) as { fields?: unknown };
  return Array.isArray(module.fields) && module.fields.every((f) => typeof f === 'string') ? (module.fields as string[]) : undefined;
}

function fieldOf(event: ObjectDef, path: string): boolean {
  const top = path.split('.')[0]!;
  return event.fields.has(top) || EVENT_STANDARD_FIELDS.has(top) || event.fields.has(splitDotted(path)?.flat ?? path);
}

/** Options of the config cross-check. */
export interface CrossCheckOptions {
  /** Folder(s) of custom mappers. @default `<cwd>/mappers/`, then the shipped ones */
  mappersDir?: MapperDirs;
}

/** The cross-check's findings, and what each channel delivers (for the online describe). */
export interface CrossCheckResult {
  findings: Finding[];
  sources: Map<string, ChannelSource>;
}

/** Cross-checks a parsed config against a parsed force-app; findings name the config key and the file. */
export async function crossCheckConfig(config: ParsedConfig, app: ForceApp, options: CrossCheckOptions = {}): Promise<CrossCheckResult> {
  const out: Finding[] = [];
  const sources = new Map<string, ChannelSource>();
  config.channels.forEach((channel, i) => {
    const key = `channels[${i}].name`;
    const { source, findings } = channelSource(app, channel.name, key);
    out.push(...findings);
    if (source === undefined) return;
    sources.set(channel.name, source);
    if (source.kind === 'event' && channel.name.endsWith('__e')) {
      const event = app.objects.get(source.entities[0]!)!;
      if (!event.fields.has(channel.recordIdField)) {
        out.push(
          finding(
            'error',
            'config-route-fields',
            `${channel.name}: recordIdField ${q(channel.recordIdField)} is not a field of ${event.name} (fields: ${[...event.fields.keys()].join(', ')})`,
            { key: `channels[${i}].recordIdField`, file: event.file },
          ),
        );
      }
    }
    if (channel.name === `/data/${STANDARD_CHANGE_CHANNEL}` && !app.permissionSets.some((p) => p.userPermissions.has('ViewAllData'))) {
      out.push(
        finding(
          'warning',
          'config-cdc-selected',
          `${channel.name} is delivered only to a user with View All Data, and no permission set in force-app grants it`,
          { key },
        ),
      );
    }
    if (!config.routes.some((r) => r.channel === channel.name)) {
      out.push(
        finding('warning', 'config-channel-unrouted', `${channel.name}: no route uses this channel, so its events are received and dropped`, { key }),
      );
    }
  });

  const mappersDir = options.mappersDir ?? defaultMapperDirs();
  for (const [i, route] of config.routes.entries()) {
    const at = `routes[${i}]`;
    const source = sources.get(route.channel);
    if (source === undefined) continue; // the channel's own finding says why
    route.entities.forEach((entity, j) => {
      if (!source.entities.includes(entity)) {
        out.push(
          finding(
            'error',
            'config-route-entities',
            `route ${q(route.name)}: ${route.channel} does not deliver ${entity} (it delivers ${source.entities.join(', ')})`,
            { key: `${at}.entities[${j}]` },
          ),
        );
      }
    });
    if (route.mapper !== undefined) {
      try {
        await loadMapper(route.mapper, `${at}.mapper`, mappersDir);
      } catch (err) {
        out.push(
          finding('error', 'config-mapper', err instanceof ConfigError ? err.message.slice(err.key.length + 2) : String(err), {
            key: `${at}.mapper`,
          }),
        );
        continue;
      }
    }
    if (source.kind !== 'event') continue; // change event fields need the org's describe (online part)
    const events = source.entities.map((e) => app.objects.get(e)).filter((e): e is ObjectDef => e !== undefined && e.isEvent);
    const reads: { path: string; key: string }[] = [];
    if (route.mapping !== undefined) {
      for (const [name, path] of Object.entries(route.mapping.data)) reads.push({ path, key: `${at}.mapping.data.${name}` });
    } else if (route.mapper !== undefined) {
      for (const path of (await mapperFields(route.mapper, mappersDir)) ?? []) reads.push({ path, key: `${at}.mapper` });
    }
    for (const event of events) {
      for (const read of reads) {
        if (!fieldOf(event, read.path)) {
          out.push(
            finding(
              'error',
              'config-route-fields',
              `route ${q(route.name)} reads ${q(read.path)}, which is not a field of ${event.name} (fields: ${[...event.fields.keys()].join(', ')})`,
              { key: read.key, file: event.file },
            ),
          );
        }
      }
    }
  }
  out.push(...feedbackFindings(config, app));
  return { findings: out, sources };
}

/**
 * Routes with feedback publish MC_Delivery_Status__e: force-app must define it with every field
 * the bridge sets, and a permission set must let the integration user create (publish) it.
 * Without them every publish is refused and the statuses pile up in the outbox.
 */
function feedbackFindings(config: ParsedConfig, app: ForceApp): Finding[] {
  const first = config.routes.findIndex((r) => r.feedback);
  if (first < 0) return [];
  const key = `routes[${first}].feedback`;
  const event = app.objects.get(STATUS_EVENT);
  if (event === undefined || !event.isEvent) {
    return [
      finding('error', 'config-feedback', `feedback publishes ${STATUS_EVENT}, which is not defined in force-app (objects/${STATUS_EVENT}/)`, {
        key,
      }),
    ];
  }
  const out: Finding[] = [];
  const missing = STATUS_FIELDS.filter((f) => !event.fields.has(f));
  if (missing.length > 0)
    out.push(
      finding('error', 'config-feedback', `${STATUS_EVENT} lacks ${missing.join(', ')}, which the bridge sets on every status`, {
        key,
        file: event.file,
      }),
    );
  if (!app.permissionSets.some((p) => p.objects.some((o) => o.object === STATUS_EVENT && o.allowCreate))) {
    out.push(
      finding(
        'error',
        'config-feedback',
        `no permission set in force-app lets the integration user create ${STATUS_EVENT}: Salesforce would refuse every status`,
        { key, file: app.permissionSets[0]?.file },
      ),
    );
  }
  return out;
}
