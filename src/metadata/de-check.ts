/**
 * `check` against a data extension's real fields: every column a route writes must exist,
 * every required field must be filled, the route's primary key must be the data extension's,
 * and a declared column type that differs from the field's is worth a warning. What the bridge
 * would otherwise learn row by row, as rejected rows in the dead-letter queue.
 */
import type { RouteConfig } from '../config/schema.ts';
import type { DeFieldInfo } from '../delivery/mc/de-fields.ts';
import { finding, type Finding } from './findings.ts';

/** Findings for route `i` (a dataExtension route) against the fields Marketing Cloud reported. */
export function checkDataExtensionFields(route: RouteConfig, i: number, fields: readonly DeFieldInfo[]): Finding[] {
  const t = route.target;
  if (t.type !== 'dataExtension') return [];
  const at = `routes[${i}]`;
  if (fields.length === 0) {
    return [
      finding(
        'error',
        'de-fields',
        `data extension ${JSON.stringify(t.key)} has no fields visible to the package: it does not exist in this business unit, or the key is not its external key`,
        { key: `${at}.target.key` },
      ),
    ];
  }
  const out: Finding[] = [];
  const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
  const written = [t.contactKeyColumn, ...Object.keys(route.mapping?.data ?? {}), ...(t.deletes === 'softDelete' ? [t.deletedColumn] : [])];
  for (const column of written) {
    if (byName.has(column.toLowerCase())) continue;
    const key =
      column === t.contactKeyColumn
        ? `${at}.target.contactKeyColumn`
        : column === t.deletedColumn
          ? `${at}.target.deletedColumn`
          : `${at}.mapping.data.${column}`;
    out.push(
      finding(
        'error',
        'de-fields',
        `column ${JSON.stringify(column)} is not a field of data extension ${t.key} (fields: ${fields.map((f) => f.name).join(', ')})`,
        { key },
      ),
    );
  }
  const writtenLower = new Set(written.map((c) => c.toLowerCase()));
  for (const f of fields) {
    if ((f.isRequired || f.isPrimaryKey) && !writtenLower.has(f.name.toLowerCase())) {
      out.push(
        finding(
          'error',
          'de-fields',
          `required field ${f.name} of data extension ${t.key} is never filled by route ${route.name}: every row would be rejected`,
          { key: `${at}.mapping.data` },
        ),
      );
    }
  }
  const theirs = fields
    .filter((f) => f.isPrimaryKey)
    .map((f) => f.name.toLowerCase())
    .sort();
  const ours = [t.contactKeyColumn, ...t.primaryKey].map((c) => c.toLowerCase()).sort();
  if (theirs.join('\u0000') !== ours.join('\u0000')) {
    out.push(
      finding(
        'error',
        'de-fields',
        `primary key of data extension ${t.key} is ${
          theirs.length > 0
            ? fields
                .filter((f) => f.isPrimaryKey)
                .map((f) => f.name)
                .join(', ')
            : 'none'
        }, but the route keys rows by ${[t.contactKeyColumn, ...t.primaryKey].join(', ')}: newest-wins and upserts need the same key`,
        { key: `${at}.target.primaryKey` },
      ),
    );
  }
  for (const [column, type] of Object.entries(t.fieldTypes)) {
    const f = byName.get(column.toLowerCase());
    if (f && f.type.toLowerCase() !== type.toLowerCase()) {
      out.push(
        finding('warning', 'de-fields', `column ${column} is declared ${type} in the route but is a ${f.type} field in data extension ${t.key}`, {
          key: `${at}.target.fieldTypes.${column}`,
        }),
      );
    }
  }
  if (out.length === 0)
    out.push(
      finding(
        'info',
        'de-fields',
        `data extension ${t.key}: the route's columns, required fields and primary key match its ${fields.length} fields`,
        { key: `${at}.target.key` },
      ),
    );
  return out;
}
