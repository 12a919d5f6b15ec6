/**
 * Step 3 of the config: rules that span fields (route → channel, unique names, mapping XOR
 * mapper) and the endpoint rules, each reported as an issue naming the dotted key and value.
 * The endpoint rules are exported because the Marketing Cloud client applies them again to the
 * `rest_instance_url` a token response names (credentials never go to another host).
 */
import { showValue } from '../core/errors.ts';
import type { ParsedConfig } from './schema.ts';

/** One problem in the config: the dotted key and what is wrong with its value. */
export interface ConfigIssue {
  key: string;
  message: string;
}

/** The service an endpoint belongs to: Marketing Cloud hosts are held to their own domain. */
export type EndpointService = 'salesforce' | 'marketingCloud';

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MC_DOMAIN = 'marketingcloudapis.com';

/** True for `marketingcloudapis.com` and any host under it. */
export function isMarketingCloudHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host === MC_DOMAIN || host.endsWith(`.${MC_DOMAIN}`);
}

/**
 * Why `value` may not be used as an endpoint of `service`, or undefined when it may:
 * http only for 127.0.0.1/localhost (emulators, tests), https everywhere else, and Marketing
 * Cloud endpoints under marketingcloudapis.com.
 */
export function endpointProblem(value: string, service: EndpointService): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${showValue(value)} is not an absolute URL`;
  }
  if (url.username !== '' || url.password !== '') return `${showValue(url.host)}: the URL must not carry credentials`;
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol === 'http:') {
    return loopback ? undefined : `${showValue(value)} must use https (http is allowed only for 127.0.0.1 and localhost)`;
  }
  if (url.protocol !== 'https:') return `${showValue(value)} must use https`;
  if (service === 'marketingCloud' && !loopback && !isMarketingCloudHost(url.hostname)) {
    return `${showValue(value)}: host ${showValue(url.hostname)} is not under ${MC_DOMAIN}`;
  }
  return undefined;
}

/** True for an address only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/** True when the channel carries change events (as opposed to platform events). */
export function isChangeChannel(name: string): boolean {
  return name.startsWith('/data/');
}

/** Cross-field rules over a parsed config; an empty list means it is consistent. */
export function crossCheck(config: ParsedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const endpoint = (key: string, value: unknown, service: EndpointService) => {
    if (typeof value !== 'string') return; // an env reference: checked once resolved
    const problem = endpointProblem(value, service);
    if (problem) issues.push({ key, message: problem });
  };
  endpoint('salesforce.instanceUrl', config.salesforce.instanceUrl, 'salesforce');
  endpoint('marketingCloud.authBaseUrl', config.marketingCloud.authBaseUrl, 'marketingCloud');
  const admin = config.admin;
  // Record timelines and the status page to anyone who reaches the port: only when asked for.
  if (admin.enabled && !isLoopbackHost(admin.host) && admin.token === undefined && !admin.probesOnly) {
    issues.push({
      key: 'admin.token',
      message: `is required when admin.host is ${showValue(admin.host)} (not loopback): set it, for example {"env": "SFMC_BRIDGE_ADMIN_TOKEN"}, or set admin.probesOnly to true to expose only /healthz, /readyz and /metrics`,
    });
  }

  const channels = new Map<string, number>();
  config.channels.forEach((channel, i) => {
    if (channel.name === '/event/MC_Delivery_Status__e') {
      // The bridge publishes it: subscribing would feed its own statuses back into it.
      issues.push({
        key: `channels[${i}].name`,
        message: `${showValue(channel.name)} is the bridge's own delivery status channel (feedback); it must not subscribe to it`,
      });
    }
    const first = channels.get(channel.name);
    if (first !== undefined) {
      issues.push({ key: `channels[${i}].name`, message: `${showValue(channel.name)} is already declared at channels[${first}]` });
    } else {
      channels.set(channel.name, i);
    }
  });

  const routes = new Map<string, number>();
  config.routes.forEach((route, i) => {
    const at = `routes[${i}]`;
    const first = routes.get(route.name);
    if (first !== undefined) {
      issues.push({ key: `${at}.name`, message: `${showValue(route.name)} is already used by routes[${first}]` });
    } else {
      routes.set(route.name, i);
    }
    if (!channels.has(route.channel)) {
      const declared = [...channels.keys()].map((c) => showValue(c)).join(', ') || 'none';
      issues.push({ key: `${at}.channel`, message: `${showValue(route.channel)} is not a declared channel (declared: ${declared})` });
    }
    if (route.mapping !== undefined && route.mapper !== undefined) {
      issues.push({ key: `${at}.mapper`, message: `${showValue(route.mapper)} given together with \`mapping\`: give one of them` });
    } else if (route.mapping === undefined && route.mapper === undefined) {
      issues.push({ key: at, message: `route ${showValue(route.name)} needs \`mapping\` or \`mapper\`` });
    }
    if (route.target.type === 'dataExtension') issues.push(...dataExtensionIssues(route, at));
    if (route.target.type === 'contactDelete') {
      if (!route.target.confirmDeletes) {
        issues.push({
          key: `${at}.target.confirmDeletes`,
          message: `route ${showValue(route.name)} deletes contacts in Marketing Cloud for good: set "confirmDeletes": true to say so`,
        });
      }
      if (isChangeChannel(route.channel)) {
        const bad = route.changeTypes.filter((t) => !['DELETE', 'GAP_DELETE', 'UNDELETE', 'GAP_UNDELETE'].includes(t));
        if (route.changeTypes.length === 0 || bad.length > 0 || !route.changeTypes.includes('DELETE')) {
          issues.push({
            key: `${at}.changeTypes`,
            message: `${showValue(route.changeTypes)}: a contactDelete route on a change channel takes DELETE (and UNDELETE, logged as not reversible) only`,
          });
        }
      }
    }
    if (
      route.mapping &&
      (route.target.type === 'triggeredSend' || route.target.type === 'transactional') &&
      route.target.definitionKey === undefined
    ) {
      issues.push({
        key: `${at}.target.definitionKey`,
        message: `is required for a ${route.target.type} route with \`mapping\` (only a mapper such as send-event can take it from the event)`,
      });
    }
    if (route.mapping) {
      route.mapping.required.forEach((name, j) => {
        if (!Object.hasOwn(route.mapping!.data, name)) {
          issues.push({ key: `${at}.mapping.required[${j}]`, message: `${showValue(name)} is not a key of mapping.data` });
        }
      });
    }
    if (!isChangeChannel(route.channel)) {
      // These filters can never match a platform event; refusing them beats a silent no-op.
      if (route.changedFields.length > 0) {
        issues.push({
          key: `${at}.changedFields`,
          message: `${showValue(route.changedFields)} given for platform event channel ${showValue(route.channel)}, which has no changed fields`,
        });
      }
      if (route.entities.length > 0) {
        issues.push({ key: `${at}.entities`, message: `${showValue(route.entities)} given for platform event channel ${showValue(route.channel)}` });
      }
    }
  });
  return issues;
}

