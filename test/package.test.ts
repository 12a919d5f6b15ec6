// Rule: packed with `npm pack` and installed with `npm install --omit=dev` into another project, the bridge runs from the built files with Node 24 (start --help, check --offline with the project's own mapper, demo on both transports), and the Dockerfile installs it the same way.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';

// Packing builds dist/ (prepack), and the install fetches the runtime dependencies (from npm's
// cache when it has them): a minute on a quiet machine, several on a shared one.
jest.setTimeout(600_000);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// npm and everything it starts run on this Node (24), not on whatever `node` comes first on PATH.
const PATH = [dirname(process.execPath), join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
// Nothing of the parent's npm run (npm_config_*, npm_lifecycle_*), of its credentials or of the
// test runner may leak into the installs and the commands: they run as a fresh user's would.
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      !k.startsWith('npm_') &&
      !k.startsWith('SF_') &&
      !k.startsWith('MC_') &&
      !k.startsWith('SFMC_BRIDGE') &&
      !['NODE_ENV', 'NODE_OPTIONS', 'JEST_WORKER_ID'].includes(k),
  ),
);

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(file: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...ENV, PATH }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ status: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A user project: an empty package that installed the tarball, with the bridge's config and force-app copied in. */
let project: string;
let work: string;
let packed: { filename: string; files: { path: string }[] };
const timings: string[] = [];

/** `sfmc-bridge <args>` as the project runs it: the installed bin, from the project's folder. */
function bridge(args: string[]): Promise<Run> {
  return run(process.execPath, [join(project, 'node_modules', '.bin', 'sfmc-bridge'), ...args], project, 120_000);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'package-'));
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], ROOT);
  timings.push(`pack ${pack.ms} ms`);
  if (pack.status !== 0) throw new Error(`npm pack failed (${pack.status}): ${pack.stderr}`);
  // The JSON report follows whatever prepack printed.
  [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('\n[') + 1)) as [typeof packed];
  const tarball = join(work, packed.filename);

  project = join(work, 'team-project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'team-project', private: true, type: 'module' }));
  const install = await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], project);
  timings.push(`install ${install.ms} ms`);
  if (install.status !== 0) throw new Error(`npm install --omit=dev failed (${install.status}): ${install.stderr}`);

  // What the docs tell a team to do: copy the shipped config and metadata into its sfdx project.
  const pkg = join(project, 'node_modules', 'sfmc-bridge');
  for (const item of ['config', 'force-app', 'sfdx-project.json']) cpSync(join(pkg, item), join(project, item), { recursive: true });
});

afterAll(() => {
  process.stdout.write(`package.test timings: ${timings.join(', ')}\n`);
  if (work !== undefined) rmSync(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('the packed and installed bridge', () => {
  it('ships the built files, their declarations and the .proto, and no TypeScript sources', () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/sfmc-bridge.js',
        'dist/src/cli.js',
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/mappers/journey-entry-event.js',
        'dist/subscribers/pubsub/pubsub_api.proto',
        'config/bridge.schema.json',
        'config/bridge.json',
        'force-app/main/default/objects/MC_Send__e/MC_Send__e.object-meta.xml',
      ]),
    );
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^(src|test|bench|scripts|subscribers|mappers)\//.test(f))).toEqual([]);
  });

  it('installs the runtime dependencies (source-deploy-retrieve for check among them) and none of the development ones', () => {
    const modules = join(project, 'node_modules');
    expect(existsSync(join(modules, '@salesforce', 'source-deploy-retrieve', 'package.json'))).toBe(true);
    for (const dev of ['typescript', 'jest', '@swc/core', 'node', 'nock', 'playwright-core'])
      expect([dev, existsSync(join(modules, dev))]).toEqual([dev, false]);
  });

  it('answers start --help', async () => {
    const r = await bridge(['start', '--help']);
    timings.push(`start --help ${r.ms} ms`);
    expect(r.stderr).not.toContain('ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: sfmc-bridge start/);
  });

  it("checks the project offline, loading a mapper from the project's own mappers/ that imports the package and is typed by its declarations", async () => {
    mkdirSync(join(project, 'mappers'), { recursive: true });
    writeFileSync(
      join(project, 'mappers', 'welcome.ts'),
      [
        "import { Code, MappingError, type Mapper } from 'sfmc-bridge';",
        "export const fields = ['Email'];",
        "const welcome: Mapper = (event) => typeof event.fields.Email === 'string'",
        "  ? [{ target: 'journey', mode: 'batch', payload: { eventDefinitionKey: 'APIEvent-welcome', contactKey: event.contactKey, data: { Email: event.fields.Email } } }]",
        "  : new MappingError(Code.MAPPING_MISSING_FIELD, 'Email', 'no Email');",
        'export default welcome;',
      ].join('\n'),
    );
    const config = JSON.parse(readFileSync(join(project, 'config', 'bridge.json'), 'utf8'));
    config.routes[0] = { ...config.routes[0], mapping: undefined, mapper: 'welcome' };
    writeFileSync(join(project, 'config', 'team.json'), JSON.stringify(config));
    const ok = await bridge(['check', '--offline', '--config', 'config/team.json']);
    timings.push(`check --offline ${ok.ms} ms`);
    expect(ok.stderr).not.toContain('ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING');
    expect([ok.status, ok.stdout]).toEqual([0, expect.stringContaining('ok: no errors')]);

    // The declarations the package exports type the project's mapper: a wrong mode is refused.
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2023', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [] },
        include: ['mappers'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    expect(await run(process.execPath, [tsc, '-p', 'tsconfig.json'], project)).toMatchObject({ status: 0, stdout: '' });
    const typo = readFileSync(join(project, 'mappers', 'welcome.ts'), 'utf8').replace("mode: 'batch'", "mode: 'sometimes'");
    writeFileSync(join(project, 'mappers', 'typo.ts'), typo);
    const refused = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    expect(refused.status).not.toBe(0);
    expect(refused.stdout).toContain('mappers/typo.ts');
    expect(refused.stdout).toContain('\'"sometimes"\' is not assignable to type \'"batch" | "single"\'');
    rmSync(join(project, 'mappers', 'typo.ts'));

    // The lookup is real: a name in neither folder is an error naming both.
    config.routes[0].mapper = 'nowhere';
    writeFileSync(join(project, 'config', 'team.json'), JSON.stringify(config));
    const missing = await bridge(['check', '--offline', '--config', 'config/team.json']);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain(
      `no mapper module nowhere.ts (or .js) in ${join(project, 'mappers/')} or ${join(project, 'node_modules', 'sfmc-bridge', 'dist', 'mappers/')}`,
    );
  });

  it.each(['cometd', 'pubsub'])('runs the demo end to end over %s', async (transport) => {
    const r = await bridge(['demo', '--events', '4', '--transport', transport, '--db', `data/demo-${transport}.db`]);
    timings.push(`demo ${transport} ${r.ms} ms`);
    expect(r.stderr).not.toContain('ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING');
    expect(r.status).toBe(0);
    const contact = /route contact-welcome\): (\d+) entries \(expected (\d+)\)/.exec(r.stdout);
    expect(contact?.[1]).toBe(contact?.[2]);
    expect(r.stdout).toMatch(/Outbox: [1-9]\d* delivered, 1 dead-lettered \(bad input on purpose\), 0 pending\./);
  });
});

