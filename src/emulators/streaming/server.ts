/**
 * The emulator's HTTP front: `/cometd/<version>` (Bayeux over long-polling, JSON bodies of at
 * most 32,768 bytes) and the loopback-only control API under `/_emulator/`. Everything
 * Bayeux-specific lives in the engine; this file only turns HTTP into `Exchange`s.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { BayeuxEngine, Exchange } from './bayeux.ts';
import type { RestReply, RestRequest } from './rest.ts';

/** Salesforce refuses a Streaming API request body above this size with HTTP 413. */
export const MAX_BODY_BYTES = 32_768;
/** Control requests may carry bigger payloads (a large platform event, a long raw message). */
const MAX_CONTROL_BODY_BYTES = 16 * 1024 * 1024;

/** Answer of a control request. */
export interface ControlReply {
  status: number;
  body: unknown;
}

/** What the HTTP front dispatches to. */
export interface ServerTargets {
  engine: BayeuxEngine;
  apiVersion: string;
  control(method: string, path: string, body: string): ControlReply;
  /** The REST API and token endpoint under `/services/`. */
  rest(req: RestRequest): RestReply;
}

/** Creates (but does not start) the HTTP server. */
export function createStreamingServer(targets: ServerTargets): Server {
  const server = createServer((req, res) => {
    try {
      route(targets, req, res);
    } catch (err) {
      sendText(res, 500, `emulator error: ${(err as Error).message}`);
    }
  });
  // Held connects last up to advice.timeout; Node must not cut them short.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;
  return server;
}

function route(targets: ServerTargets, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path.startsWith('/_emulator/')) {
    if (!isLoopback(req.socket.remoteAddress)) return sendText(res, 403, 'the control API answers loopback clients only');
    return readBody(req, res, MAX_CONTROL_BODY_BYTES, (body) => {
      const reply = targets.control(req.method ?? 'GET', path, body);
      sendJson(res, reply.status, reply.body);
    });
  }
  if (path.startsWith('/services/') || path === '/services') {
    return readBody(req, res, MAX_CONTROL_BODY_BYTES, (body) => {
      const target = req.url ?? '/';
      const q = target.indexOf('?');
      const reply = targets.rest({
        method: req.method ?? 'GET',
        path,
        query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
        authorization: req.headers.authorization,
        body,
      });
      // Bulk API results are CSV with their own headers (Sforce-Locator); everything else is JSON.
      if (reply.text !== undefined || reply.status === 204) {
        const text = reply.text ?? '';
        res.writeHead(reply.status, { 'Content-Type': 'text/plain;charset=UTF-8', ...reply.headers, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      sendJson(res, reply.status, reply.body);
    });
  }
  const match = /^\/cometd(?:\/([^/]*))?(?:\/.*)?$/.exec(path);
  if (!match) return sendText(res, 404, `no route ${path}`);
  const uriFormat = `URI format: '/cometd/${targets.apiVersion}'`;
  const version = match[1];
  if (!version) return sendText(res, 400, `400::API version in the URI is mandatory. ${uriFormat}`);
  if (!/^\d+\.\d$/.test(version) || Number(version) < 37) {
    return sendText(res, 400, `400::Unsupported API version. Only API versions '37.0' and later are supported. ${uriFormat}`);
  }
  if (req.method !== 'POST') return sendText(res, 405, 'Bayeux long-polling requests are POSTs');
  if (!/json/i.test(req.headers['content-type'] ?? '')) return sendText(res, 415, 'Content-Type must be application/json');
  readBody(req, res, MAX_BODY_BYTES, (body) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return sendText(res, 400, 'request body is not JSON');
    }
    targets.engine.process(new HttpExchange(req, res), Array.isArray(parsed) ? parsed : [parsed]);
  });
}

/** Reads the body as UTF-8; answers 413 (and reads no further) past `limit` bytes. */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number, done: (body: string) => void): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return tooLarge(req, res, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > limit) {
      over = true;
      tooLarge(req, res, limit);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!over) done(Buffer.concat(chunks, size).toString('utf8'));
  });
  req.on('error', () => undefined);
}

function tooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  res.setHeader('Connection', 'close');
  sendText(res, 413, `request body exceeds ${limit} bytes`);
  req.resume(); // discard the rest so the client can read the answer
}

/** One Bayeux request/response pair. */
class HttpExchange implements Exchange {
  readonly token: string | undefined;
  readonly cookies: ReadonlyMap<string, string>;
  readonly #res: ServerResponse;
  readonly #setCookies: string[] = [];
  #done = false;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.#res = res;
    this.token = parseAuthorization(req.headers.authorization);
    this.cookies = parseCookies(req.headers.cookie);
  }

  setCookie(cookie: string): void {
    this.#setCookies.push(cookie);
  }

  reply(parts: string[]): void {
    if (this.#done) return;
    this.#done = true;
    const res = this.#res;
    if (res.destroyed) return;
    const body = '[' + parts.join(',') + ']';
    const headers: Record<string, string | number | string[]> = {
      'Content-Type': 'application/json;charset=UTF-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-cache, no-store',
    };
    if (this.#setCookies.length > 0) headers['Set-Cookie'] = this.#setCookies;
    res.writeHead(200, headers);
    res.end(body);
  }

  drop(): void {
    this.#done = true;
    this.#res.socket?.destroy();
  }

  onAbort(cb: () => void): void {
    this.#res.on('close', () => {
      if (!this.#res.writableFinished) cb();
    });
  }
}

/** The token of `Bearer <t>` or `OAuth <t>`; undefined for anything else. */
export function parseAuthorization(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^(?:Bearer|OAuth)\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return out;
}

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
