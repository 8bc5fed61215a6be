/**
 * Query → reply bytes. The reply is the query's ID and question copied
 * verbatim, then precomputed record bytes (zone.ts, answers.ts), then an OPT
 * record when the query had one (with the ECS option echoed and our scope).
 * One reply per query and never larger than the client allows: over UDP a
 * reply that does not fit is sent empty with TC=1 (the client retries over
 * TCP). Nothing is encoded per query.
 */
import { type ClientLocation, LocationTable, ipBytes } from './geo';
import { Query } from './query';
import type { DnsStats } from './stats';
import { BADVERS, CLASS_IN, EDNS_UDP_SIZE, RCODE, RECORD_BYTES, TYPE } from './wire';
import type { RecordSlot, StaticAnswer, ZoneNode, ZoneSet } from './zone';

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
/** Opcode, RD and CD are copied from the query. */
const COPIED_FLAGS = 0x7800 | 0x0100 | 0x0010;
const OPT_BYTES = 11;
/** CNAME record header with a pointer owner: pointer 2 + type 2 + class 2 + ttl 4 + rdlength 2. */
const RR_HEADER = 12;
const NO_LOCATION: ClientLocation = { location: null, scope: 0 };

export class Responder {
  private readonly query = new Query();
  // The reply being assembled (fields, not an object per query).
  private rcode = 0;
  private aa = true;
  private answer: Buffer | null = null;
  private answerCount = 0;
  /** Records of a CNAME's target, owners repointed to the target name in the CNAME's data. */
  private chained: Buffer | null = null;
  private chainedCount = 0;
  private chainedRecordBytes = 0;
  private authority: Buffer | null = null;
  private additional: Buffer | null = null;
  private additionalCount = 0;
  private scope = 0;

  constructor(
    private readonly zones: ZoneSet,
    private readonly locations: LocationTable,
    private readonly stats: DnsStats,
  ) {}

  /** The reply to `msg` from `client`, or null (dropped). Over UDP the reply fits the client's size or is truncated. */
  respond(msg: Buffer, client: string, udp: boolean): Buffer | null {
    const q = this.query;
    const verdict = q.read(msg);
    if (verdict === 'drop-malformed' || verdict === 'drop-response') {
      this.stats.dropped(verdict === 'drop-malformed' ? 'malformed' : 'response');
      return null;
    }
    this.reset();
    if (verdict === 'formerr') this.fail(RCODE.FORMERR);
    else if (verdict === 'notimp') this.fail(RCODE.NOTIMP);
    else if (q.edns && q.ednsVersion > 0) this.fail(BADVERS);
    else if (q.qclass !== CLASS_IN) this.refuse();
    else this.resolve(msg, q.qtype, client);
    const limit = udp ? (q.edns ? Math.min(q.udpSize, EDNS_UDP_SIZE) : 512) : 65535;
    return this.write(msg, limit);
  }

  private reset(): void {
    this.rcode = RCODE.NOERROR;
    this.aa = true;
    this.answer = null;
    this.answerCount = 0;
    this.chained = null;
    this.chainedCount = 0;
    this.authority = null;
    this.additional = null;
    this.additionalCount = 0;
    this.scope = 0;
  }

  private fail(rcode: number): void {
    this.rcode = rcode;
    this.aa = false;
  }

  private refuse(): void {
    this.rcode = RCODE.REFUSED;
    this.aa = false;
  }

  private resolve(msg: Buffer, qtype: number, client: string): void {
    const q = this.query;
    const node = (q.nameEnd !== 0 ? this.zones.byWire.get(msg, 12, q.nameEnd, q.nameHash) : undefined) ?? this.zones.nodes.get(q.qname);
    if (node === undefined) {
      const zone = this.zones.zoneOf(q.qname);
      if (zone === null) return this.refuse();
      this.rcode = RCODE.NXDOMAIN;
      this.authority = zone.negativeSoa;
      return;
    }
    if (node.cname !== null && qtype !== TYPE.CNAME) {
      this.setAnswer(node.cname.answer);
      const target = node.cname.targetNode;
      if (target !== null) this.chase(target, qtype === TYPE.ANY ? TYPE.A : qtype, client);
      return;
    }
    const type = qtype === TYPE.ANY ? anyType(node) : qtype;
    const slot = type === TYPE.A ? node.a : type === TYPE.AAAA ? node.aaaa : null;
    if (slot !== null) return this.fromSlot(slot, node, client, false);
    const fixed = type === TYPE.CNAME ? node.cname?.answer : node.fixed.get(type);
    if (fixed !== undefined) return this.setAnswer(fixed);
    this.authority = node.zone.negativeSoa; // NODATA
  }

  /** The target of a CNAME in our zones: its records follow the CNAME (one step; no loops). */
  private chase(target: ZoneNode, qtype: number, client: string): void {
    const slot = qtype === TYPE.A ? target.a : qtype === TYPE.AAAA ? target.aaaa : null;
    if (slot !== null) return this.fromSlot(slot, target, client, true);
    const fixed = target.fixed.get(qtype);
    if (fixed !== undefined && (qtype === TYPE.A || qtype === TYPE.AAAA)) {
      this.chained = fixed.rrs;
      this.chainedCount = fixed.count;
      this.chainedRecordBytes = qtype === TYPE.A ? RECORD_BYTES.A : RECORD_BYTES.AAAA;
    }
  }

