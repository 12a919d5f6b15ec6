// Rule: `npm ci` installs the committed lock on Linux (x64, arm64) and macOS: it agrees with package.json, carries every platform's optional native packages, and allowScripts runs only the install scripts the project needs (the node package's, which installs Node 24); CI and the image use `npm ci`, the README keeps its two commands.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string): string => readFileSync(`${ROOT}${file}`, 'utf8');

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
interface Locked extends Manifest {
  version?: string;
  os?: string[];
  cpu?: string[];
  hasInstallScript?: boolean;
  dev?: boolean;
}

const manifest = JSON.parse(read('package.json')) as Manifest;
const lock = JSON.parse(read('package-lock.json')) as { lockfileVersion: number; packages: Record<string, Locked> };
const packages = lock.packages;

/** Where Node (and npm) find `name` required from the package at `from`: the nearest node_modules up the tree. */
function resolveFrom(from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const up = base.lastIndexOf('/node_modules/');
    base = up < 0 ? '' : base.slice(0, up);
  }
}

describe('package-lock.json', () => {
  it('is a version 3 lock that agrees with package.json (npm ci refuses one that does not)', () => {
    expect(lock.lockfileVersion).toBe(3);
    const root = packages['']!;
    expect(root.dependencies ?? {}).toEqual(manifest.dependencies ?? {});
    expect(root.devDependencies ?? {}).toEqual(manifest.devDependencies ?? {});
    expect(root.optionalDependencies ?? {}).toEqual(manifest.optionalDependencies ?? {});
    for (const [name, range] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
      expect([name, packages[`node_modules/${name}`]?.version !== undefined]).toEqual([name, true]);
      // Runtime dependencies must not be marked dev: `npm ci --omit=dev` (the image) would skip them.
      if (manifest.dependencies?.[name] === range) expect([name, packages[`node_modules/${name}`]!.dev ?? false]).toEqual([name, false]);
    }
  });

  it("carries every optional dependency of every locked package, so no platform's native binding is missing", () => {
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {}))
        if (resolveFrom(path, name) === undefined) missing.push(`${path || '(root)'} -> ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it.each([
    ['@swc/core', 'darwin', 'arm64'],
    ['@swc/core', 'darwin', 'x64'],
    ['@swc/core', 'linux', 'x64'],
    ['@swc/core', 'linux', 'arm64'],
    ['@biomejs/biome', 'darwin', 'arm64'],
    ['@biomejs/biome', 'linux', 'x64'],
    ['@biomejs/biome', 'linux', 'arm64'],
  ])('has a native package of %s for %s %s', (pkg, os, cpu) => {
    const natives = Object.keys(packages[`node_modules/${pkg}`]!.optionalDependencies ?? {})
      .map((name) => packages[resolveFrom(`node_modules/${pkg}`, name) ?? ''])
      .filter((entry) => entry?.os?.includes(os) && entry.cpu?.includes(cpu));
    expect(natives.length).toBeGreaterThan(0);
  });
});

describe('install scripts', () => {
  const withScripts = [
    ...new Set(
      Object.entries(packages)
        .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
        .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
    ),
  ].sort();
  const allow = manifest.allowScripts ?? {};

  it('are each reviewed in allowScripts: npm 11 warns about the others and a stricter npm skips them', () => {
    expect(withScripts).toContain('node');
    expect(withScripts.filter((name) => !(name in allow) && !Object.keys(allow).some((key) => key.startsWith(`${name}@`)))).toEqual([]);
  });

  it('run only for the node package, whose preinstall installs the Node 24 the npm scripts use', () => {
    expect(
      Object.entries(allow)
        .filter(([, allowed]) => allowed)
        .map(([name]) => name.replace(/(.)@.*$/, '$1')),
    ).toEqual(['node']);
  });
});

describe('the install commands', () => {
  it("are npm ci in CI and in the image, and npm install in the README's two commands", () => {
    const ci = read('.ci/run')
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'));
    expect(ci.filter((l) => /\bnpm (ci|install|i)\b/.test(l))).toEqual(['npm ci --no-audit --no-fund']);
    const docker = read('Dockerfile')
      .split('\n')
      .filter((l) => /^RUN .*\bnpm (ci|install|i)\b/.test(l));
    expect(docker).toEqual(['RUN npm ci --no-audit --no-fund', 'RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force']);
    const readme = read('README.md');
    expect(readme).toMatch(/^npm install && npm start\b/m);
    expect(readme).toMatch(/^npm install && npm test\b/m);
  });
});
