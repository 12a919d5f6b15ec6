/**
 * Publishes the zod schema as `config/bridge.schema.json`, for editors. The JSON Schema is
 * generated, never edited by hand: `npm run schema` rewrites it and a test fails when the
 * committed file differs from what the zod schema generates.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { BridgeConfigSchema } from './schema.ts';

/** Where the published JSON Schema lives. */
export const SCHEMA_FILE = fileURLToPath(new URL('../../config/bridge.schema.json', import.meta.url));

/** The JSON Schema text (input side: fields with defaults are optional), newline-terminated. */
export function schemaText(): string {
  const schema = z.toJSONSchema(BridgeConfigSchema, { io: 'input', target: 'draft-2020-12' });
  const document = { ...schema, title: 'sfmc-bridge config' };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Writes the schema file and returns its path. */
export function writeSchema(path: string = SCHEMA_FILE): string {
  writeFileSync(path, schemaText());
  return path;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${writeSchema()}`);
}
