import { bearerAuthorized, isLoopback, tokenMatches } from '../../src/admin/auth';
import { ep } from '../helpers/config';

test('tokenMatches: equal strings only, whatever the lengths', () => {
  expect(tokenMatches('s3cret', 's3cret')).toBe(true);
  expect(tokenMatches('s3cret', 's3creT')).toBe(false);
  expect(tokenMatches('s3cret', 's3cret-and-more')).toBe(false);
  expect(tokenMatches('', 's3cret')).toBe(false);
  expect(tokenMatches('', '')).toBe(true);
  expect(tokenMatches('ünïcode', 'ünïcode')).toBe(true);
});

test('bearerAuthorized: "Bearer TOKEN", scheme case-insensitive, token exact', () => {
  expect(bearerAuthorized('Bearer s3cret', 's3cret')).toBe(true);
  expect(bearerAuthorized('bearer s3cret', 's3cret')).toBe(true);
  expect(bearerAuthorized('  Bearer   s3cret ', 's3cret')).toBe(true);
  expect(bearerAuthorized(undefined, 's3cret')).toBe(false);
  expect(bearerAuthorized('', 's3cret')).toBe(false);
  expect(bearerAuthorized('s3cret', 's3cret')).toBe(false);
  expect(bearerAuthorized('Basic s3cret', 's3cret')).toBe(false);
  expect(bearerAuthorized('Bearer S3CRET', 's3cret')).toBe(false);
  expect(bearerAuthorized('Bearer s3cret extra', 's3cret')).toBe(false);
  expect(bearerAuthorized('Bearer ', '')).toBe(false);
});

test.each([
  ['127.0.0.1', true],
  ['127.1.2.3', true],
  ['127.255.255.254', true],
  ['::1', true],
  ['0:0:0:0:0:0:0:1', true],
  ['::ffff:127.0.0.1', true],
  ['::ffff:7f00:1', true],
  ['[::1]', true],
  ['0.0.0.0', false],
  ['10.0.0.1', false],
  ['128.0.0.1', false],
  ['::', false],
  ['::2', false],
  ['::ffff:10.0.0.1', false],
  ['2001:db8::1', false],
  ['localhost', false],
  ['', false],
])('isLoopback(%s) = %s', (host, expected) => {
  expect(isLoopback(host)).toBe(expected);
});

test('isLoopback takes an Endpoint', () => {
  expect(isLoopback(ep(9090))).toBe(true);
  expect(isLoopback(ep(9090, '0.0.0.0'))).toBe(false);
  expect(isLoopback(ep(9090, '::1'))).toBe(true);
});
