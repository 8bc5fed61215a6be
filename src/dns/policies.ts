/**
 * Routing policies with Route 53's semantics, as pure functions of a
 * record's members and their state. The result is a plan: which sets of
 * members a query may be answered with (variants) and how a query picks one.
 * answers.ts turns it into wire bytes; nothing here runs per query.
 */
import type { DnsMemberConfig, DnsRecordConfig } from '../config/dns-types';

/** usable: passes health checks and not drained/disabled; eligible: not drained/disabled (answer-all may use it). */
export interface MemberState {
  usable: boolean;
  eligible: boolean;
}

export interface AnswerGroup {
  mode: 'answer' | 'servfail' | 'empty';
  /** Member indices of each answer variant. */
  variants: number[][];
  /** Variant order: cycle through them, or follow a weighted schedule of variant indices. */
  schedule: Uint16Array | null;
  why: string;
}

export interface Plan {
  groups: AnswerGroup[];
  /** geolocation: location → group index ("*" is the default); empty for other policies. */
  byLocation: Map<string, number>;
}

/** Route 53 multivalue answers return at most eight records. */
export const MULTIVALUE_MAX = 8;
/** Rotations kept per set: enough to spread the first address; bounded memory for huge sets. */
const MAX_ROTATIONS = 32;

export function planRecord(record: DnsRecordConfig, states: readonly MemberState[]): Plan {
  const all = record.members.map((_, i) => i);
  if (record.policy !== 'geolocation') return { groups: [planGroup(record, all, states)], byLocation: new Map() };
  const locations = [...new Set(record.members.map((m) => m.location))];
  const byLocation = new Map<string, number>();
  const groups: AnswerGroup[] = [];
  const fallback = all.filter((i) => record.members[i]!.location === '*');
  for (const location of locations) {
    const own = all.filter((i) => record.members[i]!.location === location);
    const ownUp = own.some((i) => states[i]!.usable);
    const defaultUp = fallback.some((i) => states[i]!.usable);
    let group: AnswerGroup;
    if (!ownUp && location !== '*' && defaultUp) {
      group = planGroup(record, fallback, states);
      group.why = `${location}: all down, answering the default location (${group.why})`;
    } else {
      group = planGroup(record, own, states);
      group.why = `${location}: ${group.why}`;
    }
    byLocation.set(location, groups.push(group) - 1);
  }
  return { groups, byLocation };
}

function planGroup(record: DnsRecordConfig, members: number[], states: readonly MemberState[]): AnswerGroup {
  const usable = members.filter((i) => states[i]!.usable);
  const eligible = members.filter((i) => states[i]!.eligible);
  const of = `${usable.length} of ${members.length} up`;
  switch (record.policy) {
    case 'weighted':
      return weighted(record, usable, eligible, of);
    case 'failover': {
      const role = (r: DnsMemberConfig['failover']) => (i: number) => record.members[i]!.failover === r;
      const primaries = usable.filter(role('primary'));
      if (primaries.length > 0) return rotated(primaries, members.length, `primary up (${of})`);
      const secondaries = usable.filter(role('secondary'));
      if (secondaries.length > 0) return rotated(secondaries, members.length, `primary down: answering secondary (${of})`);
      // Route 53 answers the primary when both are unhealthy.
      const fallback = eligible.filter(role('primary')).length > 0 ? eligible.filter(role('primary')) : eligible;
      return allDown(record, fallback, (set) => rotated(set, members.length, ''));
    }
    case 'multivalue':
      if (usable.length > 0) return windows(usable, of);
      return allDown(record, eligible, (set) => windows(set, ''));
    default: // simple, and each location of geolocation
      if (usable.length > 0) return rotated(usable, members.length, of);
      return allDown(record, eligible, (set) => rotated(set, members.length, ''));
  }
}

function allDown(record: DnsRecordConfig, eligible: number[], answer: (set: number[]) => AnswerGroup): AnswerGroup {
  if (record.whenAllDown === 'servfail') return { mode: 'servfail', variants: [], schedule: null, why: 'all down: SERVFAIL (whenAllDown: servfail)' };
  if (record.whenAllDown === 'empty' || eligible.length === 0) {
    const why = eligible.length === 0 && record.whenAllDown === 'answer-all' ? 'all down or disabled: no answer' : 'all down: empty answer (whenAllDown: empty)';
    return { mode: 'empty', variants: [], schedule: null, why };
  }
  const group = answer(eligible);
  group.why = `all down: answering all ${eligible.length} (whenAllDown: answer-all)`;
  return group;
}

/** Every member of the set in each answer, the order rotated from one query to the next. */
function rotated(set: number[], _total: number, why: string): AnswerGroup {
  const n = Math.min(set.length, MAX_ROTATIONS);
  const variants = Array.from({ length: n }, (_, r) => set.map((_m, k) => set[(k + r) % set.length]!));
  return { mode: 'answer', variants, schedule: null, why };
}

/** Up to eight members per answer; with more, a sliding window so every member gets its turn. */
function windows(set: number[], why: string): AnswerGroup {
  if (set.length <= MULTIVALUE_MAX) return rotated(set, set.length, why);
  const n = Math.min(set.length, MAX_ROTATIONS * 4);
  const step = Math.max(1, Math.floor(set.length / n));
  const variants = Array.from({ length: n }, (_, r) => Array.from({ length: MULTIVALUE_MAX }, (_m, k) => set[(r * step + k) % set.length]!));
  return { mode: 'answer', variants, schedule: null, why: `${why}, ${MULTIVALUE_MAX} per answer` };
}

/**
 * One address per answer, shares weight / sum. A weight-0 member is answered only when
 * every weight is 0 or every non-zero member is down (then they share equally).
 */
function weighted(record: DnsRecordConfig, usable: number[], eligible: number[], of: string): AnswerGroup {
  const weightOf = (i: number) => record.members[i]!.weight;
  const positive = usable.filter((i) => weightOf(i) > 0);
  if (positive.length > 0) return schedule(positive, positive.map(weightOf), of);
  if (usable.length > 0) return schedule(usable, usable.map(() => 1), `${of}, only weight-0 members up: equal shares`);
  return allDown(record, eligible, (set) => {
    const nonZero = set.filter((i) => weightOf(i) > 0);
    return nonZero.length > 0 ? schedule(nonZero, nonZero.map(weightOf), '') : schedule(set, set.map(() => 1), '');
  });
}

/** Smooth weighted round robin (nginx's), precomputed once: exact shares over each cycle, interleaved. */
function schedule(set: number[], weights: number[], why: string): AnswerGroup {
  const divisor = weights.reduce(gcd);
  const w = weights.map((x) => x / divisor);
  const total = w.reduce((a, b) => a + b, 0);
  const current = w.map(() => 0);
  const order = new Uint16Array(total);
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let k = 0; k < w.length; k++) {
      current[k]! += w[k]!;
      if (current[k]! > current[best]!) best = k;
    }
    current[best]! -= total;
    order[n] = best;
  }
  return { mode: 'answer', variants: set.map((i) => [i]), schedule: order, why };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
