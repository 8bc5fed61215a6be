/**
 * Reading a query: the header, the one question and an OPT record, with
 * dns-packet's name and record decoders. The result goes into a reused
 * object (one per server), so a query allocates only its name string.
 *
 * What counts as malformed is exactly what dns-packet.decode refuses: the
 * fast path (one question, no answer or authority records, at most one
 * additional) reads the same bytes the full decoder would; anything else is
 * fully decoded to tell a malformed packet (dropped) from an unusual but
 * well-formed one (FORMERR).
 */
import { codec, type DecodedOpt, HEADER_BYTES, RCODE, TYPE } from './wire';
import { ECS_OPTION, parseClientSubnet, type ClientSubnet } from './geo';
import { HASH_SEED, hashStep } from './wire-name';

export type QueryVerdict = 'ok' | 'drop-malformed' | 'drop-response' | 'formerr' | 'notimp';

export class Query {
  verdict: QueryVerdict = 'ok';
  id = 0;
  flags = 0;
  /**
   * A plain question name (labels only) ends at nameEnd (0: read the slow way,
   * a compression pointer; then only `qname`); nameHash is its wire bytes'
   * hash with letters folded (wire-name.ts): the lookup needs no string.
   */
  nameEnd = 0;
  nameHash = 0;
  private msg: Buffer | null = null;
  private name: string | null = null;
  qtype = 0;
  qclass = 0;
  /** Offset just past the question (the question is bytes 12 .. questionEnd). */
  questionEnd = HEADER_BYTES;
  hasQuestion = false;
  edns = false;
  ednsVersion = 0;
  /** Reply size the client accepts over UDP (512 without EDNS). */
  udpSize = 512;
  ecs: ClientSubnet | null = null;

  /** Lowercase, no trailing dot ("." for the root): decoded on demand (a name not in our zones). */
  get qname(): string {
    if (this.name === null) this.name = codec.name.decode(this.msg!, HEADER_BYTES).toLowerCase();
    return this.name;
  }

  /** Fills this object from `msg`; returns the verdict. */
  read(msg: Buffer): QueryVerdict {
    this.msg = msg;
    this.name = null;
    this.nameEnd = 0;
    this.hasQuestion = false;
    this.edns = false;
    this.ecs = null;
    this.udpSize = 512;
    this.ednsVersion = 0;
    if (msg.length < HEADER_BYTES) return (this.verdict = 'drop-malformed');
    this.id = msg.readUInt16BE(0);
    this.flags = msg.readUInt16BE(2);
    // Never answer a response: two servers would bounce packets forever.
    if (this.flags & 0x8000) return (this.verdict = 'drop-response');
    const qd = msg.readUInt16BE(4);
    const an = msg.readUInt16BE(6);
    const ns = msg.readUInt16BE(8);
    const ar = msg.readUInt16BE(10);
    if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return (this.verdict = wellFormed(msg) ? 'formerr' : 'drop-malformed');
    let end = this.plainName(msg);
    if (end > 0) {
      this.nameEnd = end;
    } else {
      // A pointer, a bad label or a name past the end: exactly what dns-packet refuses is malformed.
      try {
        this.name = codec.name.decode(msg, HEADER_BYTES).toLowerCase();
        end = HEADER_BYTES + codec.name.decode.bytes;
      } catch {
        return (this.verdict = 'drop-malformed');
      }
    }
    if (end + 4 > msg.length) return (this.verdict = 'drop-malformed');
    this.qtype = msg.readUInt16BE(end);
    this.qclass = msg.readUInt16BE(end + 2);
    this.questionEnd = end + 4;
    if (ar === 1) {
      let opt: DecodedOpt;
      try {
        opt = codec.answer.decode(msg, this.questionEnd) as unknown as DecodedOpt;
      } catch {
        return (this.verdict = 'drop-malformed');
      }
      if (opt.type === 'OPT' && !this.readOpt(opt)) return (this.verdict = 'formerr');
    }
    // A compressed question name would point into our rewritten header: refuse it.
    if (this.nameEnd === 0 && hasPointer(msg, HEADER_BYTES)) return (this.verdict = 'formerr');
    this.hasQuestion = true;
    if (((this.flags >> 11) & 0xf) !== 0) return (this.verdict = 'notimp');
    return (this.verdict = 'ok');
  }

  /**
   * The end of the question name when it is plain labels within bounds and at
   * most 254 bytes (as dns-packet counts), hashing it on the way (nameHash);
   * else -1 (read it with dns-packet).
   */
  private plainName(msg: Buffer): number {
    let at = HEADER_BYTES;
    let total = 0;
    let h = HASH_SEED;
    for (;;) {
      if (at >= msg.length) return -1;
      const len = msg[at++]!;
      h = hashStep(h, len);
      if (len === 0) {
        this.nameHash = h;
        return at;
      }
      if (len >= 0x40 || at + len > msg.length) return -1;
      total += len + 1;
      if (total > 254) return -1;
      for (const end = at + len; at < end; at++) {
        const b = msg[at]!;
        h = hashStep(h, b >= 65 && b <= 90 ? b + 32 : b);
      }
    }
  }

  private readOpt(opt: DecodedOpt): boolean {
    if (opt.name !== '.') return false;
    this.edns = true;
    this.ednsVersion = opt.ednsVersion;
    this.udpSize = Math.max(512, opt.udpPayloadSize);
    for (const o of opt.options) {
      if (o.code !== ECS_OPTION) continue;
      if (this.ecs !== null) return false;
      this.ecs = parseClientSubnet(o.data);
      if (this.ecs === null) return false;
    }
    return true;
  }
}

function wellFormed(msg: Buffer): boolean {
  try {
    codec.decode(msg);
    return true;
  } catch {
    return false;
  }
}

/** Called only after the name decoded, so every label is in bounds. */
function hasPointer(msg: Buffer, at: number): boolean {
  for (let len = msg[at]!; len !== 0; len = msg[at]!) {
    if (len >= 0xc0) return true;
    at += len + 1;
  }
  return false;
}

export const QTYPE_NAMES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 65: 'HTTPS', 255: 'ANY' };
export const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS' };
export { RCODE, TYPE };
