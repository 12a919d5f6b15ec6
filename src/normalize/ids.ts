/**
 * Salesforce record IDs: 15-character (case-sensitive) and 18-character (case-insensitive) forms.
 *
 * The 18-character form is the Contact Key, so every ID that reaches Marketing Cloud must come
 * out of `to18` in one canonical spelling, whatever case it arrived in: two spellings of one
 * ID would be two contacts, and Marketing Cloud cannot merge them later.
 *
 * Canonical form: the 15-character part in Salesforce's own case and the 3-character suffix in
 * upper case. An 18-character ID is accepted when
 *  - its first 15 characters produce its suffix (compared case-insensitively), or
 *  - its first 15 characters were case-folded (no lower-case letter at all, or no upper-case
 *    letter at all) and the suffix marks only letters as upper case: the suffix then restores
 *    the original case. This is what makes 18-character IDs case-insensitive (they survive
 *    spreadsheets and case-folding databases), and it yields the same Contact Key either way.
 * A mixed-case 15-character part that disagrees with its suffix is refused instead of being
 * "repaired": that is a suffix from another ID or an edited ID, and guessing would key the
 * change to a different record.
 *
 * The hot path (`tryTo18`) works on char codes: no regex, and no string built for an ID that
 * arrives canonical (the usual 18 characters), one for a 15-character ID.
 */
import { InputError, showValue, Code } from '../core/errors.ts';

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}
function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdChar(c: number): boolean {
  return isUpper(c) || isLower(c) || isDigit(c);
}

/** 0–31 for a suffix character (either case), -1 otherwise. */
function suffixValue(c: number): number {
  if (isUpper(c)) return c - 65;
  if (isLower(c)) return c - 97;
  if (c >= 48 && c <= 53) return c - 48 + 26;
  return -1;
}

/** The char code of checksum character `chunk` (0–2) of the ID's first 15 characters. */
function checksumCode(id: string, chunk: number): number {
  let bits = 0;
  for (let i = 0; i < 5; i++) {
    if (isUpper(id.charCodeAt(chunk * 5 + i))) bits |= 1 << i;
  }
  return SUFFIX_ALPHABET.charCodeAt(bits);
}

/** The 3-character checksum of a 15-character ID (its characters are assumed valid; more are ignored). */
export function checksumOf(id15: string): string {
  return String.fromCharCode(checksumCode(id15, 0), checksumCode(id15, 1), checksumCode(id15, 2));
}

function validChars(id: string, length: number): boolean {
  for (let i = 0; i < length; i++) {
    if (!isIdChar(id.charCodeAt(i))) return false;
  }
  return true;
}

/** Why `id` is not a Salesforce ID, or undefined when it is one. */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return `expected a string, got ${showValue(id)}`;
  if (id.length !== 15 && id.length !== 18) {
    return `${showValue(id)} is ${id.length} characters long, expected 15 or 18`;
  }
  if (!validChars(id, id.length)) return `${showValue(id)} has a character outside 0-9, A-Z, a-z`;
  if (id.length === 18 && tryTo18(id) === undefined) {
    return `${showValue(id)} fails its checksum: "${id.slice(15)}" does not match the first 15 characters (expected "${checksumOf(id)}")`;
  }
  return undefined;
}

/**
 * The canonical 18-character form of `id`, or undefined when it is not a valid ID.
 * Never throws: this is the per-event path.
 */
export function tryTo18(id: string): string | undefined {
  if (id.length === 15) return validChars(id, 15) ? id + checksumOf(id) : undefined;
  if (id.length !== 18 || !validChars(id, 18)) return undefined;
  let exact = true;
  let lowerSuffix = false;
  for (let i = 0; i < 3; i++) {
    const c = id.charCodeAt(15 + i);
    if (suffixValue(c) < 0) return undefined;
    const expected = checksumCode(id, i);
    if (c !== expected) {
      // Compare case-insensitively: only letters have two cases in the suffix alphabet.
      if (!(isLower(c) && c - 32 === expected)) exact = false;
    }
    if (isLower(c)) lowerSuffix = true;
  }
  if (exact) return lowerSuffix ? id.slice(0, 15) + checksumOf(id) : id;
  return restoreCase(id);
}

/** Rebuilds the case of a case-folded 15-character part from its suffix (see file comment). */
function restoreCase(id: string): string | undefined {
  let hasUpper = false;
  let hasLower = false;
  for (let i = 0; i < 15; i++) {
    const c = id.charCodeAt(i);
    if (isUpper(c)) hasUpper = true;
    else if (isLower(c)) hasLower = true;
  }
  if (hasUpper && hasLower) return undefined;
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    const bits = suffixValue(id.charCodeAt(15 + chunk));
    for (let i = 0; i < 5; i++) {
      const c = id.charCodeAt(chunk * 5 + i);
      const upper = (bits & (1 << i)) !== 0;
      if (isDigit(c)) {
        if (upper) return undefined; // the suffix claims an upper-case letter where there is a digit
        out += id[chunk * 5 + i];
      } else {
        const lower = isUpper(c) ? c + 32 : c;
        out += String.fromCharCode(upper ? lower - 32 : lower);
      }
    }
  }
  return out + id.slice(15).toUpperCase();
}

/**
 * The canonical 18-character form of a 15- or 18-character ID.
 * @throws InputError (`INVALID_ID`) naming the value.
 */
export function to18(id: string): string {
  const canonical = typeof id === 'string' ? tryTo18(id) : undefined;
  if (canonical === undefined) {
    throw new InputError(Code.INVALID_ID, 'id', `invalid Salesforce ID: ${idProblem(id) ?? showValue(id)}`);
  }
  return canonical;
}

/** True for a valid 15-character ID or an 18-character ID that passes `to18`. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && tryTo18(id) !== undefined;
}

/**
 * The 3-character key prefix naming the object type (`003` Contact, `00Q` Lead, `001` Account).
 * @throws InputError (`INVALID_ID`) when `id` is not a valid ID.
 */
export function keyPrefix(id: string): string {
  return to18(id).slice(0, 3);
}

/** True when two IDs (15 or 18 characters, any case an 18 allows) name the same record. */
export function sameId(a: string, b: string): boolean {
  const ca = tryTo18(a);
  return ca !== undefined && ca === tryTo18(b);
}
