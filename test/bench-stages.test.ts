// Rule: `npm run bench -- --profile` charges each sample to the stage of its innermost bridge or floor frame (a SQLite call from the floor's outbox is the outbox's, its send loop's undici calls undici's), and sets the bridge's stages beside the floor's, the largest extra cost first.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stagesOf, stageTable } from '../bench/stages.ts';

const dir = mkdtempSync(join(tmpdir(), 'bench-stages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A `.cpuprofile` of one call tree, each leaf sampled `times` times, 1 ms apart; its path. */
function profile(tree: Frame, name: string): string {
  const nodes: { id: number; callFrame: { functionName: string; url: string }; children: number[] }[] = [];
  const samples: number[] = [];
  const add = (f: Frame): number => {
    const node = { id: nodes.length + 1, callFrame: { functionName: f.fn, url: f.url ?? '' }, children: [] as number[] };
    nodes.push(node);
    for (const c of f.calls ?? []) node.children.push(add(c));
    for (let i = 0; i < (f.times ?? 0); i++) samples.push(node.id);
    return node.id;
  };
  add(tree);
  // The last sample's time is the one until the next: a trailing idle one closes the window.
  samples.push(nodes.find((n) => n.callFrame.functionName === '(idle)')!.id);
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ nodes, startTime: 0, samples, timeDeltas: samples.map(() => 1000) }));
  return path;
}
interface Frame {
  fn: string;
  url?: string;
  times?: number;
  calls?: Frame[];
}

const repo = 'file:///home/dev/sfmc-bridge';
const window = { fromUs: 0, toUs: 1e9, events: 1000, processCpuMs: 0, otherThreadsCpuMs: new Map([['V8Worker', 5]]) };

test("the floor's frames land in the stages the bridge's do: its SQL in the outbox, its HTTP in undici, its send loop in delivery", () => {
  const faye = `${repo}/node_modules/faye/src/transport/node_http.js`;
  const path = profile(
    {
      fn: '(root)',
      calls: [
        { fn: '(idle)', times: 4 },
        { fn: '(garbage collector)', times: 1 },
        {
          fn: 'request',
          url: faye,
          times: 3,
          calls: [
            {
              fn: 'storeReceived',
              url: `${repo}/bench/floor-yardstick.ts`,
              calls: [{ fn: 'store', url: `${repo}/bench/floor-outbox.ts`, times: 1, calls: [{ fn: 'run', times: 4 }] }],
            },
          ],
        },
        {
          fn: 'send',
          url: `${repo}/bench/floor-yardstick.ts`,
          times: 2,
          calls: [{ fn: 'request', url: `${repo}/node_modules/undici/lib/api/api-request.js`, times: 2, calls: [{ fn: 'writev', times: 1 }] }],
        },
        { fn: 'incoming', url: `${repo}/bench/yardsticks.ts`, times: 1 },
        { fn: 'processImmediate', url: 'node:internal/timers', times: 1 },
      ],
    },
    'floor.cpuprofile',
  );
  // 16 busy samples of 1 ms, and as many ms of the main thread's CPU: 1 µs an event per sample.
  expect(stagesOf(path, { ...window, mainThreadCpuMs: 16 })).toEqual({
    'outbox (store, SQL)': 5,
    'delivery: undici (Marketing Cloud HTTP)': 3,
    'transport: faye (CometD)': 3,
    'delivery (dispatcher, targets)': 2,
    'garbage collection': 1,
    subscriber: 1,
    'node runtime (timers, sockets, event loop)': 1,
    'thread V8Worker': 5,
  });
});

test("the bridge's frames keep their stages", () => {
  const path = profile(
    {
      fn: '(root)',
      calls: [
        { fn: '(idle)' },
        { fn: 'insert', url: `${repo}/src/outbox/sqlite/store.ts`, calls: [{ fn: 'run', times: 2 }] },
        { fn: 'normalizeChange', url: `${repo}/src/normalize/change.ts`, times: 1 },
        { fn: 'deliver', url: `${repo}/src/delivery/dispatcher.ts`, calls: [{ fn: 'stringify', times: 1 }] },
      ],
    },
    'bridge.cpuprofile',
  );
  expect(stagesOf(path, { ...window, mainThreadCpuMs: 4 })).toEqual({
    'outbox (store, SQL)': 2,
    normalize: 1,
    'delivery (dispatcher, targets)': 1,
    'thread V8Worker': 5,
  });
});

test('the side-by-side table puts the largest extra cost of the bridge first, a stage only one side has as 0, and the totals last', () => {
  const table = stageTable(
    { 'outbox (store, SQL)': 9.4, normalize: 3, 'transport: faye (CometD)': 3.9, 'thread V8Worker': 22 },
    { 'outbox (store, SQL)': 4.9, 'transport: faye (CometD)': 4.6, 'thread V8Worker': 10.9 },
  );
  expect(table.split('\n').map((line) => line.trim().split(/\s{2,}/))).toEqual([
    ['stage', 'bridge µs', 'floor µs', 'difference'],
    ['thread V8Worker', '22', '10.9', '+11.1'],
    ['outbox (store, SQL)', '9.4', '4.9', '+4.5'],
    ['normalize', '3', '0', '+3'],
    ['transport: faye (CometD)', '3.9', '4.6', '-0.7'],
    ['total', '38.3', '20.4', '+17.9'],
  ]);
});
