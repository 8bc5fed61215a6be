/**
 * Admin API access control: a bearer token compared in constant time, and the
 * loopback test behind "no token, no public admin API".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { Endpoint } from '../config/types';

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

/** True for 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x (either spelling). Hostnames are not loopback: fulcrum does no DNS. */
export function isLoopback(endpoint: Pick<Endpoint, 'host'> | string): boolean {
  let host = typeof endpoint === 'string' ? endpoint : endpoint.host;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const zone = host.indexOf('%');
  if (zone !== -1) host = host.slice(0, zone);
  if (net.isIPv4(host)) return host.split('.')[0] === '127';
  if (!net.isIPv6(host)) return false;
  return loopbackV6.check(host, 'ipv6');
}

// BlockList matches IPv4-mapped IPv6 addresses against IPv4 rules, so
// ::ffff:127.0.0.1 and ::ffff:7f00:1 both hit the 127.0.0.0/8 subnet.
const loopbackV6 = new net.BlockList();
loopbackV6.addAddress('::1', 'ipv6');
loopbackV6.addSubnet('127.0.0.0', 8, 'ipv4');
