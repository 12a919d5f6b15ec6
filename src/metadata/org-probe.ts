/**
 * The online half of `check`: with credentials, ask the org to describe every object and event
 * the config relies on (as the integration user, so a field it cannot see counts as missing, just
 * as it would be missing from the events it receives), and fetch a Marketing Cloud token.
 * Nothing here writes anything anywhere.
 */
import { createRequire } from 'node:module';
import { SalesforceCode } from '../core/errors.ts';
import { splitDotted } from '../normalize/compound.ts';
import { McTokenManager } from '../delivery/mc/auth.ts';
import { McRestClient } from '../delivery/mc/http.ts';
import { TargetProbe } from '../delivery/target-probe.ts';
import { readDataExtensionFields } from '../delivery/mc/de-fields.ts';
import type { BridgeConfig } from '../config/schema.ts';
import type { SalesforceAuth } from '../salesforce/auth.ts';
import { finding, type Finding } from './findings.ts';
import { checkDataExtensionFields } from './de-check.ts';
import type { ChannelSource } from './cross-check.ts';

/** Describes one object: its field names, or throws (an Error with `errorCode` for Salesforce errors). */
export type Describe = (object: string) => Promise<{ name: string; fields: readonly { name: string }[] }>;

/** The part of jsforce used here. */
interface Jsforce {
  Connection: new (options: {
    instanceUrl: string;
    accessToken: string;
    version: string;
  }) => {
    sobject(name: string): { describe(): Promise<{ name: string; fields: { name: string }[] }> };
  };
}

/** A describe function backed by a jsforce Connection. */
export async function jsforceDescribe(auth: SalesforceAuth, apiVersion: string): Promise<Describe> {
  // Loaded through require with the small type above: importing jsforce's declarations from src/
  // puts its ambient `declare module 'faye'` ahead of src/types/faye.d.ts and breaks the subscriber's types.
  const jsforce = createRequire(import.meta.url)('jsforce') as Jsforce;
  const conn = new jsforce.Connection({ instanceUrl: auth.instanceUrl, accessToken: await auth.getAccessToken(false), version: apiVersion });
  return async (object) => {
    const result = await conn.sobject(object).describe();
    return { name: result.name, fields: result.fields };
  };
}

/** What the online checks need from the config. */
export interface ProbeInput {
  config: BridgeConfig;
  /** Channel name → what force-app says it delivers (from the offline cross-check). */
  sources: ReadonlyMap<string, ChannelSource>;
}

function errorText(err: unknown): { code: string; message: string } {
  const e = err as { errorCode?: unknown; code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e.errorCode === 'string' ? e.errorCode : typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'ERROR';
  return { code, message: typeof e.message === 'string' ? e.message : String(err) };
}

/** Fields each object must have, with the config key that asks for them. */
function neededFields(input: ProbeInput): Map<string, Map<string, string>> {
  const needs = new Map<string, Map<string, string>>();
  const need = (object: string, field: string, key: string) => {
    let fields = needs.get(object);
    if (fields === undefined) needs.set(object, (fields = new Map()));
    if (!fields.has(field)) fields.set(field, key);
  };
  input.config.channels.forEach((channel, i) => {
    const source = input.sources.get(channel.name);
    for (const entity of source?.entities ?? []) {
      need(entity, '', `channels[${i}].name`);
      if (entity.endsWith('__e')) need(entity, channel.recordIdField, `channels[${i}].recordIdField`);
    }
  });
  input.config.routes.forEach((route, i) => {
    const source = input.sources.get(route.channel);
    if (source === undefined) return;
    const entities = route.entities.length > 0 ? route.entities.filter((e) => source.entities.includes(e)) : source.entities;
    const flat = (path: string) => splitDotted(path)?.flat ?? path;
    for (const entity of entities) {
      for (const [name, path] of Object.entries(route.mapping?.data ?? {})) need(entity, flat(path), `routes[${i}].mapping.data.${name}`);
      route.changedFields.forEach((f, j) => need(entity, flat(f), `routes[${i}].changedFields[${j}]`));
    }
  });
  return needs;
}

const EVENT_SYSTEM_FIELDS = new Set(['EventUuid', 'ReplayId']);

/** Describes every object the config relies on; a missing object or field is an error naming the key. */
export async function probeSalesforce(input: ProbeInput, describe: Describe): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const [object, fields] of neededFields(input)) {
    const firstKey = fields.values().next().value!;
    let names: Set<string>;
    try {
      const result = await describe(object);
      names = new Set(result.fields.map((f) => f.name));
    } catch (err) {
      const { code, message } = errorText(err);
      const notFound = code === SalesforceCode.NOT_FOUND || code === SalesforceCode.INVALID_TYPE || /does not exist|not found/i.test(message);
      out.push(
        finding(
          'error',
          'org-describe',
          notFound
            ? `${object} does not exist in the org, or the integration user cannot see it (deploy force-app and assign the permission set): ${code}`
            : `describing ${object} failed: ${code}: ${message}`,
          { key: firstKey },
        ),
      );
      continue;
    }
    for (const [field, key] of fields) {
      if (field === '' || names.has(field) || (object.endsWith('__e') && EVENT_SYSTEM_FIELDS.has(field))) continue;
      out.push(
        finding(
          'error',
          'org-describe',
          `${object}.${field} does not exist in the org or is not visible to the integration user (field-level security)`,
          { key },
        ),
      );
    }
    out.push(
      finding(
        'info',
        'org-describe',
        `${object}: described, ${fields.size > 1 ? `${[...fields.keys()].filter(Boolean).length} field(s) present` : 'present'}`,
        { key: firstKey },
      ),
    );
  }
  return out;
}

