/**
 * Wire bytes of resource records, encoded once with dns-packet and kept as
 * Buffers. Answer records are stored with their owner name as a compression
 * pointer (0xC00C, the question name at offset 12), so a precomputed answer
 * fits any query for that name whatever its letter case, and only the
 * pointer changes when the record follows a CNAME.
 */
import * as packet from 'dns-packet';

export const HEADER_BYTES = 12;
/** Pointer to the question name, which always starts right after the header. */
export const QUESTION_POINTER = 0xc000 | HEADER_BYTES;
export const CLASS_IN = 1;
export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, AAAA: 28, OPT: 41, ANY: 255 } as const;
/** EDNS(0) payload size we advertise and honour at most (DNS flag day 2020). */
export const EDNS_UDP_SIZE = 1232;
/** Without EDNS a UDP reply may be 512 bytes (RFC 1035). */
export const CLASSIC_UDP_SIZE = 512;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** Extended RCODE 16: the upper 8 bits go in the OPT record. */
export const BADVERS = 16;

type Data = packet.Answer;

/** The sub-codecs dns-packet exports beside encode/decode (its published types omit them). */
interface SubCodec<T> {
  encode(value: T, buf?: Buffer, offset?: number): Buffer;
  decode: ((buf: Buffer, offset?: number) => T) & { bytes: number };
}
export const codec = packet as unknown as typeof packet & {
  name: SubCodec<string>;
  answer: SubCodec<Data>;
};

/** What answer.decode returns for an OPT record (RFC 6891). */
export interface DecodedOpt {
  name: string;
  type: string;
  udpPayloadSize: number;
  ednsVersion: number;
  options: Array<{ code: number; data: Buffer }>;
}

/** One record with its owner replaced by a pointer to the question name. */
export function pointedRecord(type: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'SOA', ttl: number, data: unknown): Buffer {
  const full = codec.answer.encode({ name: '.', type, ttl, class: 'IN', data } as Data);
  // '.' encodes as one zero byte: swap it for the two-byte pointer.
  const out = Buffer.allocUnsafe(full.length + 1);
  out.writeUInt16BE(QUESTION_POINTER, 0);
  full.copy(out, 2, 1);
  return out;
}

/** A record with its owner name written in full (SOA in the authority section, glue). */
export function fullRecord(record: Data): Buffer {
  return codec.answer.encode(record);
}

export function soaRecord(zone: string, ttl: number, soa: { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }): Buffer {
  return fullRecord({ name: zone, type: 'SOA', ttl, class: 'IN', data: soa } as Data);
}

/** Sets the owner pointer of each fixed-size record in `rrs` (a CNAME target's answer points at the target name). */
export function repoint(rrs: Buffer, recordBytes: number, pointer: number, out: Buffer, at: number): void {
  rrs.copy(out, at);
  for (let o = at; o < at + rrs.length; o += recordBytes) out.writeUInt16BE(pointer, o);
}

/** Size of one answer record of this type with a pointer owner (fixed for A and AAAA). */
export const RECORD_BYTES = { A: 2 + 10 + 4, AAAA: 2 + 10 + 16 } as const;