  private fromSlot(slot: RecordSlot, node: ZoneNode, client: string, chained: boolean): void {
    const answers = slot.answers;
    let where = NO_LOCATION;
    if (answers.geolocation) where = this.locate(client);
    const group = answers.group(where.location);
    if (answers.geolocation && this.query.ecs !== null && this.query.ecs.source > 0) this.scope = where.scope;
    if (group === null || group.mode === 'empty') {
      if (!chained) this.authority = node.zone.negativeSoa;
      return;
    }
    if (group.mode === 'servfail') {
      this.rcode = RCODE.SERVFAIL;
      this.answer = null;
      this.answerCount = 0;
      return;
    }
    const variant = answers.pick(group);
    if (!chained) {
      this.answer = variant.rrs;
      this.answerCount = variant.count;
      return;
    }
    this.chained = variant.rrs;
    this.chainedCount = variant.count;
    this.chainedRecordBytes = slot.config.type === 'A' ? RECORD_BYTES.A : RECORD_BYTES.AAAA;
  }

  private locate(client: string): ClientLocation {
    if (this.locations.size === 0) return NO_LOCATION;
    const ecs = this.query.ecs;
    // Source prefix 0: the client asks that its subnet not be used (RFC 7871 §7.1.2); the resolver decides.
    if (ecs !== null && ecs.source > 0) return this.locations.locate(ecs.family, ecs.address, ecs.source);
    const bytes = ipBytes(client);
    if (bytes === null) return NO_LOCATION;
    return this.locations.locate(bytes.length === 4 ? 4 : 6, bytes, bytes.length * 8);
  }

  private setAnswer(a: StaticAnswer): void {
    this.answer = a.rrs;
    this.answerCount = a.count;
    this.additional = a.additional;
    this.additionalCount = a.additionalCount;
  }

  private write(msg: Buffer, limit: number): Buffer {
    const q = this.query;
    const question = q.hasQuestion ? q.questionEnd : 12;
    const ecs = q.ecs;
    const opt = q.edns ? OPT_BYTES + (ecs !== null ? 4 + ecs.data.length : 0) : 0;
    let size = question + opt + len(this.answer) + len(this.chained) + len(this.authority) + len(this.additional);
    let truncated = false;
    if (size > limit) {
      truncated = true;
      size = question + opt;
    }
    const out = Buffer.allocUnsafe(size);
    out.writeUInt16BE(q.id, 0);
    out.writeUInt16BE(QR | (q.flags & COPIED_FLAGS) | (this.aa ? AA : 0) | (truncated ? TC : 0) | (this.rcode & 0xf), 2);
    out.writeUInt16BE(q.hasQuestion ? 1 : 0, 4);
    out.writeUInt32BE(0, 6);
    out.writeUInt16BE(0, 10);
    put(out, 12, msg, 12, question);
    let at = question;
    if (!truncated) {
      if (this.answer !== null) at = put(out, at, this.answer, 0, this.answer.length);
      if (this.chained !== null) {
        const pointer = 0xc000 | (question + RR_HEADER);
        for (let o = 0; o < this.chained.length; o += this.chainedRecordBytes) {
          this.chained.copy(out, at + o, o, o + this.chainedRecordBytes);
          out.writeUInt16BE(pointer, at + o);
        }
        at += this.chained.length;
      }
      if (this.authority !== null) at = put(out, at, this.authority, 0, this.authority.length);
      if (this.additional !== null) at = put(out, at, this.additional, 0, this.additional.length);
      out.writeUInt16BE(this.answerCount + this.chainedCount, 6);
      out.writeUInt16BE(this.authority !== null ? 1 : 0, 8);
    }
    if (q.edns) {
      out.writeUInt16BE((truncated ? 0 : this.additionalCount) + 1, 10);
      out[at] = 0; // root owner
      out.writeUInt16BE(TYPE.OPT, at + 1);
      out.writeUInt16BE(EDNS_UDP_SIZE, at + 3);
      out.writeUInt32BE((this.rcode >> 4) << 24, at + 5); // extended rcode, version 0, no flags
      out.writeUInt16BE(opt - OPT_BYTES, at + 9);
      if (ecs !== null) {
        out.writeUInt16BE(8, at + 11);
        out.writeUInt16BE(ecs.data.length, at + 13);
        ecs.data.copy(out, at + 15);
        out[at + 15 + 3] = this.scope;
      }
    } else if (!truncated) {
      out.writeUInt16BE(this.additionalCount, 10);
    }
    this.stats.replied(q.hasQuestion ? q.qtype : -1, this.rcode);
    return out;
  }
}

/**
 * Copies src[from, to) to out at `at`; returns the offset after it. A reply's
 * pieces are tens of bytes: a loop beats Buffer.copy's argument handling there.
 */
function put(out: Buffer, at: number, src: Buffer, from: number, to: number): number {
  if (to - from > 64) return at + src.copy(out, at, from, to);
  for (let i = from; i < to; i++) out[at++] = src[i]!;
  return at;
}

function len(b: Buffer | null): number {
  return b === null ? 0 : b.length;
}

/** RFC 8482: ANY gets one RRset, not everything. */
function anyType(node: ZoneNode): number {
  if (node.a !== null || node.fixed.has(TYPE.A)) return TYPE.A;
  if (node.aaaa !== null || node.fixed.has(TYPE.AAAA)) return TYPE.AAAA;
  return TYPE.SOA;
}
