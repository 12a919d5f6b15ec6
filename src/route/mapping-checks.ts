/**
 * Checks shared by the mappers that build sends and entries from event fields: an e-mail
 * address, a JSON object field, and a payload size cap. Each returns the value or a
 * `MappingError` naming the field and the bad value, so the event is dead-lettered with a
 * reason an admin can act on and the stream goes on.
 */
import { MappingError, Code } from '../core/errors.ts';

/**
 * Largest JSON payload (entry data or attributes) one action may carry. Transactional batches
 * hold up to 500 recipients per request and Platform Event text fields hold up to 131,072
 * characters; 32 KiB per recipient keeps a full batch well inside a request Marketing Cloud takes.
 */
export const MAX_PAYLOAD_BYTES = 32 * 1024;

// Pragmatic, like Marketing Cloud's own check: one @, no spaces or quotes, a dot in the domain.
const EMAIL = /^[^\s@"(),:;<>[\\\]]+@[^\s@"(),:;<>[\\\]]+\.[^\s@"(),:;<>[\\\].]{2,}$/;

/** Where the error message says the value came from, e.g. `MC_Send__e 0035g00000XyZabAAF`. */
export interface FieldContext {
  field: string;
  where: string;
}

/** A trimmed e-mail address from `value`, or a MappingError naming the field and value. */
export function emailFrom(value: unknown, ctx: FieldContext): string | MappingError {
  if (value === undefined || value === null || value === '') {
    return new MappingError(Code.MAPPING_MISSING_FIELD, ctx.field, `${ctx.field} on ${ctx.where} is empty: an e-mail address is required`);
  }
  const text = typeof value === 'string' ? value.trim() : '';
  if (text.length > 254 || !EMAIL.test(text)) {
    return new MappingError(
      Code.MAPPING_BAD_VALUE,
      ctx.field,
      `${ctx.field} on ${ctx.where} is not an e-mail address: ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  }
  return text;
}

/** A JSON object from a text field (blank = `{}`), or a MappingError naming the field and value. */
export function jsonObjectFrom(value: unknown, ctx: FieldContext): Record<string, unknown> | MappingError {
  if (value === undefined || value === null || value === '') return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      return new MappingError(
        Code.MAPPING_BAD_VALUE,
        ctx.field,
        `${ctx.field} on ${ctx.where} is not valid JSON (${(err as Error).message}): ${value.slice(0, 60)}`,
      );
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return new MappingError(
      Code.MAPPING_BAD_VALUE,
      ctx.field,
      `${ctx.field} on ${ctx.where} must be a JSON object, got ${JSON.stringify(parsed)?.slice(0, 60)}`,
    );
  }
  return parsed as Record<string, unknown>;
}

/** Characters of the longest JSON number (`-1.2345678901234567e-308`), and then some. */
const MAX_NUMBER_CHARS = 25;

/**
 * True when `value`'s JSON surely fits in `limit` bytes, told without serializing it: a flat
 * plain object of text, numbers, booleans and nulls is bounded by 6 bytes per UTF-16 unit of
 * its names and texts (an escape `\u001f` is 6, a UTF-8 character at most 3 per unit). False
 * means "not sure": anything else (nesting, arrays, `toJSON`) is for the exact count.
 */
export function surelyFits(value: unknown, limit = MAX_PAYLOAD_BYTES): boolean {
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  const record = value as Record<string, unknown>;
  let bytes = 2;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) return false;
    const v = record[key];
    bytes += 6 * key.length + 4;
    if (typeof v === 'string') bytes += 6 * v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) bytes += MAX_NUMBER_CHARS;
    else if (v !== undefined) return false;
    if (bytes > limit) return false;
  }
  return true;
}

/** `undefined` when `value` serializes within `MAX_PAYLOAD_BYTES`, else a MappingError naming the field and size. */
export function sizeProblem(value: unknown, ctx: FieldContext, limit = MAX_PAYLOAD_BYTES): MappingError | undefined {
  // Serialized only when the bound cannot tell: the payload is serialized again when stored.
  if (surelyFits(value, limit)) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes <= limit) return undefined;
  return new MappingError(
    Code.MAPPING_TOO_LARGE,
    ctx.field,
    `${ctx.field} on ${ctx.where} is ${bytes} bytes as JSON, more than the ${limit} bytes one Marketing Cloud action may carry`,
  );
}

/** A text key from a field: trimmed, `undefined` when blank, a MappingError when not text or too long. */
export function keyFrom(value: unknown, ctx: FieldContext, maxLength = 200): string | undefined | MappingError {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    return new MappingError(
      Code.MAPPING_BAD_VALUE,
      ctx.field,
      `${ctx.field} on ${ctx.where} must be text, got ${JSON.stringify(value)?.slice(0, 60)}`,
    );
  const text = value.trim();
  if (text === '') return undefined;
  if (text.length > maxLength)
    return new MappingError(
      Code.MAPPING_BAD_VALUE,
      ctx.field,
      `${ctx.field} on ${ctx.where} is ${text.length} characters, at most ${maxLength} allowed: ${text.slice(0, 60)}...`,
    );
  return text;
}
