/**
 * Marketing Cloud emulator: the token endpoint (with scopes), the two Journey Builder entry
 * endpoints, the async status endpoint, both send APIs (classic triggered, transactional), the
 * definition lookups, contact deletion, the data extension row APIs (async, sync, Bulk Data
 * Ingest) and the SOAP field retrieve on one loopback port, with injectable faults and a control API for
 * other processes. Behaves like Marketing Cloud where the bridge depends on it (token lifetime,
 * 401 body, 100-member cap, per-member errors in request order, 429 with Retry-After, idle
 * keep-alive connections closed after 5 s) and is fast enough not to limit a benchmark.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleControl } from './control.ts';
import { mcError, parseJson, readBody, send, splitTarget, type ParsedRequest, type Reply } from './http.ts';
import { handleAsync, handleSingle, handleStatus } from './journey.ts';
import { handleTransactionalBatch, handleTransactionalSingle, handleTriggeredSend, transactionalMessageKey, triggeredSendKey } from './sends.ts';
import { McState } from './state.ts';
import {
  CONTACT_DELETE_PATH,
  CONTACT_DELETE_STATUS_PATH,
  eventDefinitionLookupKey,
  handleContactDelete,
  handleContactDeleteStatus,
  handleEventDefinition,
  handleSendDefinition,
  insufficientScope,
  requiredScope,
  sendDefinitionLookupKey,
} from './definitions.ts';
import {
  asyncRequestPath,
  asyncRowsKey,
  DeTables,
  handleAsyncRequest,
  handleAsyncRows,
  handleRowset,
  handleRowsetRead,
  rowsetKey,
  rowsetReadKey,
} from './rows.ts';
import { bulkIngestRoute, IngestJobs } from './bulk-ingest.ts';
import { handleSoap } from './soap.ts';
import { handleToken, type TokenConfig } from './token.ts';
import type { McEmulator, McEmulatorOptions, McFault, McFaultScope } from './types.ts';
import { McErrorcode } from '../../core/errors.ts';

export type { DeDefinition, DeField } from './rows.ts';
export type { McChaos, McEmulator, McEmulatorOptions, McFault, McFaultScope, McStats, ReceivedEntry, ReceivedSend } from './types.ts';
export { SEND_CODES, MAX_RECIPIENTS, MAX_RECIPIENTS_WITH_ATTRIBUTES } from './sends.ts';
export { MAX_ASYNC_MEMBERS, EMULATOR_CODES } from './journey.ts';
export { INACTIVE_CONTACT_CODE, MEMBER_FAULT_CODE } from './state.ts';

/** Marketing Cloud's `expires_in` for a client-credentials token. */
export const DEFAULT_TOKEN_TTL_SEC = 1079;
// Marketing Cloud closes idle keep-alive connections after 5 s; clients must cope with that.
const KEEP_ALIVE_MS = 5000;

const NOT_AUTHORIZED: Reply = { status: 401, body: { errorcode: 0, message: 'Not Authorized' } };

