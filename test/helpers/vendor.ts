/**
 * The vendors' documented responses (test/fixtures/vendor/*.json): each file names its source
 * page in `_source` and holds the request it answers, the status and the body. Placeholders
 * such as `{messageKey}` in string values are filled by the test that sends that key.
 */
import { readFileSync } from 'node:fs';

/** One documented exchange. */
export interface VendorFixture {
  _source: { url: string; title: string; note?: string };
  request: { method: string; path: string };
  status: number;
  body: unknown;
}

/** Reads `name` from test/fixtures/vendor, with `{placeholder}` strings filled from `vars`. */
export function vendorFixture(name: string, vars: Record<string, string> = {}): VendorFixture {
  const text = readFileSync(new URL(`../fixtures/vendor/${name}`, import.meta.url), 'utf8');
  const filled = text.replace(/\{(\w+)\}/g, (whole, key: string) => (key in vars ? vars[key]! : whole));
  return JSON.parse(filled) as VendorFixture;
}

/**
 * The shape of a JSON value: its type, and for objects each key's shape, for arrays the shape
 * of each element. Two answers with the same shape have the same keys and types.
 */
export function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.map(shapeOf);
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, shapeOf(v)]),
    );
  }
  return typeof value;
}