describe('bin/sfmc-bridge.js', () => {
  it('runs the sources when they are there (a checkout, even with a dist/), the build otherwise (a package), and says when neither is', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'bin-'));
    try {
      cpSync(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
      const stub = (which: string): string => `export async function main(argv) { process.stdout.write('${which} ' + argv.join(' ')); }\n`;
      mkdirSync(join(copy, 'src'));
      writeFileSync(join(copy, 'src', 'cli.ts'), stub('sources'));
      mkdirSync(join(copy, 'dist', 'src'), { recursive: true });
      writeFileSync(join(copy, 'dist', 'src', 'cli.js'), stub('build'));
      const bin = join(copy, 'bin', 'sfmc-bridge.js');
      expect(await run(process.execPath, [bin, 'check', '--offline'], copy)).toMatchObject({ status: 0, stdout: 'sources check --offline' });
      rmSync(join(copy, 'src'), { recursive: true });
      expect(await run(process.execPath, [bin, 'check', '--offline'], copy)).toMatchObject({ status: 0, stdout: 'build check --offline' });
      rmSync(join(copy, 'dist'), { recursive: true });
      const neither = await run(process.execPath, [bin, 'check'], copy);
      expect(neither.status).toBe(1);
      expect(neither.stderr).toBe(
        `sfmc-bridge: ${copy}/ has neither the sources (src/cli.ts) nor the build (dist/src/cli.js); in a checkout run \`npm run build\`, or reinstall the package\n`,
      );
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe('the Dockerfile', () => {
  const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = docker.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const stages = docker.split(/^FROM /m).slice(1);

  it('builds in one stage (npm ci, then npm pack, which builds dist/) and runs the packed files in another', () => {
    expect(stages).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual(['FROM node:24-slim AS build', 'FROM node:24-slim']);
    expect(stages[0]).toMatch(/^RUN npm ci\b/m);
    expect(stages[0]).toMatch(/npm pack\b/);
    expect(stages[1]).toMatch(/^COPY --from=build \/tmp\/package\/ \.\/$/m);
    expect(stages[1]).toMatch(/^RUN npm ci --omit=dev\b/m);
    // The runtime stage holds what the package ships, never the sources.
    expect(stages[1]).not.toMatch(/^COPY (src|subscribers|mappers|bin)\b/m);
    expect(stages[1]).toMatch(/^ENV NODE_ENV=production\b/m);
    expect(lines.at(-1)).toBe('CMD ["node", "bin/sfmc-bridge.js", "start"]');
  });

  it('sends the build what packing needs (force-app, scripts) and not a local node_modules or dist', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist']));
    for (const needed of ['force-app', 'scripts', 'config', 'src', 'subscribers', 'mappers', 'bin']) expect(ignored).not.toContain(needed);
  });
});
