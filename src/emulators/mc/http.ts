/**
 * The emulator's small HTTP helpers: read a body, describe an answer as data, write it. Routes
 * return a `Reply` instead of writing, so a fault can still decide to drop the answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An answer a route wants to give. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A parsed request: method, path (case kept), query and the body text. */
export interface ParsedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  text: string;
}

// Marketing Cloud refuses large payloads long before this; the cap only protects the emulator.
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Reads the whole request body as UTF-8 text (rejects bodies over 8 MiB). */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Splits the request target into path (case kept) and query. */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  if (q < 0) return { path: target, query: new URLSearchParams() };
  return { path: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
}

/** Parses a JSON body; undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Writes a reply as JSON. */
export function send(res: ServerResponse, reply: Reply): void {
  const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
  const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(payload) };
  if (payload) headers['content-type'] = 'application/json; charset=utf-8';
  if (reply.headers) Object.assign(headers, reply.headers);
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** Marketing Cloud's REST error body. */
export function mcError(status: number, errorcode: number, message: string, extra?: Record<string, unknown>): Reply {
  return { status, body: { message, errorcode, documentation: '', ...extra } };
}

/** True when the body is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
