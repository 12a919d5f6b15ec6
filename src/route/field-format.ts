/**
 * Formats mapped values for data extension columns (Text, Number, Decimal, Date, Boolean,
 * EmailAddress, Phone), so Marketing Cloud gets a value its column takes instead of rejecting
 * the row later, asynchronously, where the reason is harder to see. A value that cannot be
 * formatted is a `MappingError` naming the column, the event field and the value: the event is
 * dead-lettered before anything is sent and the stream goes on.
 */
import { Code, MappingError, showValue } from '../core/errors.ts';
import type { DeFieldType } from '../config/schema.ts';
import { emailFrom, type FieldContext } from './mapping-checks.ts';

/** A value a data extension row carries; null clears the column. */
export type ColumnValue = string | number | boolean | null;

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
// Digits with the punctuation people type; at least 7 and at most 15 digits (E.164).
const PHONE = /^\+?[\d\s().-]+$/;
const TRUE = new Set(['true', '1', 'yes', 'y']);
const FALSE = new Set(['false', '0', 'no', 'n']);

function bad(ctx: FieldContext, type: DeFieldType, value: unknown, why = ''): MappingError {
  return new MappingError(
    Code.MAPPING_BAD_VALUE,
    ctx.field,
    `${ctx.field} on ${ctx.where}: ${showValue(value)} is not a ${type} value${why ? ` (${why})` : ''}`,
  );
}

/** `value` formatted for a column of `type`, or a MappingError naming the column and value. */
export function formatColumn(type: DeFieldType, value: unknown, ctx: FieldContext): ColumnValue | MappingError {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'Text':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return bad(ctx, type, value, 'an object or list has no text form');
    case 'Number': {
      const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
      if (text === '' && value === '') return null;
      if (!INTEGER.test(text)) return bad(ctx, type, value, 'a whole number is expected');
      const n = Number(text);
      // Data extension Number columns are 32-bit integers.
      if (n > 2_147_483_647 || n < -2_147_483_648) return bad(ctx, type, value, 'outside the 32-bit range of a Number column');
      return n;
    }
    case 'Decimal': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : bad(ctx, type, value);
      const text = typeof value === 'string' ? value.trim() : '';
      if (text === '' && value === '') return null;
      return DECIMAL.test(text) ? Number(text) : bad(ctx, type, value, 'a decimal number is expected');
    }
    case 'Date':
      return formatDate(value, ctx);
    case 'Boolean': {
      if (typeof value === 'boolean') return value;
      const text = String(value).trim().toLowerCase();
      if (TRUE.has(text)) return true;
      if (FALSE.has(text)) return false;
      if (text === '') return null;
      return bad(ctx, type, value, 'true or false is expected');
    }
    case 'EmailAddress': {
      if (value === '') return null;
      const email = emailFrom(value, ctx);
      return email;
    }
    case 'Phone': {
      if (value === '') return null;
      const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
      const digits = text.replace(/\D/g, '');
      if (!PHONE.test(text) || digits.length < 7 || digits.length > 15) return bad(ctx, type, value, '7 to 15 digits are expected');
      return `${text.startsWith('+') ? '+' : ''}${digits}`;
    }
  }
}

/** Dates: `YYYY-MM-DD` stays a date; a date-time or epoch milliseconds become ISO 8601 in UTC. */
function formatDate(value: unknown, ctx: FieldContext): ColumnValue | MappingError {
  if (value === '') return null;
  if (typeof value === 'string' && DATE_ONLY.test(value.trim())) {
    const text = value.trim();
    const d = new Date(`${text}T00:00:00Z`);
    return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text ? bad(ctx, 'Date', value, 'no such day') : text;
  }
  const ms =
    typeof value === 'number' ? value : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (!Number.isFinite(ms)) return bad(ctx, 'Date', value, 'an ISO 8601 date, date-time or epoch milliseconds is expected');
  return new Date(ms).toISOString();
}

/** The record's version in ms from a Salesforce date-time field (SystemModstamp), or undefined. */
export function versionOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value.replace(/\+0000$/, 'Z'));
  return Number.isFinite(ms) ? ms : undefined;
}
