/**
 * The emulator's control API under `/_emulator/`, for tests and tools in other processes:
 * the same operations as the in-process `McEmulator` object, over loopback HTTP, no auth.
 *
 *   GET  /_emulator/received?contactKey=&eventDefinitionKey=   → ReceivedEntry[]
 *   GET  /_emulator/stats                                      → McStats
 *   POST /_emulator/fault            McFault                   → {ok: true}
 *   POST /_emulator/expire-tokens                              → {ok: true}
 *   POST /_emulator/inactive         {contactKeys: string[]}   → {ok: true}
 *   POST /_emulator/reset                                      → {ok: true}
 *   GET  /_emulator/sends?contactKey=&definitionKey=&messageKey= → ReceivedSend[]
 *   GET  /_emulator/send-counts                                → {keys, accepted, repeated: [messageKey, count][]}
 *   POST /_emulator/definition       {key, status}             → {ok: true}   (status: active | paused | deleted)
 *   GET  /_emulator/deletions                                  → contact deletion operations with their status
 *   POST /_emulator/chaos            McChaos | {}              → {ok: true}   ({} turns chaos off)
 *   POST /_emulator/rate-limit       {perSecond: number|null}  → {ok: true}
 *   GET  /_emulator/row-writes?key=                              → {rows, writes, rewritten} (a data extension's rows, exactly-once view)
 */
import type { McEmulator, McFault } from './types.ts';
import { isRecord, parseJson, type ParsedRequest, type Reply } from './http.ts';

type Controls = Omit<McEmulator, 'close' | 'authBaseUrl' | 'restBaseUrl'>;

const OK: Reply = { status: 200, body: { ok: true } };

/** Handles one control request; `path` starts with `/_emulator/`. */
export function handleControl(emu: Controls, req: ParsedRequest): Reply {
  const route = `${req.method} ${req.path}`;
  switch (route) {
    case 'GET /_emulator/received': {
      const filter: { contactKey?: string; eventDefinitionKey?: string } = {};
      const contactKey = req.query.get('contactKey');
      const key = req.query.get('eventDefinitionKey');
      if (contactKey !== null) filter.contactKey = contactKey;
      if (key !== null) filter.eventDefinitionKey = key;
      return { status: 200, body: emu.received(filter) };
    }
    case 'GET /_emulator/row-writes': {
      const counts = [...emu.rowWrites(req.query.get('key') ?? '').values()];
      return { status: 200, body: { rows: counts.length, writes: counts.reduce((a, b) => a + b, 0), rewritten: counts.filter((n) => n > 1).length } };
    }
    case 'GET /_emulator/stats':
      return { status: 200, body: emu.stats() };
    case 'POST /_emulator/fault': {
      const fault = parseFault(parseJson(req.text));
      if (typeof fault === 'string') return { status: 400, body: { error: fault } };
      emu.injectFault(fault);
      return OK;
    }
    case 'POST /_emulator/expire-tokens':
      emu.expireTokens();
      return OK;
    case 'POST /_emulator/inactive': {
      const body = parseJson(req.text);
      const keys = isRecord(body) ? body.contactKeys : undefined;
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
        return { status: 400, body: { error: 'contactKeys must be an array of strings' } };
      }
      emu.setInactiveContacts(keys as string[]);
      return OK;
    }
    case 'GET /_emulator/sends': {
      const filter: { contactKey?: string; definitionKey?: string; messageKey?: string } = {};
      for (const k of ['contactKey', 'definitionKey', 'messageKey'] as const) {
        const v = req.query.get(k);
        if (v !== null) filter[k] = v;
      }
      return { status: 200, body: emu.sends(filter) };
    }
    case 'GET /_emulator/send-counts': {
      const counts = emu.sendCounts();
      let accepted = 0;
      const repeated: [string, number][] = [];
      for (const [k, n] of counts) {
        accepted += n;
        if (n > 1) repeated.push([k, n]);
      }
      return { status: 200, body: { keys: counts.size, accepted, repeated } };
    }
    case 'POST /_emulator/definition': {
      const body = parseJson(req.text);
      if (!isRecord(body) || typeof body.key !== 'string' || (body.status !== 'active' && body.status !== 'paused' && body.status !== 'deleted')) {
        return { status: 400, body: { error: 'expected {key: string, status: "active" | "paused" | "deleted"}' } };
      }
      emu.setDefinitionStatus(body.key, body.status);
      return OK;
    }
    case 'GET /_emulator/deletions':
      return { status: 200, body: emu.deletions() };
    case 'POST /_emulator/chaos': {
      const body = parseJson(req.text);
      if (!isRecord(body)) return { status: 400, body: { error: 'chaos must be a JSON object' } };
      for (const [k, v] of Object.entries(body)) {
        if (typeof v !== 'number' || v < 0 || ((k.endsWith('Rate') || k === 'blockedShare') && v > 1))
          return { status: 400, body: { error: `${k} must be a non-negative number (rates at most 1)` } };
      }
      emu.setChaos(Object.keys(body).length === 0 ? undefined : body);
      return OK;
    }
    case 'POST /_emulator/rate-limit': {
      const body = parseJson(req.text);
      const perSecond = isRecord(body) ? body.perSecond : undefined;
      if (perSecond !== null && (typeof perSecond !== 'number' || !(perSecond > 0))) {
        return { status: 400, body: { error: 'perSecond must be a positive number, or null to lift the limit' } };
      }
      emu.setRateLimit(perSecond ?? undefined);
      return OK;
    }
    case 'POST /_emulator/reset':
      emu.reset();
      return OK;
    default:
      return { status: 404, body: { error: `no control route ${route}` } };
  }
}

/** Checks a fault sent over HTTP; returns the reason when it is not one. */
export function parseFault(value: unknown): McFault | string {
  if (!isRecord(value)) return 'a fault must be a JSON object';
  const count = value.count;
  if (count !== undefined && (typeof count !== 'number' || count < 1)) return 'count must be a positive number';
  switch (value.kind) {
    case 'status':
      if (typeof value.status !== 'number' || value.status < 100 || value.status > 599) return 'status must be an HTTP status code';
      return value as McFault;
    case 'reset':
      if (value.when !== undefined && value.when !== 'before' && value.when !== 'after') return 'when must be before or after';
      return value as McFault;
    case 'delay':
      if (typeof value.ms !== 'number' || value.ms < 0) return 'ms must be a non-negative number';
      return value as McFault;
    case 'member':
      if (!Array.isArray(value.contactKeys) || !value.contactKeys.every((k) => typeof k === 'string')) {
        return 'contactKeys must be an array of strings';
      }
      return value as McFault;
    default:
      return 'kind must be status, reset, delay or member';
  }
}
