// Run from a checkout, Node strips the types of each .ts module as it loads it with amaro, a
// WebAssembly build of swc that then stays in the process for good: ~20 MB of resident memory
// (its 3.8 MB script, the compiled module and its linear memory) that a service never needs
// again once it has started. Node's compile cache keeps the stripped code on disk, and a
// process whose modules are all in it never loads amaro. So before `bin/sfmc-bridge.js`
// replaces itself with the tuned service process, a short-lived child with the service's Node
// flags (the cache is kept per set of V8 flags) loads what the service may load, which fills
// the cache; the service then finds every module stripped. Done once per change of the
// sources (a stamp named by their sizes and times and the flags, in the cache's directory);
// other starts only compare the stamp. An installed package runs dist/: nothing to strip.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
/** Folders whose modules a service may load (the ones tsconfig.build.json compiles). */
const SOURCE_FOLDERS = ['src', 'subscribers', 'mappers'];
/**
 * What `start`, `demo` and `backfill` load: the CLI, the commands (their static imports bring
 * the service), what the service imports only when the configuration asks for it (admin
 * listener, Postgres store, Pub/Sub subscriber) and the shipped mappers (loaded by name).
 */
const ENTRIES = [
  'src/cli.ts',
  'src/commands/start.ts',
  'src/commands/demo.ts',
  'src/commands/backfill.ts',
  'src/operations/admin/server.ts',
  'src/outbox/postgres/store.ts',
  'src/outbox/postgres/leadership.ts',
  'subscribers/pubsub/index.ts',
];

/** The Node version and flags, and the sources' .ts files with their sizes and modification times, hashed. */
function fingerprint(nodeArgs) {
  const hash = createHash('sha256').update(`${process.version} ${nodeArgs.join(' ')}\n`);
  for (const folder of SOURCE_FOLDERS) {
    if (!existsSync(join(ROOT, folder))) continue;
    const files = readdirSync(join(ROOT, folder), { recursive: true }).filter((f) => f.endsWith('.ts'));
    for (const file of files.sort()) {
      const s = statSync(join(ROOT, folder, file));
      hash.update(`${folder}/${file}:${s.size}:${s.mtimeMs}\n`);
    }
  }
  return hash.digest('hex').slice(0, 24);
}

/** Fills Node's compile cache for a service run with `nodeArgs`, unless it holds its modules already. */
export function warmSources(nodeArgs) {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return;
  // Where Node keeps the cache when a process calls module.enableCompileCache() (documented default).
  const directory = process.env.NODE_COMPILE_CACHE || join(tmpdir(), 'node-compile-cache');
  const stamp = join(directory, `sfmc-bridge-${fingerprint(nodeArgs)}`);
  if (existsSync(stamp)) return;
  const child = spawnSync(process.execPath, [...nodeArgs, SELF], { stdio: 'ignore', env: { ...process.env, NODE_COMPILE_CACHE: directory } });
  // Not stamped when a module failed or the cache could not be used: the next start tries again.
  if (child.status === 0) writeFileSync(stamp, '');
}

if (process.argv[1] === SELF) {
  // The child: importing runs each module's top level, which only declares (main() is not
  // called). A module that fails here fails again in the service, which reports it.
  const { status } = module.enableCompileCache();
  const { ENABLED, ALREADY_ENABLED } = module.constants.compileCacheStatus;
  if (status !== ENABLED && status !== ALREADY_ENABLED) process.exit(2);
  const mappers = existsSync(join(ROOT, 'mappers')) ? readdirSync(join(ROOT, 'mappers')).filter((f) => f.endsWith('.ts')) : [];
  const loaded = await Promise.allSettled([...ENTRIES, ...mappers.map((f) => `mappers/${f}`)].map((entry) => import(new URL(`../${entry}`, import.meta.url).href)));
  module.flushCompileCache();
  process.exit(loaded.every((r) => r.status === 'fulfilled') ? 0 : 1);
}
