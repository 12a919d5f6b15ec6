// Credentials go only to a Marketing Cloud auth host or loopback, and a token is used only against the rest_instance_url of a Marketing Cloud REST host (loopback only when auth was loopback): checked in the config and again in the client.
import { ConfigError, AuthError } from '../src/core/errors.ts';
import { endpointProblem } from '../src/config/checks.ts';
import { checkAuthBaseUrl, checkRestBaseUrl } from '../src/delivery/mc/auth.ts';

const AUTH = 'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com';
const REST = 'https://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com/';

test('loopback in its three spellings is accepted for emulators; anything else but an MC auth host is refused', () => {
  for (const url of ['http://127.0.0.1:9', 'http://localhost:9', 'http://[::1]:9', AUTH]) expect(checkAuthBaseUrl(url)).toBeInstanceOf(URL);
  for (const url of [
    'http://[::2]:9',
    'http://0.0.0.0:9',
    'https://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com',
    'https://auth.marketingcloudapis.com',
    'https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com.evil.com',
  ]) {
    expect(() => checkAuthBaseUrl(url)).toThrow(ConfigError);
  }
  expect(endpointProblem('http://[::1]:8080', 'marketingCloud')).toBeUndefined();
  expect(endpointProblem('http://[::2]:8080', 'marketingCloud')).toMatch(/must use https/);
});

test('rest_instance_url must be an https Marketing Cloud REST host, or loopback when the auth host was loopback', () => {
  const real = new URL(AUTH);
  const loop = new URL('http://127.0.0.1:9');
  expect(checkRestBaseUrl(REST, real)).toBe(REST);
  expect(checkRestBaseUrl('http://[::1]:9/', loop)).toBe('http://[::1]:9/');
  const refused: [string, URL][] = [
    ['http://127.0.0.1:9/', real], // a real tenant never points at our loopback
    ['https://evil.example.com/', real],
    ['http://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com/', real],
    ['https://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com.evil.com/', real],
    ['https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com/', real],
    ['https://user:pw@mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com/', real],
    ['https://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com:8443/', real],
    ['https://evil.example.com/', loop],
    ['not a url', loop],
  ];
  for (const [url, auth] of refused) expect(() => checkRestBaseUrl(url, auth)).toThrow(AuthError);
});
