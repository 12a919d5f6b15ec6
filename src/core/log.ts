/**
 * The logger: pino JSON lines on stdout (pretty on a terminal), tokens and secrets redacted
 * by key, e-mail addresses and phone numbers masked in every string unless allowed.
 */
import { pino, stdSerializers, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/** Logger options. */
export interface LogOptions {
  /** pino level. @default 'info' */
  level?: string;
  /** `auto` is pretty when stdout is a terminal. @default 'auto' */
  pretty?: boolean | 'auto';
  /** Show e-mail addresses and phone numbers as they are (debugging only). @default false */
  allowPersonalData?: boolean;
  /** Where lines go. @default stdout */
  destination?: NodeJS.WritableStream;
}

const SECRET_KEYS = [
  'accessToken',
  'access_token',
  'clientSecret',
  'client_secret',
  'refreshToken',
  'refresh_token',
  'authorization',
  'Authorization',
  'password',
  'privateKey',
  'token',
];
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}/g;
// Seven or more digits with optional + and separators, standing alone: a digit run inside a
// word (a Salesforce ID, a UUID, a hash) is not a phone number.
const PHONE = /(?<![\w-])\+?\(?\d[\d\s().-]{5,}\d(?![\w-])/g;
/** Fields that identify, never carry, personal data: left as they are so support can search them. */
const CORRELATION_KEYS = new Set([
  'correlationId',
  'adminCorrelationId',
  'channel',
  'replayId',
  'recordId',
  'contactKey',
  'route',
  'requestId',
  'eventInstanceId',
  'messageKey',
  'event',
  'code',
  'checkpoints',
]);

/** Masks e-mail addresses and phone numbers inside a string. */
export function maskPersonal(text: string): string {
  return text.replace(EMAIL, '$1***@***').replace(PHONE, (m) => (m.replace(/\D/g, '').length >= 7 ? '***phone***' : m));
}

/**
 * An error as support needs it: `type`, `message`, `stack`, `code`, any other own field, and its
 * `cause` serialized the same way. Done here rather than left to pino's `err` serializer because
 * the masking formatter runs first and would otherwise keep only the own enumerable fields.
 */
function serializeError(err: Error): Record<string, unknown> {
  const shown = stdSerializers.errWithCause(err) as unknown as Record<string, unknown>;
  return { ...shown }; // own enumerable copy: drops the non-enumerable `raw` back-reference
}

/**
 * Masks e-mail addresses and phone numbers in every string of a JSON-like value, at any depth,
 * leaving the correlation fields as they are: what the commands and the admin listener print
 * (dead letters' payloads, timelines) goes through this unless `log.allowPersonalData`.
 */
export function maskPersonalDeep<T>(value: T): T {
  return maskDeep(value, 0, 64) as T;
}

// The logger stops at depth 4: a log object deeper than that is not worth the time per line.
function maskDeep(value: unknown, depth: number, maxDepth = 4): unknown {
  if (typeof value === 'string') return maskPersonal(value);
  if (depth > maxDepth || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return maskDeep(serializeError(value), depth, maxDepth);
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth + 1, maxDepth));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = CORRELATION_KEYS.has(k) ? v : maskDeep(v, depth + 1, maxDepth);
  return out;
}

/** Creates the service logger. */
export function createLogger(options: LogOptions = {}): Logger {
  const allow = options.allowPersonalData ?? false;
  const usePretty = options.pretty === 'auto' || options.pretty === undefined ? Boolean(process.stdout.isTTY) : options.pretty;
  const stream =
    options.destination ?? (usePretty ? pretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }) : process.stdout);
  const pinoOptions: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: 'sfmc-bridge' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // With masking on, the formatter has already turned errors into plain objects: leave those be.
    serializers: { err: (e: unknown) => (e instanceof Error ? serializeError(e) : e) },
  };
  if (!allow) {
    pinoOptions.hooks = {
      logMethod(args, method) {
        // The message string can carry personal data too; mask it before formatting. Without a
        // message pino would take the error's own, unmasked: give it the masked one instead.
        const masked: unknown[] = args.map((a) => (typeof a === 'string' ? maskPersonal(a) : a));
        const err = masked[0] instanceof Error ? masked[0] : (masked[0] as { err?: unknown } | null)?.err;
        if (masked.length === 1 && err instanceof Error) masked.push(maskPersonal(err.message));
        method.apply(this, masked as Parameters<typeof method>);
      },
    };
    pinoOptions.formatters = { log: (obj) => maskDeep(obj, 0) as Record<string, unknown> };
  }
  return pino(pinoOptions, stream);
}
