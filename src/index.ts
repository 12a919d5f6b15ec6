/**
 * The package's public entry (`import ... from 'sfmc-bridge'`): what a team writes its own
 * mappers against when it installs the bridge into its sfdx project. A mapper in the project's
 * `mappers/<name>.ts` (or `.js`) default-exports a `Mapper`, returns a `MappingError` naming the
 * field on bad data (with a code such as `Code.MAPPING_MISSING_FIELD`), and may use the field
 * checks of the built-in mappers. Everything else (the CLI, the service) is run through the
 * `sfmc-bridge` command, not imported.
 */
export { Code, MappingError } from './core/errors.ts';
export type { ChangeType, MappedAction, NormalizedEvent } from './core/model.ts';
export type { RouteConfig } from './config/schema.ts';
export type { Mapper } from './route/mapper-loader.ts';
export { emailFrom, jsonObjectFrom, keyFrom, sizeProblem, MAX_PAYLOAD_BYTES, type FieldContext } from './route/mapping-checks.ts';
