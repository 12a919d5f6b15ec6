#!/usr/bin/env node
// Runs the TypeScript sources directly: Node 22.18+ strips types natively, no build step.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`sfmc-bridge needs Node.js 22.19 or later (this is ${process.versions.node}); run it through npm, which uses the Node 24 in devDependencies\n`);
  process.exit(1);
}
const { main } = await import('../src/cli.ts');
await main(process.argv.slice(2));
