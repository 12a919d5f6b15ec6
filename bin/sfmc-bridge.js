#!/usr/bin/env node
// The `sfmc-bridge` command. In a checkout it runs the TypeScript sources directly (Node 22.18+
// strips types natively, no build step, so an edit takes effect at once, even with a stale
// dist/). In an installed package, which ships dist/ and not src/ (package.json "files"), it runs
// the build: Node refuses to strip types under node_modules.
import { existsSync } from 'node:fs';
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`sfmc-bridge needs Node.js 22.19 or later (this is ${process.versions.node}) (in a checkout, the npm scripts use the Node 24 of devDependencies)\n`);
  process.exit(1);
}

// Heap tuning of the long-running service (docs/operations.md, "Memory"). V8 sizes its young
// generation for throughput: on a machine with a few GB it lets it grow to 128 MB. A 4 MB
// semi-space keeps it small (more, cheaper scavenges) and took ~20 MB off a burst's peak. It
// is soft: not a limit, so it cannot make the process run out of memory. The old generation
// keeps V8's own growth: an earlier full collection (--heap-growing-percent=50) held a busy
// bridge ~90 MB lower but cost ~15 µs of CPU an event, a fifth of it, and did not lower the
// burst's peak. SFMC_BRIDGE_NODE_FLAGS replaces these flags (set it empty to run with V8's
// defaults). Applied by replacing this process (same PID, so signals and supervisors see no
// difference) where the platform supports it.
const HEAP_FLAGS = '--max-semi-space-size=4';
const sources = new URL('../src/cli.ts', import.meta.url);
const built = new URL('../dist/src/cli.js', import.meta.url);
// backfill too: it reads a million records page by page, and a loose heap would hide that in RSS.
const SERVICE_COMMANDS = new Set(['start', 'demo', 'backfill']);
const flags = (process.env.SFMC_BRIDGE_NODE_FLAGS ?? HEAP_FLAGS).split(/\s+/).filter(Boolean);
if (SERVICE_COMMANDS.has(process.argv[2]) && flags.length > 0 && typeof process.execve === 'function' && !process.env.SFMC_BRIDGE_TUNED) {
  // glibc's malloc gives each thread that allocates an arena of its own (up to 8 per core: the
  // libuv pool, V8's helpers, the WAL checkpointer), and memory freed in one is not reused by
  // another: two arenas took ~12 MB off the burst's peak RSS. An explicit setting is kept.
  const env = { ...process.env, SFMC_BRIDGE_TUNED: '1', MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' };
  const nodeArgs = [...process.execArgv, ...flags];
  // From the sources, have their types stripped before, so that the service never loads the
  // stripper and its ~20 MB (warm-sources.js).
  if (existsSync(sources)) (await import('./warm-sources.js')).warmSources(nodeArgs);
  process.execve(process.execPath, [process.execPath, ...nodeArgs, ...process.argv.slice(1)], env);
}

if (!existsSync(sources) && !existsSync(built)) {
  // A package packed without its prepack build (or a copy of bin/ alone): say what is missing.
  process.stderr.write(`sfmc-bridge: ${new URL('..', import.meta.url).pathname} has neither the sources (src/cli.ts) nor the build (dist/src/cli.js); in a checkout run \`npm run build\`, or reinstall the package\n`);
  process.exit(1);
}
// Node's compile cache: modules compiled (and, from the sources, type-stripped) by an earlier
// run load from it. Quiet when it cannot be used (NODE_DISABLE_COMPILE_CACHE, no writable
// directory; NODE_COMPILE_CACHE names another directory than the temporary one).
module.enableCompileCache();
const { main } = await import((existsSync(sources) ? sources : built).href);
await main(process.argv.slice(2));