/** A data extension route's own rules: key columns mapped, types on mapped columns, soft delete selectable. */
function dataExtensionIssues(route: ParsedConfig['routes'][number], at: string): ConfigIssue[] {
  const target = route.target;
  if (target.type !== 'dataExtension') return [];
  const issues: ConfigIssue[] = [];
  const data = route.mapping?.data;
  if (data) {
    target.primaryKey.forEach((column, j) => {
      if (!Object.hasOwn(data, column))
        issues.push({
          key: `${at}.target.primaryKey[${j}]`,
          message: `${showValue(column)} is not a key of mapping.data: a primary key column needs a value`,
        });
    });
    for (const column of Object.keys(target.fieldTypes)) {
      if (!Object.hasOwn(data, column) && column !== target.contactKeyColumn)
        issues.push({ key: `${at}.target.fieldTypes.${column}`, message: `${showValue(column)} is not a key of mapping.data` });
    }
    if (Object.hasOwn(data, target.contactKeyColumn)) {
      issues.push({
        key: `${at}.mapping.data.${target.contactKeyColumn}`,
        message: `${showValue(target.contactKeyColumn)} is the contactKeyColumn: the bridge fills it with the Contact Key`,
      });
    }
  }
  if (target.deletes === 'softDelete' && route.changeTypes.length > 0 && !route.changeTypes.includes('DELETE')) {
    issues.push({
      key: `${at}.changeTypes`,
      message: `${showValue(route.changeTypes)} does not select DELETE, so target.deletes "softDelete" would never run`,
    });
  }
  return issues;
}
