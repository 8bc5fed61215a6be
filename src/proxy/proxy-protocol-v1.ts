import net from 'node:net';
import {
  canonicalIPv6,
  checkPort,
  formatIPv4,
  formatIPv6,
  resolveEndpoints,
  type Decoded,
  type ProxyAddress,
} from './proxy-protocol-common';

/** Longest legal v1 line, CRLF included ("PROXY UNKNOWN" + two full IPv6 + ports). */
export const V1_MAX_LENGTH = 107;

const PREFIX = Buffer.from('PROXY ', 'latin1');
// What may follow "PROXY "; checked byte by byte so garbage fails early.
const TOKENS = [Buffer.from('TCP4 '), Buffer.from('TCP6 '), Buffer.from('UNKNOWN')];
const CR = 0x0d;
const LF = 0x0a;
const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

/** "PROXY TCP4|TCP6 src dst sport dport\r\n". Throws for UDP (v1 has no form for it). */
export function encodeV1(a: ProxyAddress): Buffer {
  if (a.protocol === 'udp') throw new Error('PROXY protocol v1 cannot carry UDP; use v2 (encodeV2)');
  const e = resolveEndpoints(a);
  const sport = checkPort(a.sourcePort, 'source');
  const dport = checkPort(a.destPort, 'destination');
  // v1 IPv6 text is hex groups only, hence no dotted ::ffff:a.b.c.d form.
  const fmt = (b: Uint8Array) => (e.family === 4 ? formatIPv4(b, 0) : formatIPv6(b, 0, false));
  return Buffer.from(`PROXY TCP${e.family} ${fmt(e.src)} ${fmt(e.dst)} ${sport} ${dport}\r\n`, 'latin1');
}

function tokenPossible(buf: Buffer, len: number): boolean {
  const avail = len - PREFIX.length;
  for (const t of TOKENS) {
    const n = Math.min(avail, t.length);
    let i = 0;
    while (i < n && buf[PREFIX.length + i] === t[i]) i++;
    if (i === n) return true;
  }
  return false;
}

/** Decodes buf[0, len) as a v1 header (buf[0] is already 'P'). */
export function decodeV1(buf: Buffer, len: number): Decoded {
  const n = Math.min(len, PREFIX.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFIX[i]) return 'bad v1 signature (expected "PROXY ")';
  if (len <= PREFIX.length) return undefined;
  if (!tokenPossible(buf, len)) return 'v1: protocol must be TCP4, TCP6 or UNKNOWN';
  // Find the line end; a lone CR or LF is not one (spec 2.1).
  const scan = Math.min(len, V1_MAX_LENGTH);
  for (let i = PREFIX.length; i < scan; i++) {
    const c = buf[i];
    if (c === LF) return 'v1: bare LF (line must end with CRLF)';
    if (c !== CR) continue;
    if (i + 2 > V1_MAX_LENGTH) break;
    if (i + 1 === len) return undefined;
    if (buf[i + 1] !== LF) return 'v1: bare CR (line must end with CRLF)';
    const header = decodeLine(buf.toString('latin1', 0, i));
    return typeof header === 'string' ? header : { end: i + 2, header };
  }
  return len >= V1_MAX_LENGTH ? `v1: no CRLF within ${V1_MAX_LENGTH} bytes` : undefined;
}

function decodeLine(line: string): ProxyAddress | null | string {
  if (line.startsWith('PROXY UNKNOWN')) {
    // Whatever follows UNKNOWN must be ignored (spec 2.1): the header is valid but empty.
    return line.length === 13 || line.charCodeAt(13) === 0x20 ? null : 'v1: bad protocol after UNKNOWN';
  }
  const f = line.split(' ');
  if (f.length !== 6) return `v1: expected 6 space-separated fields, got ${f.length}`;
  const family = f[1] === 'TCP4' ? 4 : 6; // tokenPossible() let only TCP4/TCP6 through
  let src: string | null = f[2];
  let dst: string | null = f[3];
  if (family === 4) {
    if (!net.isIPv4(src)) return 'v1: bad IPv4 source address';
    if (!net.isIPv4(dst)) return 'v1: bad IPv4 destination address';
  } else {
    // Canonical form so equal addresses compare (and hash) equal whatever the sender wrote.
    if ((src = canonicalIPv6(src)) === null) return 'v1: bad IPv6 source address';
    if ((dst = canonicalIPv6(dst)) === null) return 'v1: bad IPv6 destination address';
  }
  if (!PORT.test(f[4]) || +f[4] > 65535) return 'v1: bad source port';
  if (!PORT.test(f[5]) || +f[5] > 65535) return 'v1: bad destination port';
  return { family, protocol: 'tcp', sourceAddress: src, sourcePort: +f[4], destAddress: dst, destPort: +f[5] };
}
