// The Node flags and environment the long-running service runs with (docs/operations.md,
// "Memory"); bin/sfmc-bridge.js re-executes itself with them, and `npm run bench -- --profile`
// gives them to the floor yardstick's process too, so that the two collect garbage alike.
//
// V8 sizes its young generation for throughput: on a machine with a few GB it lets it grow to
// 128 MB. A 4 MB semi-space keeps it small (more, cheaper scavenges) and took ~20 MB off a
// burst's peak. It is soft: not a limit, so it cannot make the process run out of memory. The
// old generation keeps V8's own growth: an earlier full collection (--heap-growing-percent=50)
// held a busy bridge ~90 MB lower but cost ~15 µs of CPU an event, a fifth of it, and did not
// lower the burst's peak. SFMC_BRIDGE_NODE_FLAGS replaces these flags (set it empty to run with
// V8's defaults).
const HEAP_FLAGS = '--max-semi-space-size=4';

/** The service's Node flags: SFMC_BRIDGE_NODE_FLAGS when set (even empty), HEAP_FLAGS otherwise. */
export function serviceNodeFlags(env = process.env) {
  return (env.SFMC_BRIDGE_NODE_FLAGS ?? HEAP_FLAGS).split(/\s+/).filter(Boolean);
}

/**
 * The service's environment. glibc's malloc gives each thread that allocates an arena of its own
 * (up to 8 per core: the libuv pool, V8's helpers), and memory freed in
 * one is not reused by another: two arenas took ~12 MB off the burst's peak RSS. An explicit
 * setting is kept.
 */
export function serviceEnv(env = process.env) {
  return { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2' };
}
