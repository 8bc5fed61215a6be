/**
 * Precomputed answers of one record: each answer variant of its plan as wire
 * bytes (see wire.ts), rebuilt only when health, an operator action or the
 * config changes. A query picks a variant by index math: the next rotation,
 * the next slot of the weighted schedule, or its location's group.
 */
import type { DnsRecordConfig } from '../config/dns-types';
import type { AnswerGroup, MemberState, Plan } from './policies';
import { planRecord } from './policies';
import { pointedRecord } from './wire';

export interface Variant {
  rrs: Buffer;
  count: number;
  members: number[];
}

interface Group {
  readonly mode: AnswerGroup['mode'];
  readonly variants: Variant[];
  readonly schedule: Uint16Array | null;
  readonly why: string;
}

export class RecordAnswers {
  private readonly groups: Group[];
  private readonly byLocation: Map<string, number>;
  private readonly fallbackGroup: number;
  /** Answers sent per member (fulcrum_dns_answers_total); kept by the record slot across rebuilds. */
  readonly answered: Float64Array;

  /**
   * `cursors[cursor]` counts this record's queries: the rotation and the weighted
   * schedule follow it. With workers it is in shared memory, so the order and the
   * shares are the record's, not each worker's.
   */
  constructor(readonly record: DnsRecordConfig, states: readonly MemberState[], answered: Float64Array, private readonly cursors: Int32Array, private readonly cursor: number) {
    const plan: Plan = planRecord(record, states);
    this.answered = answered;
    this.byLocation = plan.byLocation;
    this.fallbackGroup = plan.byLocation.get('*') ?? -1;
    this.groups = plan.groups.map((g) => ({
      mode: g.mode,
      schedule: g.schedule,
      why: g.why,
      variants: g.variants.map((members) => ({
        members,
        count: members.length,
        rrs: Buffer.concat(members.map((i) => pointedRecord(record.type as 'A' | 'AAAA', record.ttl, record.members[i]!.address))),
      })),
    }));
  }

  get geolocation(): boolean {
    return this.record.policy === 'geolocation';
  }

  /** The group for a client location (geolocation), else the only group; null: no answer for that location. */
  group(location: string | null): Group | null {
    if (!this.geolocation) return this.groups[0]!;
    const g = location === null ? this.fallbackGroup : this.byLocation.get(location) ?? this.fallbackGroup;
    return g === -1 ? null : this.groups[g]!;
  }

  /** The next variant of a group that answers; counts the members it names. */
  pick(group: Group): Variant {
    const n = Atomics.add(this.cursors, this.cursor, 1) & 0x3fffffff;
    const index = group.schedule === null ? n % group.variants.length : group.schedule[n % group.schedule.length]!;
    const variant = group.variants[index]!;
    for (const m of variant.members) this.answered[m]!++;
    return variant;
  }

  /** For status: what each group answers now and why. */
  describe(): Array<{ location: string | null; mode: string; addresses: string[]; why: string }> {
    const locations = this.geolocation ? [...this.byLocation.entries()] : [[null, 0] as const];
    return locations.map(([location, g]) => {
      const group = this.groups[g]!;
      const addresses = [...new Set(group.variants.flatMap((v) => v.members))].sort((a, b) => a - b).map((i) => this.record.members[i]!.address);
      return { location, mode: group.mode, addresses, why: group.why };
    });
  }
}
