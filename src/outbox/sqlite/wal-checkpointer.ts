/**
 * Runs SQLite WAL checkpoints on their own thread and connection, so the pipeline's commits
 * never pay for copying the log into the database file (and its fsync).
 *
 * The thread's code is plain JavaScript evaluated from the string below, not a `.ts` module:
 * a worker that loads TypeScript starts its own copy of Node's type stripper, about 18 MB of
 * resident memory for fifteen lines of code.
 */
import { Worker } from 'node:worker_threads';

/** A running checkpointer thread. */
export interface WalCheckpointer {
  /** Asks for a last full checkpoint; the thread ends on its own and never holds the process. */
  stop(): void;
}

const WORKER_SOURCE = `
const { DatabaseSync } = require('node:sqlite');
const { parentPort, workerData } = require('node:worker_threads');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 5000');
function checkpoint(mode) {
  try {
    db.exec('PRAGMA wal_checkpoint(' + mode + ')');
  } catch {
    // Busy or closing: the next tick (or the next open) checkpoints instead.
  }
}
const timer = setInterval(() => checkpoint('PASSIVE'), workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint('TRUNCATE');
  db.close();
  parentPort.close();
});
`;

/** Checkpoints `path`'s WAL every `intervalMs` on a worker thread. */
export function startWalCheckpointer(path: string, intervalMs = 250): WalCheckpointer {
  // A small heap: the thread only issues PRAGMAs.
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, intervalMs },
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  worker.unref();
  worker.on('error', () => undefined);
  return { stop: () => worker.postMessage('stop') };
}
