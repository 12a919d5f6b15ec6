// Rule: every stable error code the bridge can write is documented for operators in docs/errors.md, and the table names no code the bridge does not have.
import { readFileSync } from 'node:fs';
import { allCodes, BridgeError, Code, FetchError, kindOf, requestClassOf } from '../src/core/errors.ts';

const TABLE = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

/** The codes in the first column of docs/errors.md's table. */
function documented(): string[] {
  return [...TABLE.matchAll(/^\| `([A-Z][A-Z0-9_]*\*?)` \|/gm)].map((m) => m[1]!);
}

test('docs/errors.md lists exactly the codes of the catalogue, once each (plus the SF_OAUTH_* family)', () => {
  const inDocs = documented();
  expect(new Set(inDocs).size).toBe(inDocs.length);
  expect(inDocs.filter((c) => c !== 'SF_OAUTH_*').sort()).toEqual([...allCodes()].sort());
  expect(inDocs).toContain('SF_OAUTH_*');
});

test('each documented code names the kind the catalogue gives it', () => {
  for (const m of TABLE.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| (\w+) \|/gm)) {
    const code = m[1] as Code;
    // The kind written in the table is the kind errors made with that code carry in the catalogue.
    expect({ code, kind: m[2] }).toEqual({ code, kind: kindOf(code) });
  }
});

test("a failed fetch from Salesforce is a BridgeError with a stable code, keeping Salesforce's own", () => {
  const err = new FetchError('INVALID_FIELD', 'fetch Contact: no such column', true);
  expect(err).toBeInstanceOf(BridgeError);
  expect(err).toMatchObject({ code: 'ENRICH_FETCH_FAILED', kind: 'permanent', salesforceCode: 'INVALID_FIELD' });
  expect(new FetchError('REQUEST_LIMIT_EXCEEDED', 'later', false).kind).toBe('transient');
});

test('metrics classes of Marketing Cloud request failures come from the catalogue', () => {
  expect(requestClassOf(Code.MC_RATE_LIMITED)).toBe('429');
  expect(requestClassOf(Code.MC_MEMBER_REJECTED)).toBe('member');
  expect(requestClassOf('SOMETHING_ELSE')).toBe('other');
});
