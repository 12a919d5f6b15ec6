// Rule: a service command run from the sources (a checkout) runs without Node's type stripper in
// its process, even on a cold compile cache: the ~20 MB it keeps are not part of the service's
// resident memory (bin/warm-sources.js).
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A copy of bin/ beside a stub src/cli.ts (TypeScript, so it needs stripping) that reports on its process. */
function checkout(): string {
  const copy = mkdtempSync(join(tmpdir(), 'bin-sources-'));
  cpSync(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
  mkdirSync(join(copy, 'src'));
  writeFileSync(
    join(copy, 'src', 'cli.ts'),
    `export async function main(argv: string[]): Promise<void> {
  const stripper: boolean = process.moduleLoadList.some((m: string) => m.includes('amaro'));
  process.stdout.write(JSON.stringify({ argv, stripper, tuned: process.env.SFMC_BRIDGE_TUNED ?? null }));
}\n`,
  );
  return copy;
}

function run(copy: string, args: string[], env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SFMC_BRIDGE') && !k.startsWith('NODE_')));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(copy, 'bin', 'sfmc-bridge.js'), ...args],
      { cwd: copy, env: { ...clean, ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
      },
    );
  });
}

let copy: string;
beforeEach(() => {
  copy = checkout();
});
afterEach(() => rmSync(copy, { recursive: true, force: true }));

test('start from the sources runs tuned and without the type stripper, on a cold compile cache and on a warm one', async () => {
  const cache = join(copy, 'compile-cache');
  for (const round of ['cold', 'warm']) {
    const r = await run(copy, ['start', '--config', 'x.json'], { NODE_COMPILE_CACHE: cache });
    expect({ round, status: r.status, stderr: r.stderr }).toEqual({ round, status: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ argv: ['start', '--config', 'x.json'], stripper: false, tuned: '1' });
  }
  // The stub has none of the service's modules, so nothing is stamped: every start fills the cache again.
  expect(readdirSync(cache).filter((f) => f.startsWith('sfmc-bridge-'))).toEqual([]);
});

test('with the compile cache disabled the service still starts (stripping its sources itself)', async () => {
  const r = await run(copy, ['start'], { NODE_DISABLE_COMPILE_CACHE: '1' });
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ argv: ['start'], stripper: true, tuned: '1' });
});
