// Rule: docs/architecture.md's code map names every source folder, and what it says each folder may import is what the linter (biome.json) enforces.
import { readdirSync, readFileSync } from 'node:fs';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const DOC = read('docs/architecture.md');
const BIOME = JSON.parse(read('biome.json')) as {
  overrides: { includes: string[]; linter: { rules: { style: { noRestrictedImports: { options: { patterns: { message: string }[] } } } } } }[];
};

/** A folder's short name as the lint messages use it: `src/route/` → route, `mappers/` → mappers. */
const nameOf = (path: string): string => path.replace(/^src\//, '').replace(/(\/\*\*|\/|\.ts)$/, '');

interface Row {
  folders: string[];
  mayImport: string;
}

/** The rows of the code map table, in order. */
function rows(): Row[] {
  const table = DOC.slice(DOC.indexOf('## Code map'), DOC.indexOf('## Invariants'));
  return [...table.matchAll(/^\| (`[^|]+) \| [^|]+ \| ([^|]+) \|$/gm)].map((m) => ({
    folders: [...m[1]!.matchAll(/`([^`]+)`/g)].map((f) => nameOf(f[1]!)),
    mayImport: m[2]!.trim(),
  }));
}

/** What a row says its folders may import (undefined for "anything"). */
function allowedBy(row: Row, all: Row[]): Set<string> | undefined {
  const text = row.mayImport.split(';')[0]!;
  const names = (list: string): string[] => list.split(/, | and /).flatMap((n) => (n === 'the CLI' ? ['commands', 'service', 'cli'] : n.split('/')));
  if (text.startsWith('anything')) return undefined;
  if (text === 'nothing') return new Set();
  // src/types/ holds ambient declarations: nothing imports it by path.
  const universe = all.flatMap((r) => r.folders).filter((f) => f !== 'types');
  if (text.startsWith('everything but ')) {
    const but = new Set(names(text.slice('everything but '.length)));
    return new Set(universe.filter((f) => !but.has(f)));
  }
  if (text.startsWith('everything above')) {
    const above = all.slice(0, all.indexOf(row)).flatMap((r) => r.folders);
    return new Set([...above, ...names(text.slice('everything above'.length).replace(/^, /, ''))]);
  }
  return new Set(names(text));
}

test('every folder of src/ (and subscribers/, mappers/) has a row in the code map', () => {
  const mapped = new Set(rows().flatMap((r) => r.folders));
  const folders = readdirSync(new URL('../src', import.meta.url), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  expect([...folders, 'subscribers', 'mappers'].filter((f) => !mapped.has(f))).toEqual([]);
});

test('each folder\'s "may import" is the lint rule\'s, and every lint rule has its row', () => {
  const all = rows();
  const byFolder = new Map(all.flatMap((r) => r.folders.map((f) => [f, r] as const)));
  for (const o of BIOME.overrides) {
    const folder = nameOf(o.includes[0]!);
    const message = o.linter.rules.style.noRestrictedImports.options.patterns[0]!.message;
    const linted = /may import only (.*) \(docs/.exec(message)![1]!;
    const lintAllowed = linted === 'itself' ? [] : linted.split(', ');
    const row = byFolder.get(folder);
    expect({ folder, row: row !== undefined }).toEqual({ folder, row: true });
    const documented = allowedBy(row!, all);
    expect({ folder, imports: [...documented!].filter((f) => f !== folder).sort() }).toEqual({
      folder,
      imports: lintAllowed.filter((f) => f !== folder).sort(),
    });
  }
});
