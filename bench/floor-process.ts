/**
 * The floor yardstick (floor-yardstick.ts) in a process of its own, for `npm run bench --
 * --profile`: spawnFloor (processes.ts) starts it with the service's heap flags and V8's
 * sampling profiler, as the bridge runs, so that its CPU is its own and can be profiled stage by
 * stage beside the bridge's. The emulators' URLs come in BENCH_EMULATORS (EmulatorInfo as
 * JSON), the outbox's directory as the argument. It forwards until its stdin ends (the driver
 * closes it once Marketing Cloud holds every entry), prints `{ cpuMs, typeStripper }` (its CPU
 * since the forwarder started, as measureFloor counts it, and whether Node's type stripper is in
 * the process, which spawnFloor's warm-up keeps out) and exits, which writes the profile. With
 * BENCH_FLOOR_WARM=1 it only loads its modules.
 */
import { once } from 'node:events';
import { sqliteStore } from './floor-outbox.ts';
import { startFloor } from './floor-yardstick.ts';
import type { EmulatorInfo } from './processes.ts';

if (process.env.BENCH_FLOOR_WARM === '1') process.exit(0);
const info = JSON.parse(process.env.BENCH_EMULATORS ?? '') as EmulatorInfo;
const floor = await startFloor(info, sqliteStore(process.argv[2]!));
process.stdin.resume();
await once(process.stdin, 'end');
const cpuMs = floor.cpuMs();
await floor.stop();
// Node's list of its own modules loaded (undocumented, not in @types/node), as test/bin-sources.test.ts reads it.
const loaded = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
const typeStripper = loaded.some((m) => m.includes('amaro'));
process.stdout.write(`${JSON.stringify({ cpuMs, typeStripper })}\n`);
