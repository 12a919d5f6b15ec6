/**
 * The control API under `/_emulator/`, so a separate process (demo, benchmark, crash test) can
 * drive the emulator: the same operations as the in-process `StreamingEmulator`, over loopback
 * HTTP without auth. Bodies are checked with zod; a bad one gets 400 naming the field.
 *
 *   POST /_emulator/publish   {change} | {platformEvent: {name, payload}} | {raw: {channel, data}}
 *   POST /_emulator/generate  {count, updateRatio?, seed?, changeOrigin?}
 *   POST /_emulator/seed      {count, from?, modifiedAt?}   (Contact records, no events: a backfill's input)
 *   POST /_emulator/fault     FaultSpec
 *   POST /_emulator/token     {accessToken}
 *   POST /_emulator/expire    {beforeReplayId}
 *   GET  /_emulator/stats
 *   GET  /_emulator/rest-calls
 *   GET  /_emulator/published                           platform events published over REST
 *   POST /_emulator/publish-limit {perHour: n | null}   the hourly publishing allocation
 */
import { z } from 'zod';
import { CHANGE_TYPES } from '../../core/model.ts';
import type { ControlReply } from './server.ts';
import type { StreamingEmulator } from './types.ts';

type Controls = Omit<StreamingEmulator, 'url' | 'cometdUrl' | 'close'>;

const channelName = z.string().regex(/^\/\S+$/, 'a channel starts with /');

const changeSpec = z.strictObject({
  entityName: z.string().min(1),
  changeType: z.enum(CHANGE_TYPES),
  recordIds: z.array(z.string()),
  fields: z.record(z.string(), z.unknown()).optional(),
  changedFields: z.array(z.string()).optional(),
  transactionKey: z.string().min(1).optional(),
  sequenceNumber: z.number().int().optional(),
  changeOrigin: z.string().optional(),
  commitUser: z.string().optional(),
  commitTimestamp: z.number().int().optional(),
  // Text keeps values above 2^53 exact; a JSON number is accepted as given.
  commitNumber: z
    .union([z.string().regex(/^\d+$/), z.number().int().nonnegative()])
    .transform(String)
    .optional(),
  channels: z.array(channelName).optional(),
});

// One schema per kind rather than a union, so an error names the field instead of "Invalid input".
const publishChange = z.strictObject({ change: changeSpec });
const publishPlatformEvent = z.strictObject({
  platformEvent: z.strictObject({ name: z.string().min(1), payload: z.record(z.string(), z.unknown()) }),
});
const publishRaw = z.strictObject({ raw: z.strictObject({ channel: channelName, data: z.unknown() }) });

const seedBody = z.strictObject({
  count: z.number().int().positive().max(10_000_000),
  from: z.number().int().positive().optional(),
  modifiedAt: z.number().int().nonnegative().optional(),
});

const generateBody = z.strictObject({
  count: z.number().int().positive().max(10_000_000),
  updateRatio: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  changeOrigin: z.string().optional(),
});

const count = z.number().int().positive().optional();
const phase = z.enum(['handshake', 'connect', 'subscribe']);
const phases = z.union([phase, z.array(phase).min(1)]).optional();

const faultBody = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('connect-401'), count }),
  z.strictObject({ type: z.literal('handshake-denied'), count }),
  z.strictObject({ type: z.literal('unknown-client') }),
  z.strictObject({ type: z.literal('server-busy-503'), count, on: phases }),
  z.strictObject({ type: z.literal('daily-limit'), count }),
  z.strictObject({ type: z.literal('concurrent-limit'), count }),
  z.strictObject({ type: z.literal('stall'), durationMs: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal('drop-connection'), count, on: phases }),
  z.strictObject({ type: z.literal('hang-clients') }),
]);

const tokenBody = z.strictObject({ accessToken: z.string().min(1) });
const expireBody = z.strictObject({ beforeReplayId: z.number().int() });

const publishLimitBody = z.strictObject({ perHour: z.number().int().min(0).nullable() });

const OK: ControlReply = { status: 200, body: { ok: true } };

/** Handles one control request; `path` starts with `/_emulator/`. */
export function handleControl(emu: Controls, method: string, path: string, text: string): ControlReply {
  const route = `${method} ${path}`;
  if (route === 'GET /_emulator/stats') return { status: 200, body: emu.stats() };
  if (route === 'GET /_emulator/rest-calls') return { status: 200, body: emu.restCalls() };
  if (route === 'GET /_emulator/published') return { status: 200, body: emu.publishedOverRest() };
  if (method !== 'POST') return { status: 404, body: { error: `no control route ${route}` } };
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    return { status: 400, body: { error: 'body is not JSON' } };
  }
  switch (path) {
    case '/_emulator/publish': {
      const kind = typeof json === 'object' && json !== null ? Object.keys(json)[0] : undefined;
      if (kind === 'change') return parsed(publishChange, json, (b) => emu.publishChange(b.change));
      if (kind === 'platformEvent') {
        return parsed(publishPlatformEvent, json, (b) => emu.publishPlatformEvent(b.platformEvent.name, b.platformEvent.payload));
      }
      if (kind === 'raw') return parsed(publishRaw, json, (b) => emu.publishRaw(b.raw.channel, b.raw.data));
      return { status: 400, body: { error: 'expected {change}, {platformEvent: {name, payload}} or {raw: {channel, data}}' } };
    }
    case '/_emulator/seed':
      return parsed(seedBody, json, ({ count: n, ...opts }) => emu.seedContacts(n, opts));
    case '/_emulator/generate':
      return parsed(generateBody, json, ({ count: n, ...opts }) => emu.generateContactChanges(n, opts));
    case '/_emulator/fault':
      return parsed(faultBody, json, (fault) => {
        emu.injectFault(fault);
        return OK.body;
      });
    case '/_emulator/token':
      return parsed(tokenBody, json, (body) => {
        emu.setAccessToken(body.accessToken);
        return OK.body;
      });
    case '/_emulator/publish-limit':
      return parsed(publishLimitBody, json, (body) => {
        emu.setPublishLimit(body.perHour ?? undefined);
        return OK.body;
      });
    case '/_emulator/expire':
      return parsed(expireBody, json, (body) => {
        emu.expireRetention(body.beforeReplayId);
        return OK.body;
      });
    default:
      return { status: 404, body: { error: `no control route ${route}` } };
  }
}

/** Runs `action` on a valid body; a 400 naming the bad field otherwise. */
function parsed<T>(schema: z.ZodType<T>, json: unknown, action: (value: T) => unknown): ControlReply {
  const result = schema.safeParse(json);
  if (!result.success) return { status: 400, body: { error: z.prettifyError(result.error) } };
  return { status: 200, body: action(result.data) };
}
