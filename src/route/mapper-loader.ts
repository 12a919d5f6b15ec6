/**
 * Mappers: pure functions from one normalized event and its route to Marketing Cloud actions,
 * or a `MappingError` naming the field (which becomes a dead letter). No I/O, no clock, no
 * randomness: the same event always maps to the same actions, which is what makes idempotency
 * keys and replays safe.
 *
 * Routes with `mapping` use a built-in declarative mapper (`mappers/journey-entry.ts` for
 * journeys, `mappers/send.ts` for triggered and transactional sends).
 * Routes with `mapper: "<name>"` use the default export of `<name>.ts` (or `.js`), loaded once at
 * start-up by `loadMappers` from the first folder that has it: the project's own `mappers/`
 * (relative to the working directory, like `config/` and `force-app/`), then the mappers shipped
 * with the bridge (`mappers/` of a checkout, `dist/mappers/` of an installed package). So a team
 * that installs the package keeps its mappers in its own repository, and the shipped ones
 * (`journey-entry-event`, `send-event`) still load by name.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import journeyEntry from '../../mappers/journey-entry.ts';
import send from '../../mappers/send.ts';
import dataExtensionRow from '../../mappers/data-extension-row.ts';
import contactDelete from '../../mappers/contact-delete.ts';
import contactDeleteEvent from '../../mappers/contact-delete-event.ts';
import { ConfigError, showValue, type MappingError } from '../core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../core/model.ts';
import type { BridgeConfig, RouteConfig } from '../config/schema.ts';

/** The mapper contract: pure, synchronous, never throws on bad data (returns a MappingError). */
export type Mapper = (event: NormalizedEvent, route: RouteConfig) => MappedAction[] | MappingError;

/** Mappers by name, as routes refer to them. */
export type MapperRegistry = ReadonlyMap<string, Mapper>;

/** Name of the built-in declarative mapper, used by journey routes that give `mapping`. */
export const DECLARATIVE_MAPPER = 'journey-entry';
/** Name of the built-in declarative mapper of send routes (triggered and transactional). */
export const DECLARATIVE_SEND_MAPPER = 'send';

/** Name of the built-in declarative mapper of data extension routes. */
export const DECLARATIVE_ROW_MAPPER = 'data-extension-row';

/** Name of the built-in mapper of contactDelete routes on a change channel. */
export const CONTACT_DELETE_MAPPER = 'contact-delete';

/** The declarative mapper a route with `mapping` uses, by its target type. */
export function declarativeMapperOf(route: Pick<RouteConfig, 'target'>): string {
  if (route.target.type === 'dataExtension') return DECLARATIVE_ROW_MAPPER;
  if (route.target.type === 'contactDelete') return CONTACT_DELETE_MAPPER;
  return route.target.type === 'journey' ? DECLARATIVE_MAPPER : DECLARATIVE_SEND_MAPPER;
}

/** The mappers shipped with the bridge: the repository's `mappers/`, or `dist/mappers/` in a package. */
export const MAPPERS_DIR: URL = new URL('../../mappers/', import.meta.url);

/** The folders a route's `mapper` is looked up in, in order: `<cwd>/mappers/`, then the shipped ones. */
export function defaultMapperDirs(cwd: string = process.cwd()): URL[] {
  const own = dirUrl(join(cwd, 'mappers'));
  return own.href === MAPPERS_DIR.href ? [MAPPERS_DIR] : [own, MAPPERS_DIR];
}

/** One folder or an ordered list of folders to look mappers up in. */
export type MapperDirs = URL | string | readonly (URL | string)[];

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** The registry with only the built-in mappers. */
export function builtinMappers(): Map<string, Mapper> {
  return new Map<string, Mapper>([
    [DECLARATIVE_MAPPER, journeyEntry],
    [DECLARATIVE_SEND_MAPPER, send],
    [DECLARATIVE_ROW_MAPPER, dataExtensionRow],
    [CONTACT_DELETE_MAPPER, contactDelete],
    ['contact-delete-event', contactDeleteEvent],
  ]);
}

function dirUrl(dir: URL | string): URL {
  if (dir instanceof URL) return dir;
  const url = pathToFileURL(dir);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function dirUrls(dirs: MapperDirs): URL[] {
  return (Array.isArray(dirs) ? dirs : ([dirs] as (URL | string)[])).map(dirUrl);
}

/** The module file of mapper `name`: `<name>.ts`, else `<name>.js`, in the first folder that has one. */
export function findMapperFile(name: string, dirs: MapperDirs = defaultMapperDirs()): URL | undefined {
  for (const base of dirUrls(dirs)) {
    const file = ['.ts', '.js'].map((ext) => new URL(`${name}${ext}`, base)).find((url) => existsSync(url));
    if (file !== undefined) return file;
  }
  return undefined;
}

/**
 * Loads custom mapper `name` from the first of `dirs` that has it (default: `defaultMapperDirs()`).
 * @param key dotted config key blamed in errors, e.g. `routes[2].mapper`
 * @throws ConfigError when the module is missing, fails to load, or has no default function.
 */
export async function loadMapper(name: string, key = 'mapper', dirs: MapperDirs = defaultMapperDirs()): Promise<Mapper> {
  if (!NAME.test(name)) throw new ConfigError(key, `${showValue(name)} is not a mapper module name (letters, digits, "_", "-")`);
  const file = findMapperFile(name, dirs);
  if (file === undefined) {
    const searched = dirUrls(dirs)
      .map((url) => fileURLToPath(url))
      .join(' or ');
    throw new ConfigError(key, `${showValue(name)}: no mapper module ${name}.ts (or .js) in ${searched}`);
  }
  let module: { default?: unknown };
  try {
    module = (await import(file.href)) as { default?: unknown };
  } catch (err) {
    throw new ConfigError(key, `${showValue(name)}: ${file.pathname} failed to load: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (typeof module.default !== 'function') {
    throw new ConfigError(
      key,
      `${showValue(name)}: ${file.pathname} must export a mapper function as its default export (found ${typeof module.default})`,
    );
  }
  return module.default as Mapper;
}

/**
 * The built-in mappers plus every custom mapper the routes name, each loaded once.
 * @throws ConfigError naming the route's `mapper` key when one cannot be loaded.
 */
export async function loadMappers(config: Pick<BridgeConfig, 'routes'>, options: { dir?: MapperDirs } = {}): Promise<MapperRegistry> {
  const registry = builtinMappers();
  for (const [i, route] of config.routes.entries()) {
    if (route.mapper === undefined || registry.has(route.mapper)) continue;
    registry.set(route.mapper, await loadMapper(route.mapper, `routes[${i}].mapper`, options.dir));
  }
  return registry;
}
