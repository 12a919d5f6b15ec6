import { Writable } from 'node:stream';
import { createLogger, maskPersonal } from '../src/core/log.ts';

function capture(allowPersonalData = false): { lines: () => Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  let text = '';
  const destination = new Writable({ write(chunk, _enc, cb) { text += chunk.toString(); cb(); } });
  const logger = createLogger({ level: 'debug', pretty: false, allowPersonalData, destination });
  return { logger, lines: () => text.trim().split('\n').map((l) => JSON.parse(l)) };
}

test('e-mail addresses and phone numbers are masked in fields and messages by default', () => {
  const { logger, lines } = capture();
  logger.warn({ reason: 'Email "jane.doe@example.com" rejected', data: { Phone: '+1 (415) 555-0100' } }, 'bad address jane.doe@example.com');
  const [line] = lines();
  const text = JSON.stringify(line);
  expect(text).not.toContain('jane.doe@example.com');
  expect(text).not.toContain('555-0100');
  expect(line!.reason).toBe('Email "j***@***" rejected');
});

test('correlation fields are never masked, so a record can be followed through the logs', () => {
  const { logger, lines } = capture();
  const fields = { correlationId: '80707a0a12345678', recordId: '0035g0000100000AAA', contactKey: '0035g0000100000AAA', replayId: '1234567', eventInstanceId: 'c1d6b4fd-f8db-45b8-b5b9-1447c74c45d6' };
  logger.info(fields, 'delivered');
  expect(lines()[0]).toMatchObject(fields);
  expect(maskPersonal('id 0035g0000100000AAA uuid 496ebbc4-593c-4fa9-a3cd-a6d354fb1ddb')).toBe('id 0035g0000100000AAA uuid 496ebbc4-593c-4fa9-a3cd-a6d354fb1ddb');
});

test('tokens and secrets are redacted wherever they appear in a log object', () => {
  const { logger, lines } = capture(true);
  logger.info({ accessToken: 'tok-123', auth: { clientSecret: 's3cr3t' }, headers: { authorization: 'Bearer tok-123' } }, 'request');
  const text = JSON.stringify(lines()[0]);
  expect(text).not.toContain('tok-123');
  expect(text).not.toContain('s3cr3t');
});

test('with personal data allowed, addresses are logged as they are (debugging only)', () => {
  const { logger, lines } = capture(true);
  logger.info({ email: 'jane@example.com' }, 'x');
  expect(lines()[0]!.email).toBe('jane@example.com');
});
