/**
 * Wake-ups between the instances of a fleet, on PostgreSQL's LISTEN/NOTIFY: a transaction that
 * gives the fleet work (actions committed, a claim released, an action settled so its contact's
 * next one is free, a dead letter requeued) notifies the schema's channel, and every other
 * instance's dispatcher looks at once instead of at its next poll.
 *
 * A notification is a hint, never the only way work is found: it is lost while the listening
 * connection is down, so the dispatcher keeps a fallback poll, and a reconnect counts as a
 * wake-up (something may have been missed meanwhile).
 */
import pg from 'pg';

/** The notification channel of a schema (an identifier: at most 63 bytes; a shared prefix only wakes more often). */
export function workChannel(schema: string): string {
  return `sfmc_bridge_${schema}`.slice(0, 63);
}

/** Options of the listener. */
export interface WorkListenerOptions {
  url: string;
  schema: string;
  /** Notifications this instance sent itself are not passed on: its own dispatcher was told in-process. */
  instanceId: string;
  /** Wait before reconnecting a lost listening connection (ms). @default 1000 */
  reconnectMs?: number;
}

/** Holds one LISTEN connection and calls its listeners on every other instance's notification. */
export class WorkListener {
  readonly #o: Required<WorkListenerOptions>;
  readonly #listeners = new Set<() => void>();
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: WorkListenerOptions) {
    this.#o = { reconnectMs: 1000, ...options };
  }

  /** Adds a listener (connecting on the first); returns the function that removes it. */
  add(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#client && !this.#connecting) this.#connecting = this.#connect();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves once the connection is listening (tests: a notification sent after this is seen). */
  async ready(): Promise<void> {
    while (!this.#closed && !this.#client) await (this.#connecting ?? new Promise((r) => setTimeout(r, 20)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#o.url,
      application_name: `sfmc-bridge wake-ups ${this.#o.schema}`.slice(0, 63),
      keepAlive: true,
    });
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      this.#reconnectLater();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if (n.payload !== this.#o.instanceId) this.#wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${workChannel(this.#o.schema)}"`);
    } catch {
      client.end().catch(() => undefined);
      this.#connecting = undefined;
      this.#reconnectLater();
      return;
    }
    this.#connecting = undefined;
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    // Whatever was notified while no connection listened is looked for now.
    this.#wake();
  }

  #reconnectLater(): void {
    if (this.#closed || this.#listeners.size === 0) return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#connecting = this.#connect();
    }, this.#o.reconnectMs);
    this.#retry.unref();
  }

  #wake(): void {
    for (const l of this.#listeners) l();
  }
}
