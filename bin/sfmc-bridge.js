#!/usr/bin/env node
// The `sfmc-bridge` command. In a checkout it runs the TypeScript sources directly (Node 22.18+
// strips types natively, no build step, so an edit takes effect at once, even with a stale
// dist/). In an installed package, which ships dist/ and not src/ (package.json "files"), it runs
// the build: Node refuses to strip types under node_modules.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { serviceEnv, serviceNodeFlags } from './service-flags.js';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`sfmc-bridge needs Node.js 22.19 or later (this is ${process.versions.node}) (in a checkout, the npm scripts use the Node 24 of devDependencies)\n`);
  process.exit(1);
}

// The long-running service runs with heap flags and a malloc setting of its own
// (service-flags.js), applied by replacing this process (same PID, so signals and supervisors
// see no difference) where the platform supports it.
const sources = new URL('../src/cli.ts', import.meta.url);
const built = new URL('../dist/src/cli.js', import.meta.url);
// backfill too: it reads a million records page by page, and a loose heap would hide that in RSS.
const SERVICE_COMMANDS = new Set(['start', 'demo', 'backfill']);
const flags = serviceNodeFlags();
if (SERVICE_COMMANDS.has(process.argv[2]) && flags.length > 0 && typeof process.execve === 'function' && !process.env.SFMC_BRIDGE_TUNED) {
  const env = { ...serviceEnv(), SFMC_BRIDGE_TUNED: '1' };
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
