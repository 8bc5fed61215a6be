/**
 * An independent PROXY protocol decoder for tests (spec: HAProxy's
 * doc/proxy-protocol.txt), so fulcrum's encoder is checked against a second
 * reading of the spec rather than against itself.
 */
export interface Decoded {
  version: 1 | 2;
  command: 'PROXY' | 'LOCAL';
  proto: 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNKNOWN';
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  length: number;
}

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

export function decodeProxy(buf: Buffer): Decoded {
  if (buf.subarray(0, 6).toString('latin1') === 'PROXY ') {
    const end = buf.indexOf('\r\n');
    if (end < 0) throw new Error('v1 without CRLF');
    const parts = buf.subarray(0, end).toString('latin1').split(' ');
    const proto = parts[1] as Decoded['proto'];
    if (proto === 'UNKNOWN') return { version: 1, command: 'PROXY', proto, length: end + 2 };
    return { version: 1, command: 'PROXY', proto, src: parts[2], dst: parts[3], srcPort: Number(parts[4]), dstPort: Number(parts[5]), length: end + 2 };
  }
  if (!buf.subarray(0, 12).equals(SIG)) throw new Error('no PROXY signature');
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) throw new Error('not version 2');
  const command = (verCmd & 0xf) === 1 ? 'PROXY' : 'LOCAL';
  const famProto = buf[13];
  const len = buf.readUInt16BE(14);
  const body = buf.subarray(16, 16 + len);
  const protos: Record<number, Decoded['proto']> = { 0x11: 'TCP4', 0x12: 'UDP4', 0x21: 'TCP6', 0x22: 'UDP6' };
  const proto = protos[famProto] ?? 'UNKNOWN';
  if (proto === 'TCP4' || proto === 'UDP4') {
    return { version: 2, command, proto, src: [...body.subarray(0, 4)].join('.'), dst: [...body.subarray(4, 8)].join('.'), srcPort: body.readUInt16BE(8), dstPort: body.readUInt16BE(10), length: 16 + len };
  }
  if (proto === 'TCP6' || proto === 'UDP6') {
    return { version: 2, command, proto, src: ipv6(body.subarray(0, 16)), dst: ipv6(body.subarray(16, 32)), srcPort: body.readUInt16BE(32), dstPort: body.readUInt16BE(34), length: 16 + len };
  }
  return { version: 2, command, proto, length: 16 + len };
}
