/**
 * Runs SQLite WAL checkpoints on its own thread and connection, so the pipeline's commits
 * never pay for copying the log into the database file (and its fsync).
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 5000');

function checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): void {
  try {
    db.exec(`PRAGMA wal_checkpoint(${mode})`);
  } catch {
    // Busy or closing: the next tick (or the next open) checkpoints instead.
  }
}

const timer = setInterval(() => checkpoint('PASSIVE'), intervalMs);
parentPort!.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint('TRUNCATE');
  db.close();
  parentPort!.close();
});
