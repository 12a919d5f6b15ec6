// Rule: every Salesforce ID becomes one canonical 18-character Contact Key, whatever form or case it arrived in, and an ID that is not one is refused with an InputError naming it.
import { checksumOf, idProblem, isValidId, keyPrefix, sameId, to18, tryTo18 } from '../src/normalize/ids.ts';
import { InputError, Code } from '../src/core/errors.ts';

/** The algorithm as docs/protocols.md §4 words it, written independently (bit strings, reversed). */
function referenceChecksum(id15: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
  let out = '';
  for (const chunk of [id15.slice(0, 5), id15.slice(5, 10), id15.slice(10, 15)]) {
    const bits = [...chunk]
      .map((c) => (/[A-Z]/.test(c) ? '1' : '0'))
      .reverse()
      .join('');
    out += alphabet[parseInt(bits, 2)];
  }
  return out;
}

/** Deterministic pseudo-random IDs (mulberry32), so a failure is reproducible. */
function* randomIds(count: number, seed = 42): Generator<string> {
  const chars = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let s = seed;
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < count; i++) {
    let id = '';
    for (let j = 0; j < 15; j++) id += chars[Math.floor(next() * chars.length)];
    yield id;
  }
}

describe('checksum', () => {
  // Hand-verified: each chunk's upper-case positions give bits 1, 2, 4, 8, 16.
  it.each([
    ['001D000000IqhSL', '001D000000IqhSLIAZ'], // Salesforce's documentation example: D at 3 → I; I,S,L at 0,3,4 → 25 → Z
    ['0055g00000AbCdE', '0055g00000AbCdEAAV'], // A,C,E at 0,2,4 → 21 → V (the commitUser in docs/protocols.md)
    ['0035g00000XyZab', '0035g00000XyZabAAF'], // X,Z at 0,2 → 5 → F
    ['00Q5g00000aBcDe', '00Q5g00000aBcDeEAK'], // Q at 2 → 4 → E; B,D at 1,3 → 10 → K
    ['001000000000001', '001000000000001AAA'], // no letters at all
    ['ABCDEABCDEABCDE', 'ABCDEABCDEABCDE555'], // all upper case → 31 → 5
  ])('%s → %s', (id15, id18) => {
    expect(to18(id15)).toBe(id18);
    expect(checksumOf(id15)).toBe(referenceChecksum(id15));
  });

  it('matches an independent implementation of the documented algorithm on 5,000 random IDs', () => {
    for (const id of randomIds(5000)) {
      expect(to18(id)).toBe(id + referenceChecksum(id));
      expect(to18(to18(id))).toBe(to18(id));
    }
  });
});

describe('to18 on 18-character IDs', () => {
  it('returns a valid canonical ID unchanged', () => {
    expect(to18('0035g00000XyZabAAF')).toBe('0035g00000XyZabAAF');
  });

  it('compares the suffix case-insensitively and returns it in upper case', () => {
    expect(to18('0035g00000XyZabaaf')).toBe('0035g00000XyZabAAF');
    expect(to18('001D000000IqhSLiaz')).toBe('001D000000IqhSLIAZ');
  });

  it('restores the case of a case-folded ID from its suffix, so every spelling is one Contact Key', () => {
    expect(to18('0035G00000XYZABAAF')).toBe('0035g00000XyZabAAF');
    expect(to18('0035g00000xyzabaaf')).toBe('0035g00000XyZabAAF');
    expect(to18('001d000000iqhsliaz')).toBe('001D000000IqhSLIAZ');
    for (const id of randomIds(500, 7)) {
      const canonical = to18(id);
      expect(to18(canonical.toLowerCase())).toBe(canonical);
      expect(to18(canonical.toUpperCase())).toBe(canonical);
    }
  });

  it('refuses a mixed-case ID whose suffix does not match (a suffix from another ID is not "repaired")', () => {
    // docs/protocols.md's sample recordId: XyZab needs AAF, it carries AAB.
    expect(() => to18('0035g00000XyZabAAB')).toThrow(/"0035g00000XyZabAAB" fails its checksum: "AAB".*expected "AAF"/);
    expect(isValidId('0035g00000xYZabAAF')).toBe(false);
  });

  it('refuses a suffix that marks a digit as an upper-case letter', () => {
    expect(isValidId('001000000000001AAB')).toBe(false);
    expect(isValidId('001000000000001aab')).toBe(false);
  });

  it('refuses suffix characters outside the checksum alphabet', () => {
    expect(isValidId('00100000000000169A')).toBe(false);
  });
});

describe('invalid input', () => {
  it.each([
    ['003', /is 3 characters long, expected 15 or 18/],
    ['0035g00000XyZa', /is 14 characters long/],
    ['0035g00000XyZab1', /is 16 characters long/],
    ['0035g00000XyZ-b', /has a character outside 0-9, A-Z, a-z/],
    ['', /is 0 characters long/],
  ])('%j is refused with an InputError naming the value', (value, message) => {
    expect(isValidId(value)).toBe(false);
    expect(tryTo18(value)).toBeUndefined();
    let error: unknown;
    try {
      to18(value);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe(Code.INVALID_ID);
    expect((error as InputError).message).toContain(JSON.stringify(value));
    expect((error as InputError).message).toMatch(message);
  });

  it('refuses values that are not strings without throwing from isValidId', () => {
    expect(isValidId(undefined)).toBe(false);
    expect(isValidId(35)).toBe(false);
    expect(idProblem(null)).toBe('expected a string, got null');
    expect(() => to18(42 as unknown as string)).toThrow(InputError);
  });
});

describe('keyPrefix and sameId', () => {
  it('gives the object key prefix of a 15- or 18-character ID in any case', () => {
    expect(keyPrefix('0035g00000XyZab')).toBe('003');
    expect(keyPrefix('00Q5g00000aBcDeEAK')).toBe('00Q');
    expect(keyPrefix('00q5g00000abcdeeak')).toBe('00Q');
    expect(() => keyPrefix('00Qx')).toThrow(InputError);
  });

  it('treats the 15- and 18-character forms of one record as the same ID', () => {
    expect(sameId('0035g00000XyZab', '0035G00000XYZABAAF')).toBe(true);
    expect(sameId('0035g00000XyZab', '0035g00000XyZac')).toBe(false);
    expect(sameId('bad', 'bad')).toBe(false);
  });
});
