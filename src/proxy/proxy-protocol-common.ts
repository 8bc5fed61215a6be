import net from 'node:net';

/** The connection endpoints a PROXY protocol header carries (what the sender saw). */
export type ProxyAddress = {
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  sourceAddress: string;
  sourcePort: number;
  destAddress: string;
  destPort: number;
};

/**
 * Internal decoder step over buf[0, len): undefined = valid so far, need more
 * bytes; string = error reason; object = a complete header of `end` bytes.
 * Only the final step allocates.
 */
export type Decoded = undefined | string | { end: number; header: ProxyAddress | null };

/** Fills out[off, off+4) from a dotted quad already checked with net.isIPv4. */
function writeIPv4(s: string, out: Uint8Array, off: number): void {
  let n = 0;
  let k = off;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      out[k++] = n;
      n = 0;
    } else n = n * 10 + (c - 0x30);
  }
  out[k] = n;
}

function groupsOf(part: string, into: number[]): void {
  if (part === '') return;
  for (const g of part.split(':')) {
    if (g.includes('.')) {
      // Embedded dotted quad (e.g. ::ffff:1.2.3.4) counts as two groups.
      const q = new Uint8Array(4);
      writeIPv4(g, q, 0);
      into.push((q[0] << 8) | q[1], (q[2] << 8) | q[3]);
    } else into.push(parseInt(g, 16));
  }
}

/** Fills out[off, off+16) from an address already checked with net.isIPv6 (zone id stripped). */
function writeIPv6(s: string, out: Uint8Array, off: number): void {
  const dbl = s.indexOf('::');
  const head: number[] = [];
  const tail: number[] = [];
  groupsOf(dbl >= 0 ? s.slice(0, dbl) : s, head);
  if (dbl >= 0) groupsOf(s.slice(dbl + 2), tail);
  const groups = head.concat(new Array<number>(8 - head.length - tail.length).fill(0), tail);
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = groups[i] >> 8;
    out[off + 2 * i + 1] = groups[i] & 0xff;
  }
}

/** True when b[off, off+16) is an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * RFC 5952 text: lowercase, no leading zeros, longest run (≥ 2) of zero groups
 * as "::". `dottedMapped` writes IPv4-mapped addresses as ::ffff:a.b.c.d, the
 * form Node reports in socket.remoteAddress; v1 encoding turns it off because
 * the spec describes IPv6 text as hex groups only.
 */
export function formatIPv6(b: Uint8Array, off: number, dottedMapped: boolean): string {
  if (dottedMapped && isV4Mapped(b, off)) return '::ffff:' + formatIPv4(b, off + 12);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (b[off + 2 * i] === 0 && b[off + 2 * i + 1] === 0) {
      let j = i;
      while (j < 8 && b[off + 2 * j] === 0 && b[off + 2 * j + 1] === 0) j++;
      if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
      i = j;
    } else i++;
  }
  const hex = (i: number) => ((b[off + 2 * i] << 8) | b[off + 2 * i + 1]).toString(16);
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      s += '::';
      i += bestLen - 1;
    } else s += (s === '' || s.endsWith(':') ? '' : ':') + hex(i);
  }
  return s;
}

/** IPv6 text → canonical text, or null when not a plain IPv6 address (zone ids refused). */
export function canonicalIPv6(s: string): string | null {
  if (s.includes('%') || !net.isIPv6(s)) return null;
  const b = new Uint8Array(16);
  writeIPv6(s, b, 0);
  return formatIPv6(b, 0, true);
}

export type Endpoints = { family: 4 | 6; src: Uint8Array; dst: Uint8Array };

function toBytes(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string') throw new Error(`PROXY protocol: ${what} address must be a string`);
  // A link-local zone id (fe80::1%eth0) means nothing to the receiver: drop it.
  const bare = s.includes('%') ? s.slice(0, s.indexOf('%')) : s;
  if (net.isIPv4(bare)) {
    const b = new Uint8Array(4);
    writeIPv4(bare, b, 0);
    return b;
  }
  if (net.isIPv6(bare)) {
    const b = new Uint8Array(16);
    writeIPv6(bare, b, 0);
    return b;
  }
  throw new Error(`PROXY protocol: invalid ${what} address ${JSON.stringify(s)}`);
}

function unmap(b: Uint8Array): Uint8Array {
  return b.length === 16 ? b.subarray(12) : b;
}

function map(b: Uint8Array): Uint8Array {
  if (b.length === 16) return b;
  const m = new Uint8Array(16);
  m[10] = m[11] = 0xff;
  m.set(b, 12);
  return m;
}

export function checkPort(p: unknown, what: string): number {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) {
    throw new Error(`PROXY protocol: invalid ${what} port ${String(p)}`);
  }
  return p;
}

/**
 * Picks the header family from the addresses themselves (`a.family` is not
 * trusted: a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d).
 * Both IPv4 or IPv4-mapped → family 4 with plain IPv4 bytes. Otherwise the
 * families really are mixed (a true IPv6 on one side), and a header carries
 * one family only, so the IPv4 side is written as IPv4-mapped IPv6.
 */
export function resolveEndpoints(a: ProxyAddress): Endpoints {
  if (a.protocol !== 'tcp' && a.protocol !== 'udp') {
    throw new Error(`PROXY protocol: protocol must be 'tcp' or 'udp', got ${String(a.protocol)}`);
  }
  const src = toBytes(a.sourceAddress, 'source');
  const dst = toBytes(a.destAddress, 'destination');
  const v4ish = (b: Uint8Array) => b.length === 4 || isV4Mapped(b, 0);
  if (v4ish(src) && v4ish(dst)) return { family: 4, src: unmap(src), dst: unmap(dst) };
  return { family: 6, src: map(src), dst: map(dst) };
}
