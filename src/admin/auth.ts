/**
 * Admin API access control: a bearer token compared in constant time, and the
 * loopback test behind "no token, no public admin API".
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time string equality. timingSafeEqual needs equal lengths, so both
 * sides are hashed first: the compare then costs the same whatever the input,
 * and neither the token's length nor a matching prefix leaks through timing.
 */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Checks an `Authorization` header against the configured token. The scheme is
 * case-insensitive (RFC 7235); the token itself is compared exactly.
 */
export function bearerAuthorized(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  // Still hash something when the header is malformed so that every
  // rejection takes about as long as a wrong token.
  return tokenMatches(match ? match[1] : '', token) && match !== null;
}

/** The loopback test lives with the other address rules (config validation uses it too). */
export { isLoopback } from '../config/address';
