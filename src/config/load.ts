/**
 * Steps 2 and 3 of the config: parse with the zod schema (defaults filled), cross-check, then
 * resolve environment references into a deeply frozen `BridgeConfig`. Every failure is one
 * `ConfigError` listing each problem on its own line as `dotted.key: what is wrong (value)`.
 */
import { readFileSync } from 'node:fs';
import type { core } from 'zod';
import { ConfigError, showValue } from '../core/errors.ts';
import { crossCheck, endpointProblem, type ConfigIssue, type EndpointService } from './checks.ts';
import { BridgeConfigSchema, SECRET_KEYS, type BridgeConfig, type ParsedConfig } from './schema.ts';

/** Environment variables, as in `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The config file used when neither `--config` nor `SFMC_BRIDGE_CONFIG` names one. */
export const DEFAULT_CONFIG_PATH = 'config/bridge.json';

/**
 * The config file to use: `--config <path>` > `SFMC_BRIDGE_CONFIG` > `config/bridge.json`.
 * `argv` is the command line (`--config <path>` or `--config=<path>` anywhere in it), or the
 * already-parsed `--config` value (undefined when not given).
 */
export function resolveConfigPath(argv: readonly string[] | string | undefined, env: Env = process.env): string {
  const given = typeof argv === 'string' || argv === undefined ? argv : configFlag(argv);
  if (given !== undefined) {
    if (given === '') throw new ConfigError('--config', 'needs a file path');
    return given;
  }
  const fromEnv = env.SFMC_BRIDGE_CONFIG;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH;
}

function configFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config' || arg === '-c') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) throw new ConfigError('--config', 'needs a file path');
      return next;
    }
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return undefined;
}

/** Reads and JSON-parses a config file; a missing or malformed file is a ConfigError. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError('(config file)', `cannot read ${showValue(path)} (${code})`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(config file)', `${showValue(path)} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Dotted key of a zod path: `['routes', 0, 'target']` → `routes[0].target`. */
export function keyOf(path: readonly PropertyKey[]): string {
  let key = '';
  for (const part of path) {
    if (typeof part === 'number') key += `[${part}]`;
    else key += key === '' ? String(part) : `.${String(part)}`;
  }
  return key === '' ? '(root)' : key;
}

function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some((part) => typeof part === 'string' && SECRET_KEYS.has(part));
}

function describeIssue(issue: core.$ZodIssue): ConfigIssue {
  const key = keyOf(issue.path);
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return { key, message: `is required (expected ${issue.expected})` };
  }
  let message = issue.message;
  let input: unknown = 'input' in issue ? issue.input : undefined;
  if (issue.code === 'invalid_union' && issue.discriminator !== undefined && input !== null && typeof input === 'object') {
    input = (input as Record<string, unknown>)[issue.discriminator]; // the path already names the discriminator
  }
  // Our own messages (custom, unrecognized key) already name the value; secrets never show it.
  if (issue.code !== 'custom' && issue.code !== 'unrecognized_keys' && !isSecretPath(issue.path) && 'input' in issue) {
    message += ` (got ${showValue(input)})`;
  }
  return { key, message };
}

function failWith(issues: readonly ConfigIssue[], cause?: unknown): never {
  const [first, ...rest] = issues;
  const more = rest.map((i) => `\n${i.key}: ${i.message}`).join('');
  throw new ConfigError(first!.key, `${first!.message}${more}`, cause === undefined ? undefined : { cause });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Steps 2 and 3: schema parse with defaults, then cross-field checks; env refs stay unresolved. */
export function parseConfig(input: unknown): ParsedConfig {
  const result = BridgeConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) failWith(result.error.issues.map(describeIssue), result.error);
  const issues = crossCheck(result.data);
  if (issues.length > 0) failWith(issues);
  return deepFreeze(result.data);
}

/** Where the config refers to an environment variable. */
export interface EnvUse {
  key: string;
  variable: string;
}

function isEnvRef(value: unknown): value is { env: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'env' && typeof (value as { env: unknown }).env === 'string';
}

/**
 * Keys whose environment reference may stay unset: with the `sf_alias` method the org's auth
 * file supplies the instance URL, so `salesforce.instanceUrl` (default {"env": "SF_INSTANCE_URL"})
 * is only an override.
 */
