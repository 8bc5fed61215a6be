/**
 * Networks in `allow` / `deny` / `acceptProxy` lists, and client addresses
 * as the accept path sees them. Parsing runs at config load (cost is
 * irrelevant); folding client addresses runs per connection (kept cheap).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { Address4, Address6 } from 'ip-address';
import type { CidrSpec } from '../config/types';

export type { CidrSpec };

export interface ClientIp {
  ip: string;
  family: 4 | 6;
}

const MAPPED_HIGH_BITS = 0xffffn; // ::ffff:0:0/96 is 80 zero bits, then 16 one bits

/**
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (= /32, /128).
 * Throws an Error whose message is a human reason. Canonical text: IPv4
 * dotted quad, IPv6 compressed lowercase, always with "/prefix".
 * IPv4-mapped IPv6 rules ("::ffff:10.0.0.0/104") become IPv4 rules, since
 * mapped clients are matched as IPv4 (see normalizeClientIp).
 */
export function parseCidr(text: string): CidrSpec {
  const shown = JSON.stringify(text);
  const s = text.trim();
  if (s === '') throw new Error('is empty: write an IP address or CIDR, e.g. "10.0.0.0/8" or "2001:db8::/32"');
  const slash = s.indexOf('/');
  const addressText = slash === -1 ? s : s.slice(0, slash);
  if (addressText.includes('%')) throw new Error(`${shown}: zone indexes ("%eth0") are not allowed in a network`);

  let family: 4 | 6;
  if (isIPv4(addressText) && Address4.isValid(addressText)) family = 4;
  else if (isIPv6(addressText) && Address6.isValid(addressText)) family = 6;
  else throw new Error(`${shown}: not an IP address or CIDR (write e.g. "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32")`);

  let bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const prefixText = s.slice(slash + 1);
    if (prefixText === '') throw new Error(`${shown} has "/" but no prefix length`);
    if (!/^\d{1,3}$/.test(prefixText)) throw new Error(`${shown}: prefix "${prefixText}" is not a number`);
    prefix = Number(prefixText);
    if (prefix > bits) throw new Error(`${shown}: prefix must be 0..${bits} for IPv${family}`);
  }

  let value = family === 4 ? new Address4(addressText).bigInt() : new Address6(addressText).bigInt();
  if (family === 6 && prefix >= 96 && value >> 32n === MAPPED_HIGH_BITS) {
    family = 4;
    bits = 32;
    prefix -= 96;
    value &= 0xffffffffn;
  }

  // A set host bit ("10.1.2.3/8") is usually a typo; silently widening an ACL is worse than refusing.
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = format(family, value - (value & hostMask));
    const single = format(family, value);
    throw new Error(
      `${shown}: host bits are set; write "${network}/${prefix}" for the network or "${single}/${bits}" for one address`,
    );
  }
  const address = format(family, value);
  return { family, address, prefix, text: `${address}/${prefix}` };
}

function format(family: 4 | 6, value: bigint): string {
  return family === 4 ? Address4.fromBigInt(value).correctForm() : Address6.fromBigInt(value).correctForm();
}

/**
 * A client address with IPv4-mapped IPv6 ("::ffff:1.2.3.4", as dual-stack
 * listeners report IPv4 peers) folded to IPv4, so IPv4 rules and per-IP
 * limits treat a client the same on either kind of listener.
 * Throws when `ip` is not an IP address.
 */
export function normalizeClientIp(ip: string): ClientIp {
  const folded = foldClientIp(ip);
  if (folded === undefined) throw new Error(`${JSON.stringify(ip)} is not an IP address`);
  return { ip: folded, family: folded.includes(':') ? 6 : 4 };
}

/**
 * The allocation-free core of normalizeClientIp for the accept path: the
 * folded address (family: 6 iff it contains ":"), or undefined when `ip` is
 * not an IP address. Other IPv6 text is returned as given (Node reports
 * peers in canonical form already; re-formatting would cost per connection).
 */
export function foldClientIp(ip: string): string | undefined {
  if (!ip.includes(':')) return isIPv4(ip) ? ip : undefined;
  // Node's own spelling of a mapped peer: a prefix check and a v4 check, no parsing.
  if (ip.startsWith('::ffff:') || ip.startsWith('::FFFF:')) {
    const v4 = ip.slice(7);
    if (isIPv4(v4)) return v4;
  }
  if (!isIPv6(ip)) return undefined;
  // Any other spelling of a mapped address ("0:0:0:0:0:ffff:102:304") contains "ffff"; only those pay for parsing.
  if (/ffff/i.test(ip)) {
    const zoneAt = ip.indexOf('%');
    const address = new Address6(zoneAt === -1 ? ip : ip.slice(0, zoneAt));
    if (address.isMapped4()) return address.to4().correctForm();
  }
  return ip;
}
