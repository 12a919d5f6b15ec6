/** Starts and stops the background WAL checkpointer of a SQLite file. */
import { Worker } from 'node:worker_threads';

/** A running checkpointer thread. */
export interface WalCheckpointer {
  /** Asks for a last full checkpoint; the thread ends on its own and never holds the process. */
  stop(): void;
}

/** Checkpoints `path`'s WAL every `intervalMs` on a worker thread. */
export function startWalCheckpointer(path: string, intervalMs = 250): WalCheckpointer {
  const worker = new Worker(new URL('./wal-checkpointer.worker.ts', import.meta.url), { workerData: { path, intervalMs } });
  worker.unref();
  worker.on('error', () => undefined);
  return { stop: () => worker.postMessage('stop') };
}
