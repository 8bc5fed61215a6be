/**
 * Geolocation: where a client is. From the EDNS Client Subnet option (RFC
 * 7871) when the resolver sends one, else the resolver's own address; looked
 * up in the service's CIDR → location table, most specific network first.
 */
import type { DnsLocationRule } from '../config/dns-types';
import { parseCidr } from '../admission/cidr';

export const ECS_OPTION = 8;

interface Rule {
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
  location: string;
}

export interface ClientLocation {
  location: string | null;
  /** ECS scope prefix length for the reply: the matched network's length. */
  scope: number;
}

/** A query's ECS option, validated; `address` is the zero-padded prefix (4 or 16 bytes). */
export interface ClientSubnet {
  family: 4 | 6;
  source: number;
  address: Buffer;
  /** The option data as sent (echoed with our scope). */
  data: Buffer;
}

export class LocationTable {
  private readonly rules: Rule[];

  constructor(rules: readonly DnsLocationRule[]) {
    this.rules = rules
      .map((r) => ({ family: r.cidr.family, bytes: ipBytes(r.cidr.address)!, prefix: r.cidr.prefix, location: r.location }))
      .sort((a, b) => b.prefix - a.prefix);
  }

  get size(): number {
    return this.rules.length;
  }

  /** Most specific match wins; no match → null location (the record's "*" answers). */
  locate(family: 4 | 6, address: Buffer, sourcePrefix: number): ClientLocation {
    for (const r of this.rules) {
      if (r.family === family && samePrefix(r.bytes, address, r.prefix)) return { location: r.location, scope: r.prefix };
    }
    return { location: null, scope: sourcePrefix };
  }
}

/**
 * Validates an ECS option (RFC 7871 §6): family 1 or 2, source within the
 * family's length, scope 0, exactly ceil(source/8) address bytes, no bits
 * set beyond the source prefix. null: invalid (the query gets FORMERR).
 */
export function parseClientSubnet(data: Buffer): ClientSubnet | null {
  if (data.length < 4) return null;
  const familyCode = data.readUInt16BE(0);
  const source = data[2]!;
  const family = familyCode === 1 ? 4 : familyCode === 2 ? 6 : 0;
  if (family === 0 || data[3] !== 0 || source > (family === 4 ? 32 : 128)) return null;
  const bytes = Math.ceil(source / 8);
  if (data.length !== 4 + bytes) return null;
  if (bytes > 0 && source % 8 !== 0 && (data[3 + bytes]! & (0xff >> source % 8)) !== 0) return null;
  const address = Buffer.alloc(family === 4 ? 4 : 16);
  data.copy(address, 0, 4);
  return { family, source, address, data };
}

/** An address string as bytes (IPv4-mapped IPv6 as IPv4); null when it is not an IP literal. */
export function ipBytes(text: string): Buffer | null {
  const mapped = text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
  if (mapped.includes('.')) {
    const parts = mapped.split('.');
    if (parts.length !== 4) return null;
    const out = Buffer.allocUnsafe(4);
    for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
    return out;
  }
  try {
    const spec = parseCidr(`${text}/128`);
    if (spec.family === 4) return ipBytes(spec.address);
    const value = BigInt(`0x${expand6(spec.address)}`);
    const out = Buffer.allocUnsafe(16);
    out.writeBigUInt64BE(value >> 64n, 0);
    out.writeBigUInt64BE(value & 0xffffffffffffffffn, 8);
    return out;
  } catch {
    return null;
  }
}

function expand6(address: string): string {
  const [head, tail = ''] = address.split('::');
  const h = head === '' ? [] : head!.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

function samePrefix(a: Buffer, b: Buffer, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}
