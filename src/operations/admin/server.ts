/**
 * The admin HTTP listener: `/healthz`, `/readyz`, `/metrics`, the status page `/` and its JSON
 * (`/api/status`, `/api/trace/:id`). Loopback by default. With `admin.token` set, everything
 * that shows data asks for `Authorization: Bearer <token>`; the probes and the page's empty
 * shell stay open so orchestrators and browsers can reach them without the secret. With
 * `probesOnly` nothing that shows a record is served at all (config checks refuse a
 * non-loopback host with neither a token nor `probesOnly`).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AdminStore, HistoryStore } from '../../outbox/contract.ts';
import type { Telemetry } from '../../telemetry/telemetry.ts';
import { traceRecord } from '../trace.ts';
import { createMetrics } from './metrics.ts';
import { STATUS_PAGE } from './page.ts';
import { createStatusBoard } from './status.ts';
import type { Unreachable } from '../../telemetry/reachability.ts';

/** What the admin listener needs from the running service. */
export interface AdminOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Bearer token; undefined leaves the listener open (loopback only, unless told otherwise). */
  token?: string | undefined;
  /** Serve only /healthz, /readyz and /metrics: nothing that shows a record. @default false */
  probesOnly?: boolean;
  /** Gauges and readiness, and the trace pages (`/api/trace`). */
  store: AdminStore & HistoryStore;
  telemetry: Telemetry;
  /** True while every channel is subscribed. */
  subscribed(): boolean;
  /** Hosts of Salesforce or Marketing Cloud without a working connection now. @default none */
  unreachable?(): readonly Unreachable[];
  /** Per channel, whether this instance leads it (a fleet has followers). @default no channels */
  leads?(): ReadonlyMap<string, boolean>;
  /** Resolves once a Marketing Cloud access token is in hand (cached or fetched). */
  mcToken(): Promise<unknown>;
  allowPersonalData: boolean;
  logger: Logger;
  /** Longest a readiness check may take before it counts as failed. @default 5000 */
  checkTimeoutMs?: number;
}

/** A running admin listener. */
export interface AdminServer {
  /** `http://host:port`. */
  readonly url: string;
  /** From now on `/readyz` answers 503: the service is shutting down. */
  markStopping(): void;
  close(): Promise<void>;
}

type Check = { ok: boolean; error?: string };

/** Starts the admin listener; rejects when the address cannot be bound. */
export async function startAdminServer(o: AdminOptions): Promise<AdminServer> {
  const leads = o.leads ?? (() => new Map<string, boolean>());
  const metrics = createMetrics({ telemetry: o.telemetry, store: o.store, subscribed: o.subscribed, leads });
  const board = createStatusBoard({
    telemetry: o.telemetry,
    store: o.store,
    subscribed: o.subscribed,
    leads,
    allowPersonalData: o.allowPersonalData,
  });
  const expected = o.token === undefined ? undefined : Buffer.from(`Bearer ${o.token}`);
  const timeoutMs = o.checkTimeoutMs ?? 5000;
  let stopping = false;

  const authorized = (req: IncomingMessage): boolean => {
    if (expected === undefined) return true;
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  const check = async (fn: () => unknown): Promise<Check> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(fn),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: (err as Error)?.message ?? String(err) };
    } finally {
      clearTimeout(timer);
    }
  };

  const readiness = async (): Promise<{ status: number; body: object }> => {
    const [storeWritable, marketingCloudToken] = await Promise.all([check(() => o.store.checkWritable()), check(() => o.mcToken())]);
    const down = o.unreachable?.() ?? [];
    const connections: Check = down.length === 0 ? { ok: true } : { ok: false, error: down.map(describeUnreachable).join('; ') };
    const checks = { subscribed: { ok: o.subscribed() } as Check, storeWritable, marketingCloudToken, connections };
    if (!checks.subscribed.ok)
      checks.subscribed.error =
        'not every channel is subscribed' + (down.some((d) => d.remote === 'salesforce') ? ': Salesforce cannot be reached (see connections)' : '');
    const ready = !stopping && Object.values(checks).every((c) => c.ok);
    return { status: ready ? 200 : 503, body: { ready, stopping, checks } };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'only GET' }, { allow: 'GET, HEAD' });
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const r = await readiness();
      return send(res, r.status, r.body);
    }
    const recordData = path === '/' || path === '/api/status' || path.startsWith('/api/trace/');
    if (recordData && o.probesOnly) return send(res, 404, { error: `no route ${path} (admin.probesOnly: only /healthz, /readyz and /metrics)` });
    if (path === '/') return sendText(res, 200, 'text/html; charset=utf-8', STATUS_PAGE);
    const guarded = path === '/metrics' || path === '/api/status' || path.startsWith('/api/trace/');
    if (!guarded) return send(res, 404, { error: `no route ${path}` });
    if (!authorized(req)) return send(res, 401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer realm="sfmc-bridge"' });
    if (path === '/metrics') return sendText(res, 200, metrics.registry.contentType, await metrics.render());
    if (path === '/api/status') return send(res, 200, await board.snapshot());
    const id = decodeURIComponent(path.slice('/api/trace/'.length));
    if (id.trim() === '' || id.length > 255) return send(res, 400, { error: 'give a record ID or contact key: /api/trace/<id>' });
    return send(res, 200, await traceRecord(o.store, id, { allowPersonalData: o.allowPersonalData }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      o.logger.error({ err, event: 'admin_error', path: req.url }, 'admin request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // Keep-alive connections from a scraper or a browser must not hold the shutdown.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  o.logger.info({ event: 'admin_listening', url, auth: expected !== undefined, probesOnly: Boolean(o.probesOnly) }, 'admin listener started');

  return {
    url,
    markStopping() {
      stopping = true;
      board.markStopping();
    },
    async close() {
      metrics.close();
      board.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  sendText(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, headers);
}

function sendText(res: ServerResponse, status: number, type: string, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

/** One line a person can act on: which service, which host, since when, and why. */
function describeUnreachable(d: Unreachable): string {
  const name = d.remote === 'salesforce' ? 'Salesforce' : 'Marketing Cloud';
  return `${name} at ${d.host} unreachable for ${Math.round((Date.now() - d.since) / 1000)} s (${d.attempts} failed attempts): ${d.cause}`;
}