function optionalEnvKeys(config: ParsedConfig): ReadonlySet<string> {
  return new Set(config.salesforce.auth.method === 'sf_alias' ? ['salesforce.instanceUrl'] : []);
}

/**
 * Every environment reference in a parsed config, with its dotted key; those that may stay
 * unset (see `optionalEnvKeys`) only with `includeOptional`.
 */
export function envUses(config: ParsedConfig, opts: { includeOptional?: boolean } = {}): EnvUse[] {
  const uses: EnvUse[] = [];
  const optional = opts.includeOptional ? new Set<string>() : optionalEnvKeys(config);
  const walk = (value: unknown, path: PropertyKey[]) => {
    if (isEnvRef(value)) {
      if (!optional.has(keyOf(path))) uses.push({ key: keyOf(path), variable: value.env });
    } else if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i]));
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    }
  };
  walk(config, []);
  return uses;
}

function inputOf(pathOrObject: unknown): unknown {
  return typeof pathOrObject === 'string' ? readConfigFile(pathOrObject) : pathOrObject;
}

/** Which of the environment variables a config refers to are set. */
export interface CredentialStatus {
  /** Every required variable is set. */
  complete: boolean;
  /** Required references whose variable is unset or empty. */
  missing: EnvUse[];
  /** References (optional ones included) whose variable is set: none means a newcomer's first run. */
  set: EnvUse[];
}

/**
 * Are the environment variables the config refers to set? Never throws for a missing
 * variable (the caller decides between the demo and exit 2); an invalid config still throws
 * its ConfigError.
 */
export function credentialStatus(pathOrObject: unknown, env: Env = process.env): CredentialStatus {
  const parsed = parseConfig(inputOf(pathOrObject));
  const missing = envUses(parsed).filter((use) => !env[use.variable]);
  const set = envUses(parsed, { includeOptional: true }).filter((use) => Boolean(env[use.variable]));
  return { complete: missing.length === 0, missing, set };
}

const RESOLVED_ENDPOINTS: ReadonlyArray<[string, EndpointService]> = [
  ['salesforce.instanceUrl', 'salesforce'],
  ['marketingCloud.authBaseUrl', 'marketingCloud'],
];

/**
 * Loads a config file (by path) or object: parse, cross-check, resolve `{"env": ...}` from
 * `env`. Returns a deeply frozen config.
 * @throws ConfigError naming every bad key, missing variable and endpoint at once.
 */
export function load(pathOrObject: unknown, env: Env = process.env): BridgeConfig {
  const parsed = parseConfig(inputOf(pathOrObject));
  const issues: ConfigIssue[] = [];
  const resolvedFrom = new Map<string, string>();
  const optional = optionalEnvKeys(parsed);
  const resolve = (value: unknown, path: PropertyKey[]): unknown => {
    if (isEnvRef(value)) {
      const key = keyOf(path);
      const found = env[value.env];
      if ((found === undefined || found === '') && optional.has(key)) return '';
      if (found === undefined || found === '') {
        issues.push({ key, message: `environment variable ${value.env} is not set` });
        return '';
      }
      resolvedFrom.set(key, value.env);
      return found;
    }
    if (Array.isArray(value)) return value.map((item, i) => resolve(item, [...path, i]));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = resolve(v, [...path, k]);
      return out;
    }
    return value;
  };
  const config = resolve(parsed, []) as BridgeConfig;
  for (const [key, service] of RESOLVED_ENDPOINTS) {
    const variable = resolvedFrom.get(key);
    if (variable === undefined) continue; // literal: already checked by crossCheck
    const [section, field] = key.split('.') as [keyof BridgeConfig, string];
    const problem = endpointProblem((config[section] as Record<string, string>)[field]!, service);
    if (problem) issues.push({ key, message: `from ${variable}: ${problem}` });
  }
  if (issues.length > 0) failWith(issues);
  return deepFreeze(config);
}

/** `load` for a file path (the name the CLI uses). */
export function loadConfigFile(path: string, env: Env = process.env): BridgeConfig {
  return load(path, env);
}
