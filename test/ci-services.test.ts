// Rule: CI starts only the services the suite uses: PostgreSQL (the shared store's tests), and no Redis, which nothing in the bridge or its tests talks to.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

/** Every TypeScript file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

test('.ci/run starts PostgreSQL and no Redis', () => {
  const ci = read('.ci/run');
  expect(ci).toMatch(/pg_ctlcluster|pg_isready/);
  expect(ci).not.toMatch(/redis/i);
});

test('nothing the suite runs needs Redis: no client among the dependencies, no Redis URL in the code', () => {
  const manifest = JSON.parse(read('package.json')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  const names = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
  expect(names.filter((n) => /redis/i.test(n))).toEqual([]);
  const files = ['src', 'subscribers', 'mappers', 'test', 'bench'].flatMap(sources).filter((f) => !f.endsWith('ci-services.test.ts'));
  expect(files.length).toBeGreaterThan(50);
  expect(files.filter((f) => /redis:\/\/|from ['"](io)?redis['"]/.test(read(f)))).toEqual([]);
});