/** Starts an emulator and resolves once it listens. */
export async function startMcEmulator(opts: McEmulatorOptions): Promise<McEmulator> {
  const state = new McState({
    recordBodies: opts.recordBodies ?? true,
    tokenTtlSec: opts.tokenTtlSec ?? DEFAULT_TOKEN_TTL_SEC,
    eventDefinitionKeys: opts.eventDefinitionKeys,
    sendDefinitionKeys: opts.sendDefinitionKeys,
    scopes: opts.scopes,
    deleteMs: opts.deleteMs,
  });
  const tables = new DeTables(opts.recordBodies ?? true);
  for (const def of opts.dataExtensions ?? []) tables.definitions.set(def.key, def);
  const ingest = new IngestJobs();
  const host = opts.host ?? '127.0.0.1';
  const server = createServer({ keepAliveTimeout: KEEP_ALIVE_MS });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const authBaseUrl = `http://${urlHost}:${port}`;
  const tokenCfg: TokenConfig = {
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    accountId: opts.accountId,
    tokenTtlSec: opts.tokenTtlSec ?? DEFAULT_TOKEN_TTL_SEC,
    restBaseUrl: `${authBaseUrl}/`,
    // Like Marketing Cloud's: the host, to which clients add /Service.asmx.
    soapBaseUrl: `${authBaseUrl}/`,
  };

  // Members accepted per one-second window, when a rate limit is set (429 50100 past it).
  let rateLimit: number | undefined;
  let windowStart = 0;
  let windowUsed = 0;
  /** True when the request's members fit in this second's allowance (and takes them). */
  function withinRate(req: ParsedRequest, now: number): boolean {
    if (rateLimit === undefined) return true;
    let members = 1;
    if (req.path === '/interaction/v1/async/events') {
      const body = parseJson(req.text) as { members?: unknown } | undefined;
      members = Array.isArray(body?.members) ? body.members.length : 1;
    }
    if (now - windowStart >= 1000) {
      windowStart = now;
      windowUsed = 0;
    }
    if (windowUsed + members > rateLimit) return false;
    windowUsed += members;
    return true;
  }

  const emulator: McEmulator = {
    authBaseUrl,
    restBaseUrl: tokenCfg.restBaseUrl,
    received: (filter) =>
      state.entries.filter(
        (e) =>
          (filter?.contactKey === undefined || e.contactKey === filter.contactKey) &&
          (filter?.eventDefinitionKey === undefined || e.eventDefinitionKey === filter.eventDefinitionKey),
      ),
    stats: () => state.stats(),
    sends: (filter) =>
      state.sends.filter(
        (e) =>
          (filter?.contactKey === undefined || e.contactKey === filter.contactKey) &&
          (filter?.definitionKey === undefined || e.definitionKey === filter.definitionKey) &&
          (filter?.messageKey === undefined || e.messageKey === filter.messageKey),
      ),
    sendCounts: () => new Map(state.sendCounts),
    messageKeyRequests: () =>
      new Map([...state.messageKeyRequests].map(([key, v]) => [key, { requests: v.requests, recipients: [...v.recipients] }])),
    setDefinitionStatus: (key, status) => {
      state.definitionStatus.set(key, status);
    },
    deletions: (now = Date.now()) => state.deletions.map((d) => state.deletionStatus(d.operationID, now)!),
    setChaos: (chaos) => state.setChaos(chaos),
    expireTokens: () => state.expireTokens(),
    injectFault: (fault: McFault) => state.addFault(fault),
    setInactiveContacts: (keys) => {
      state.inactive = new Set(keys);
    },
    setRateLimit: (perSecond) => {
      rateLimit = perSecond === undefined || perSecond <= 0 ? undefined : perSecond;
    },
    reset: () => {
      state.reset();
      tables.reset();
      ingest.reset();
    },
    defineDataExtension: (def) => {
      tables.definitions.set(def.key, def);
    },
    rows: (key) => [...(tables.rows.get(key)?.values() ?? [])].filter((r): r is Record<string, unknown> => r !== true),
    row: (key, primaryKey) => {
      const r = tables.rows.get(key)?.get(primaryKey);
      return r === true ? undefined : r;
    },
    rowWrites: (key) => new Map(tables.writes.get(key) ?? []),
    setAsyncDelay: (ms) => {
      tables.asyncDelayMs = Math.max(0, ms);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) send(res, mcError(500, 0, `Emulator error: ${(err as Error).message}`));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitTarget(req.url ?? '/');
    const text = await readBody(req);
    const parsed: ParsedRequest = { method: req.method ?? 'GET', path, query, headers: req.headers, text };
    if (path.startsWith('/_emulator/')) {
      // No auth on the control API, so it only answers the machine it runs on.
      if (!isLoopback(req.socket.remoteAddress)) return send(res, { status: 403, body: { error: 'control API is loopback only' } });
      return send(res, handleControl(emulator, parsed));
    }
    if (path === '/Service.asmx' && parsed.method === 'POST') {
      state.counters.requests++;
      const reply = handleSoap(tables, parsed, (token) => state.tokenValid(token, Date.now()));
      res.writeHead(reply.status, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(reply.xml) });
      res.end(reply.xml);
      return;
    }
    if (path === '/v2/token') {
      return serve(req, res, 'token', () => handleToken(state, tokenCfg, parsed, Date.now()));
    }
    const route = journeyRoute(parsed);
    if (!route) return send(res, mcError(404, 0, `No resource at ${parsed.method} ${path}.`));
    // Definition lookups are counted and faulted apart, so a test's faults meant for deliveries
    // are not taken by the bridge's target probe.
    const lookup = parsed.method === 'GET' && (eventDefinitionLookupKey(path) !== undefined || sendDefinitionLookupKey(path) !== undefined);
    if (lookup) state.counters.lookups++;
    else state.counters.requests++;
    return serve(req, res, lookup ? 'lookup' : 'rest', () => {
      const now = Date.now();
      if (!authorized(req, now)) {
        state.counters.unauthorized++;
        return NOT_AUTHORIZED;
      }
      const scope = requiredScope(parsed.method, parsed.path);
      if (scope !== undefined && !state.scopesOf(bearer(req)).has(scope)) return insufficientScope(scope);
      if (parsed.method === 'POST' && !withinRate(parsed, now)) {
        state.counters.faulted++;
        const after = Math.max(1, Math.ceil((windowStart + 1000 - now) / 1000));
        return { ...mcError(429, McErrorcode.rateLimited, 'Rate limit exceeded.', { retryAfter: after }), headers: { 'retry-after': String(after) } };
      }
      return route(now);
    });
  }

  /** Applies the next pending fault for this scope, then answers (or not) with `route`. */
  async function serve(req: IncomingMessage, res: ServerResponse, scope: Exclude<McFaultScope, 'any'>, route: () => Reply): Promise<void> {
    const fault = state.takeFault(scope) ?? (scope === 'rest' ? state.chaosFault() : undefined);
    if (fault?.kind === 'delay') await sleep(fault.ms);
    if (fault?.kind === 'reset' && (fault.when ?? 'before') === 'before') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') return send(res, faultReply(fault));
    const reply = route();
    if (fault?.kind === 'reset') {
      // `after`: the work is done and recorded, only the answer is lost (the ambiguous case).
      req.socket.destroy();
      return;
    }
    send(res, reply);
  }

  function authorized(req: IncomingMessage, now: number): boolean {
    const token = bearer(req);
    return token !== '' && state.tokenValid(token, now);
  }

  function bearer(req: IncomingMessage): string {
    const header = req.headers.authorization;
    if (!header || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return '';
    return header.slice(7).trim();
  }

  function journeyRoute(req: ParsedRequest): ((now: number) => Reply) | undefined {
    // Paths are matched with their case: the client must not change it (FuelSDK-Node-REST#98).
    if (req.method === 'POST' && req.path === '/interaction/v1/async/events') return (now) => handleAsync(state, req, now);
    if (req.method === 'POST' && req.path === '/interaction/v1/events') return (now) => handleSingle(state, req, now);
    if (req.method === 'GET' && req.path === '/interaction/v1/async/events/status') return () => handleStatus(state, req);
    const rowsKey = asyncRowsKey(req.path);
    if (rowsKey !== undefined && (req.method === 'PUT' || req.method === 'POST')) return (now) => handleAsyncRows(state, tables, req, rowsKey, now);
    const asyncRequest = asyncRequestPath(req.path);
    if (asyncRequest !== undefined && req.method === 'GET')
      return (now) => handleAsyncRequest(state, tables, req, asyncRequest[0], asyncRequest[1], now);
    const ingestRoute = bulkIngestRoute(state, tables, ingest, req);
    if (ingestRoute) return ingestRoute;
    const readKey = rowsetReadKey(req.path);
    if (readKey !== undefined && req.method === 'GET') return () => handleRowsetRead(tables, req, readKey);
    const setKey = rowsetKey(req.path);
    if (setKey !== undefined && req.method === 'POST') return () => handleRowset(state, tables, req, setKey);
    if (req.method === 'GET') {
      const eventKey = eventDefinitionLookupKey(req.path);
      if (eventKey !== undefined) return () => handleEventDefinition(state, eventKey);
      const definitionKey = sendDefinitionLookupKey(req.path);
      if (definitionKey !== undefined) return () => handleSendDefinition(state, definitionKey);
      if (req.path === CONTACT_DELETE_STATUS_PATH) return (now) => handleContactDeleteStatus(state, req, now);
      return undefined;
    }
    if (req.method !== 'POST') return undefined;
    if (req.path === CONTACT_DELETE_PATH) return (now) => handleContactDelete(state, req, now);
    if (req.path === '/messaging/v1/email/messages') return (now) => handleTransactionalBatch(state, req, now);
    const messageKey = transactionalMessageKey(req.path);
    if (messageKey !== undefined) return (now) => handleTransactionalSingle(state, req, messageKey, now);
    const sendKey = triggeredSendKey(req.path);
    if (sendKey !== undefined) return (now) => handleTriggeredSend(state, req, sendKey, now);
    return undefined;
  }

  return emulator;
}

/** The reply for an injected status fault, shaped like Marketing Cloud's. */
function faultReply(fault: Extract<McFault, { kind: 'status' }>): Reply {
  if (fault.status === 401) return NOT_AUTHORIZED;
  if (fault.status === 429) {
    const errorcode = fault.errorcode ?? McErrorcode.rateLimited;
    // 50100 (rate limit) says when to come back; 50200 (temporarily blocked) does not.
    if (errorcode === McErrorcode.temporarilyBlocked) return mcError(429, errorcode, fault.message ?? 'Temporarily blocked.');
    const after = fault.retryAfterSec ?? 1;
    return {
      ...mcError(429, errorcode, fault.message ?? 'Rate limit exceeded.', { retryAfter: after }),
      headers: { 'retry-after': String(after) },
    };
  }
  const reply = mcError(fault.status, fault.errorcode ?? 0, fault.message ?? `Injected ${fault.status}.`);
  if (fault.retryAfterSec !== undefined) reply.headers = { 'retry-after': String(fault.retryAfterSec) };
  return reply;
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}
