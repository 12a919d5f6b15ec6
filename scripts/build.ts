/**
 * `npm run build` (and `prepack`): compiles the sources to JavaScript with type declarations in
 * `dist/` (tsconfig.build.json), then copies beside them the files the code loads by URL at run
 * time (the Pub/Sub API's .proto), so `dist/` alone runs. A checkout never needs this: Node runs
 * the TypeScript sources directly. A package does, because Node refuses to strip types of files
 * under node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'dist');
/** The folders tsconfig.build.json compiles; their non-TypeScript files are copied as they are. */
const BUILT_FOLDERS = ['src', 'subscribers', 'mappers'];

/** Files under `folder` that the compiler does not emit but the code may load (everything but .ts). */
function assetsOf(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

function build(): void {
  // A stale file from a renamed module would otherwise ship and could even be imported.
  rmSync(OUT, { recursive: true, force: true });
  // The compiler of devDependencies, run by path so the build does not depend on PATH or a shell.
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  const assets = BUILT_FOLDERS.flatMap(assetsOf);
  for (const file of assets) cpSync(join(ROOT, file), join(OUT, file));
  process.stdout.write(`build: dist/ compiled, ${assets.length} asset(s) copied (${assets.join(', ')})\n`);
}

build();
