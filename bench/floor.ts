/**
 * `npm run bench:floor -- [--store sqlite|none] [--events N]`: the floor yardstick alone (see
 * floor-yardstick.ts), measured against the same emulator process and the same generated
 * events as the raw subscriber, right after it; prints one JSON line with both rates and the
 * ratio. `npm run bench` measures the SQLite floor in its own invocation too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noStore, sqliteStore } from './floor-outbox.ts';
import { measureFloor } from './floor-yardstick.ts';
import { control, startEmulatorProcess } from './processes.ts';
import { measureRaw } from './yardsticks.ts';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '200000' }, store: { type: 'string', default: 'sqlite' } } });
const N = Number(args.events);
if (args.store !== 'sqlite' && args.store !== 'none') throw new Error(`--store: expected sqlite or none, got ${args.store}`);
const CHANNEL = '/data/ContactChangeEvent';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sfmc-floor-'));
  const emu = await startEmulatorProcess();
  try {
    await control(`${emu.info.SF_INSTANCE_URL}/_emulator/generate`, 'POST', { count: N });
    const raw = await measureRaw(emu.info, CHANNEL, N);
    const emulatorCpu0 = emu.cpuMs();
    const floor = await measureFloor(emu.info, N, args.store === 'sqlite' ? sqliteStore(dir) : noStore());
    process.stdout.write(
      `${JSON.stringify({
        events: N,
        store: args.store,
        rawEventsPerSec: Math.round(raw.eventsPerSec),
        floorEventsPerSec: Math.round(floor.eventsPerSec),
        floorOfRaw: Math.round((floor.eventsPerSec / raw.eventsPerSec) * 100) / 100,
        cpuUsPerEvent: { floor: Math.round((floor.cpuMs * 1000) / N), emulators: Math.round(((emu.cpuMs() - emulatorCpu0) * 1000) / N) },
      })}\n`,
    );
  } finally {
    await emu.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`floor failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
