/**
 * The zone model: every name of every zone as a node with its data, built
 * once per config. Static data (SOA, NS, glue, CNAME) is wire bytes made
 * here; health-driven A/AAAA answers live in each record's slot and are
 * swapped by the service when member states change.
 */
import type { DnsRecordConfig, DnsServiceConfig, DnsZoneConfig } from '../config/dns-types';
import { isIP } from 'node:net';
import { RecordAnswers } from './answers';
import type { MemberState } from './policies';
import { fullRecord, pointedRecord, soaRecord, TYPE } from './wire';
import { WireNameIndex } from './wire-name';

/** One A or AAAA record and its current precomputed answers. */
export class RecordSlot {
  answers: RecordAnswers;
  readonly answered: Float64Array;
  /** The member states the answers were built from (sent to workers as they are). */
  states: readonly MemberState[];

  constructor(readonly config: DnsRecordConfig, states: readonly MemberState[], private readonly cursors: Int32Array, private readonly cursor: number) {
    this.answered = new Float64Array(config.members.length);
    this.states = states;
    this.answers = new RecordAnswers(config, states, this.answered, cursors, cursor);
  }

  rebuild(states: readonly MemberState[]): void {
    this.states = states;
    this.answers = new RecordAnswers(this.config, states, this.answered, this.cursors, this.cursor);
  }
}

/** Fixed answer bytes (pointer-owned records) with optional additional records (glue). */
export interface StaticAnswer {
  rrs: Buffer;
  count: number;
  additional: Buffer | null;
  additionalCount: number;
}

export interface ZoneNode {
  readonly name: string;
  readonly zone: Zone;
  a: RecordSlot | null;
  aaaa: RecordSlot | null;
  /** Static answers by qtype (SOA and NS at the apex, glue A/AAAA). */
  readonly fixed: Map<number, StaticAnswer>;
  /** A CNAME: its record bytes, and the node of its target when that is in our zones. */
  cname: { answer: StaticAnswer; target: string; targetNode: ZoneNode | null } | null;
}

export class Zone {
  /** SOA with its full owner name, for the authority section of NXDOMAIN / NODATA. */
  readonly negativeSoa: Buffer;

  constructor(readonly config: DnsZoneConfig) {
    const soa = config.soa;
    // RFC 2308: the negative-caching TTL is the lesser of the SOA's TTL and its minimum.
    this.negativeSoa = soaRecord(config.name, Math.min(soa.ttl, soa.minimum), soa);
  }

  get name(): string {
    return this.config.name;
  }
}

export class ZoneSet {
  readonly nodes = new Map<string, ZoneNode>();
  /** The same nodes by wire name: the lookup of a query, no name string decoded. */
  readonly byWire = new WireNameIndex<ZoneNode>();
  /** Longest first, so a child zone wins over its parent. */
  readonly zones: Zone[];
  readonly slots: RecordSlot[] = [];
  /** One query counter per record slot (answers.ts), shared with the workers that answer these zones. */
  readonly cursors: Int32Array;

  constructor(config: DnsServiceConfig, statesOf: (record: DnsRecordConfig) => MemberState[], cursors?: SharedArrayBuffer) {
    const records = config.zones.reduce((n, z) => n + z.records.length, 0);
    this.cursors = new Int32Array(cursors ?? new SharedArrayBuffer(4 * Math.max(1, records)));
    this.zones = config.zones.map((z) => new Zone(z)).sort((a, b) => b.name.length - a.name.length);
    for (const zone of this.zones) this.buildZone(zone, statesOf);
    for (const node of this.nodes.values()) if (node.cname !== null) node.cname.targetNode = this.nodes.get(node.cname.target) ?? null;
    for (const [name, node] of this.nodes) this.byWire.set(name, node);
  }

  /**
   * The same zones from the states of each slot, in slot order (a worker's copy:
   * the control plane sends `slots.map((s) => s.states)`; both sides build the
   * slots from one config in one deterministic order).
   */
  static fromStates(config: DnsServiceConfig, states: ReadonlyArray<readonly MemberState[]>, cursors: SharedArrayBuffer): ZoneSet {
    let next = 0;
    return new ZoneSet(config, (record) => (states[next++] ?? record.members.map(() => ({ usable: true, eligible: true }))) as MemberState[], cursors);
  }

  /** Each slot's member states, in slot order. */
  states(): MemberState[][] {
    return this.slots.map((s) => s.states as MemberState[]);
  }

  /** The zone a name falls in (null: not ours → REFUSED). Allocation-free suffix test. */
  zoneOf(qname: string): Zone | null {
    for (const zone of this.zones) {
      const z = zone.name;
      if (qname === z) return zone;
      const cut = qname.length - z.length - 1;
      if (cut > 0 && qname.charCodeAt(cut) === 46 && qname.endsWith(z)) return zone;
    }
    return null;
  }

  private node(zone: Zone, name: string): ZoneNode {
    let node = this.nodes.get(name);
    if (node === undefined) {
      node = { name, zone, a: null, aaaa: null, fixed: new Map(), cname: null };
      this.nodes.set(name, node);
      // Names between it and the apex exist too (empty non-terminals: NODATA, not NXDOMAIN).
      if (name !== zone.name) this.node(zone, name.slice(name.indexOf('.') + 1));
    }
    return node;
  }

  private buildZone(zone: Zone, statesOf: (record: DnsRecordConfig) => MemberState[]): void {
    const c = zone.config;
    const apex = this.node(zone, c.name);
    apex.fixed.set(TYPE.SOA, single(pointedRecord('SOA', c.soa.ttl, c.soa)));
    const glue = c.ns.filter((ns) => ns.address !== null && (ns.name === c.name || ns.name.endsWith(`.${c.name}`)));
    const glueRrs = glue.map((ns) => fullRecord({ name: ns.name, type: isIP(ns.address!) === 4 ? 'A' : 'AAAA', ttl: c.soa.ttl, class: 'IN', data: ns.address! }));
    apex.fixed.set(TYPE.NS, {
      rrs: Buffer.concat(c.ns.map((ns) => pointedRecord('NS', c.soa.ttl, ns.name))),
      count: c.ns.length,
      additional: glueRrs.length > 0 ? Buffer.concat(glueRrs) : null,
      additionalCount: glueRrs.length,
    });
    for (const ns of glue) {
      const type = isIP(ns.address!) === 4 ? TYPE.A : TYPE.AAAA;
      const node = this.node(zone, ns.name);
      const rr = pointedRecord(type === TYPE.A ? 'A' : 'AAAA', c.soa.ttl, ns.address!);
      const known = node.fixed.get(type);
      node.fixed.set(type, known === undefined ? single(rr) : { ...known, rrs: Buffer.concat([known.rrs, rr]), count: known.count + 1 });
    }
    for (const record of c.records) {
      const node = this.node(zone, record.name);
      if (record.type === 'CNAME') {
        node.cname = { answer: single(pointedRecord('CNAME', record.ttl, record.target!)), target: record.target!, targetNode: null };
        continue;
      }
      const slot = new RecordSlot(record, statesOf(record), this.cursors, this.slots.length);
      this.slots.push(slot);
      if (record.type === 'A') node.a = slot;
      else node.aaaa = slot;
    }
  }
}

function single(rrs: Buffer): StaticAnswer {
  return { rrs, count: 1, additional: null, additionalCount: 0 };
}
