/**
 * The REST clients of one target: one undici Agent (its own connection pool, keep-alive below
 * Marketing Cloud's 5 s), one limiter (requests in flight), and one client per business unit
 * MID, each on the process-wide token manager of (auth host, client ID, MID): a token per MID,
 * never a token per call, shared by every target.
 */
import type { Agent } from 'undici';
import type { BreakerRegistry } from '../breaker.ts';
import { sharedTokenManager, type McCredentials, type McTokenManager } from './auth.ts';
import { createMcDispatcher, Limiter, McRestClient } from './http.ts';
import type { ClientFor } from '../target.ts';

/** Options of a target's client set. */
export interface McClientsOptions {
  /** Credentials; `accountId` is the MID used when an action names none. */
  credentials: McCredentials;
  /** Connections to the REST host. @default 16 */
  connections?: number;
  /** Requests in flight at once. @default 16 */
  concurrency?: number;
  /** Headers and body timeout per request. @default 30000 */
  timeoutMs?: number;
  /** Idle keep-alive, below 5 s. @default 4000 */
  keepAliveMs?: number;
  breakers?: BreakerRegistry;
  /** Token manager per credential set. @default sharedTokenManager */
  tokens?: (creds: McCredentials) => McTokenManager;
}

/** One target's clients, one per MID. */
export class McClients {
  readonly #opts: McClientsOptions;
  readonly #agent: Agent;
  readonly #limiter: Limiter;
  readonly #byMid = new Map<string, McRestClient>();
  /** The client of a MID (`undefined`: the configured account), created on first use. */
  readonly clientFor: ClientFor;

  constructor(opts: McClientsOptions) {
    this.#opts = opts;
    this.#agent = createMcDispatcher({
      connections: opts.connections ?? 16,
      ...(opts.keepAliveMs !== undefined ? { keepAliveMs: opts.keepAliveMs } : {}),
    });
    this.#limiter = new Limiter(opts.concurrency ?? 16);
    this.clientFor = (mid) => this.#client(mid);
  }

  #client(mid: string | undefined): McRestClient {
    const account = mid ?? this.#opts.credentials.accountId ?? '';
    let client = this.#byMid.get(account);
    if (!client) {
      const creds: McCredentials = { ...this.#opts.credentials };
      if (account !== '') creds.accountId = account;
      else delete creds.accountId;
      const tokens = (this.#opts.tokens ?? sharedTokenManager)(creds);
      client = new McRestClient(tokens, {
        dispatcher: this.#agent,
        limiter: this.#limiter,
        ...(this.#opts.timeoutMs !== undefined ? { timeoutMs: this.#opts.timeoutMs } : {}),
        ...(this.#opts.breakers ? { breakers: this.#opts.breakers } : {}),
      });
      this.#byMid.set(account, client);
    }
    return client;
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}