/**
 * Fetches a Marketing Cloud token with the configured credentials (reusing the bridge's token
 * manager), then runs the target probe `start` runs: every definition the routes name, and the
 * scopes the token was granted against what the routes need.
 */
export async function probeMarketingCloud(config: BridgeConfig): Promise<Finding[]> {
  const mc = config.marketingCloud;
  const managers = new Map<string, McTokenManager>();
  const clients = new Map<string, McRestClient>();
  const clientFor = (mid: string | undefined) => {
    const account = mid ?? mc.accountId ?? '';
    let client = clients.get(account);
    if (!client) {
      const manager = new McTokenManager({
        authBaseUrl: mc.authBaseUrl,
        clientId: mc.clientId,
        clientSecret: mc.clientSecret,
        ...(account ? { accountId: account } : {}),
      });
      managers.set(account, manager);
      clients.set(account, (client = new McRestClient(manager)));
    }
    return client;
  };
  const out: Finding[] = [];
  try {
    const token = await clientFor(undefined).tokens.get();
    out.push(
      finding('info', 'mc-token', `Marketing Cloud token obtained; REST base ${new URL(token.restBaseUrl).host}`, { key: 'marketingCloud.clientId' }),
    );
  } catch (err) {
    const { code, message } = errorText(err);
    return [finding('error', 'mc-token', `no Marketing Cloud token: ${code}: ${message}`, { key: 'marketingCloud.clientId' })];
  }
  try {
    const report = await new TargetProbe({ clientFor, routes: config.routes, intervalMs: 0 }).probeAll();
    for (const v of report.verdicts) {
      const severity = v.state === 'ok' ? 'info' : v.state === 'unchecked' ? 'warning' : 'error';
      out.push(finding(severity, 'mc-target', v.detail, { key: v.configKey }));
    }
    for (const m of report.missingScopes) {
      out.push(
        finding(
          'error',
          'mc-scope',
          `the token lacks scope ${m.scope}, which this route needs (granted: ${m.granted || 'none'}); add it to the installed package's API integration component`,
          { key: m.configKey },
        ),
      );
    }
    for (const [i, route] of config.routes.entries()) {
      if (route.target.type !== 'dataExtension') continue;
      try {
        out.push(...checkDataExtensionFields(route, i, await readDataExtensionFields(clientFor(route.target.mid), route.target.key)));
      } catch (err) {
        const { code, message } = errorText(err);
        out.push(
          finding('warning', 'de-fields', `could not read the fields of data extension ${route.target.key}: ${code}: ${message}`, {
            key: `routes[${i}].target.key`,
          }),
        );
      }
    }
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close()));
  }
  return out;
}
