import {
  checkPort,
  formatIPv4,
  formatIPv6,
  resolveEndpoints,
  type Decoded,
  type ProxyAddress,
} from './proxy-protocol-common';

export const V2_SIGNATURE: Readonly<Buffer> = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** Fixed part: signature, ver/cmd, fam/proto, 16-bit length. */
export const V2_FIXED_LENGTH = 16;
/** Default cap on the v2 length field (addresses + TLVs). */
export const V2_DEFAULT_MAX_LENGTH = 2048;

const CMD_LOCAL = 0x0;
const CMD_PROXY = 0x1;

/**
 * v2 header. `null` → LOCAL command with AF_UNSPEC and no address, for the
 * proxy's own connections (health checks): the receiver uses the real endpoints.
 * Family comes from the addresses (see resolveEndpoints). No TLVs are written.
 */
export function encodeV2(a: ProxyAddress | null): Buffer {
  if (a === null) {
    const local = Buffer.alloc(V2_FIXED_LENGTH);
    V2_SIGNATURE.copy(local, 0);
    local[12] = 0x20 | CMD_LOCAL;
    return local; // fam 0x00, length 0
  }
  const e = resolveEndpoints(a);
  const sport = checkPort(a.sourcePort, 'source');
  const dport = checkPort(a.destPort, 'destination');
  const alen = e.family === 4 ? 12 : 36;
  const n = e.src.length;
  const out = Buffer.allocUnsafe(V2_FIXED_LENGTH + alen);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20 | CMD_PROXY;
  out[13] = (e.family === 4 ? 0x10 : 0x20) | (a.protocol === 'udp' ? 0x2 : 0x1);
  out.writeUInt16BE(alen, 14);
  out.set(e.src, 16);
  out.set(e.dst, 16 + n);
  out.writeUInt16BE(sport, 16 + 2 * n);
  out.writeUInt16BE(dport, 18 + 2 * n);
  return out;
}

/** Address block size a PROXY command needs for a fam/proto byte (0 = nothing decoded). */
function addressBlockLength(fam: number): number {
  switch (fam) {
    case 0x11:
    case 0x12:
      return 12;
    case 0x21:
    case 0x22:
      return 36;
    case 0x31: // AF_UNIX: length is checked, the header is then treated as UNSPEC
    case 0x32:
      return 216;
    default:
      return 0;
  }
}

/** Decodes buf[0, len) as a v2 header (buf[0] is already 0x0D). */
export function decodeV2(buf: Buffer, len: number, maxLength: number): Decoded {
  const n = Math.min(len, V2_SIGNATURE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== V2_SIGNATURE[i]) return 'bad v2 signature';
  if (len < 13) return undefined;
  const version = buf[12] >> 4;
  const command = buf[12] & 0xf;
  if (version !== 2) return `v2: unsupported version ${version}`;
  if (command !== CMD_LOCAL && command !== CMD_PROXY) return `v2: unknown command 0x${command.toString(16)}`;
  if (len < 14) return undefined;
  const fam = buf[13];
  if (fam >> 4 > 3) return `v2: unknown address family 0x${(fam >> 4).toString(16)}`;
  if ((fam & 0xf) > 2) return `v2: unknown transport protocol 0x${(fam & 0xf).toString(16)}`;
  if (len < V2_FIXED_LENGTH) return undefined;
  const alen = buf.readUInt16BE(14);
  if (alen > maxLength) return `v2: length ${alen} over the ${maxLength}-byte cap`;
  // LOCAL ignores the family entirely, so it needs no address block.
  const need = command === CMD_PROXY ? addressBlockLength(fam) : 0;
  if (alen < need) return `v2: length ${alen} too short for family 0x${fam.toString(16)} (needs ${need})`;
  const end = V2_FIXED_LENGTH + alen;
  if (len < end) return undefined;
  if (command === CMD_LOCAL || need === 0 || need === 216) return { end, header: null };
  const tlvError = checkTlvs(buf, V2_FIXED_LENGTH + need, end);
  if (tlvError) return tlvError;
  return { end, header: readAddresses(buf, fam) };
}

/** TLVs are skipped, but each must fit: a TLV overrunning the header is malformed (HAProxy agrees). */
function checkTlvs(buf: Buffer, from: number, end: number): string | undefined {
  let p = from;
  while (p < end) {
    if (end - p < 3) return 'v2: truncated TLV';
    p += 3 + buf.readUInt16BE(p + 1);
    if (p > end) return 'v2: TLV overruns the header length';
  }
  return undefined;
}

function readAddresses(buf: Buffer, fam: number): ProxyAddress {
  const v4 = fam >> 4 === 1;
  const n = v4 ? 4 : 16;
  const fmt = (off: number) => (v4 ? formatIPv4(buf, off) : formatIPv6(buf, off, true));
  return {
    family: v4 ? 4 : 6,
    protocol: (fam & 0xf) === 2 ? 'udp' : 'tcp',
    sourceAddress: fmt(16),
    sourcePort: buf.readUInt16BE(16 + 2 * n),
    destAddress: fmt(16 + n),
    destPort: buf.readUInt16BE(18 + 2 * n),
  };
}

/**
 * A whole UDP datagram that starts with a v2 header (v1 has no UDP form).
 * null when it does not carry a complete, valid one; payload is a subarray.
 */
export function parseV2Datagram(
  buf: Buffer,
  maxLength: number = V2_DEFAULT_MAX_LENGTH,
): { header: ProxyAddress | null; payload: Buffer } | null {
  if (buf.length < V2_FIXED_LENGTH || buf[0] !== 0x0d) return null;
  const r = decodeV2(buf, buf.length, maxLength);
  if (r === undefined || typeof r === 'string') return null;
  return { header: r.header, payload: buf.subarray(r.end) };
}
