import { Writable } from 'node:stream';
import { createLogger, maskPersonal } from '../src/core/log.ts';

function capture(allowPersonalData = false): { lines: () => Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  let text = '';
  const destination = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', pretty: false, allowPersonalData, destination });
  return {
    logger,
    lines: () =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
  };
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
  const fields = {
    correlationId: '80707a0a12345678',
    recordId: '0035g0000100000AAA',
    contactKey: '0035g0000100000AAA',
    replayId: '1234567',
    eventInstanceId: 'c1d6b4fd-f8db-45b8-b5b9-1447c74c45d6',
  };
  logger.info(fields, 'delivered');
  expect(lines()[0]).toMatchObject(fields);
  expect(maskPersonal('id 0035g0000100000AAA uuid 496ebbc4-593c-4fa9-a3cd-a6d354fb1ddb')).toBe(
    'id 0035g0000100000AAA uuid 496ebbc4-593c-4fa9-a3cd-a6d354fb1ddb',
  );
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

test('an error reaches the log whole: type, masked message, code, stack and cause', () => {
  const { logger, lines } = capture();
  const cause = Object.assign(new Error('disk full while writing jane.doe@example.com'), { code: 'SQLITE_FULL' });
  const err = Object.assign(new RangeError('commit failed for jane.doe@example.com', { cause }), { code: 'E_COMMIT' });
  logger.error({ err, event: 'fatal' }, 'stopping');
  logger.error(err);
  const [withMessage, bare] = lines();
  for (const line of [withMessage!, bare!]) {
    const logged = line.err as Record<string, any>;
    expect(logged.type).toBe('RangeError');
    expect(logged.message).toBe('commit failed for j***@***');
    expect(logged.code).toBe('E_COMMIT');
    expect(logged.stack).toMatch(/^RangeError: commit failed for j\*\*\*@\*\*\*\n\s+at /);
    expect(logged.cause).toMatchObject({ type: 'Error', message: 'disk full while writing j***@***', code: 'SQLITE_FULL' });
    expect(logged.cause.stack).toContain('Error: disk full while writing j***@***');
    expect(JSON.stringify(line)).not.toContain('jane.doe@example.com');
  }
  expect(bare!.msg).toBe('commit failed for j***@***');
});

test('with personal data allowed, an error is still logged whole', () => {
  const { logger, lines } = capture(true);
  const err = Object.assign(new Error('refused jane@example.com', { cause: new Error('socket') }), { code: 'E_X' });
  logger.error({ err }, 'x');
  expect(lines()[0]!.err).toMatchObject({ type: 'Error', message: 'refused jane@example.com', code: 'E_X', cause: { message: 'socket' } });
});
