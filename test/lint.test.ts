// Rule: the linter refuses an import that goes up the folder map (docs/architecture.md) and a promise nobody handles, so neither reaches main.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIOME = fileURLToPath(new URL('../node_modules/.bin/biome', import.meta.url));
const run = promisify(execFile);
const made: string[] = [];

/** Writes a source file into the tree (where its folder's rules apply) and lints it; the exit code and output. */
async function lint(relative: string, source: string): Promise<{ code: number; output: string }> {
  const path = `${ROOT}${relative}`;
  made.push(path);
  writeFileSync(path, source);
  try {
    const { stdout, stderr } = await run(BIOME, ['lint', '--colors=off', relative], { cwd: ROOT });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

afterEach(() => {
  for (const p of made.splice(0)) rmSync(p, { force: true });
});

test('normalize importing from delivery (upward) is refused, naming the rule and the map', async () => {
  const r = await lint('src/normalize/zz-lint-upward.ts', "import { classify } from '../delivery/retry.ts';\nexport const c = classify;\n");
  expect(r.code).not.toBe(0);
  expect(r.output).toContain('lint/style/noRestrictedImports');
  expect(r.output).toContain('normalize may import only config, core');
});

test('the same import from a stage below it in the flow is allowed', async () => {
  const r = await lint('src/operations/zz-lint-downward.ts', "import { classify } from '../delivery/retry.ts';\nexport const c = classify;\n");
  expect(r).toMatchObject({ code: 0 });
});

test('a promise neither awaited, returned, caught nor voided is refused', async () => {
  const r = await lint(
    'src/core/zz-lint-floating.ts',
    'async function later(): Promise<number> {\n  return 1;\n}\nexport function start(): void {\n  later();\n}\n',
  );
  expect(r.code).not.toBe(0);
  expect(r.output).toContain('lint/nursery/noFloatingPromises');
});
