/** Routing policies as pure functions of members and their states (src/dns/policies.ts). */
import type { DnsMemberConfig, DnsRecordConfig } from '../../src/config/types';
import { MULTIVALUE_MAX, planRecord, type MemberState } from '../../src/dns/policies';

const UP: MemberState = { usable: true, eligible: true };
const DOWN: MemberState = { usable: false, eligible: true };
const DISABLED: MemberState = { usable: false, eligible: false };

function record(policy: DnsRecordConfig['policy'], members: Array<Partial<DnsMemberConfig>>, whenAllDown: DnsRecordConfig['whenAllDown'] = 'answer-all'): DnsRecordConfig {
  return {
    name: 'www.example.test',
    type: 'A',
    ttl: 30,
    policy,
    whenAllDown,
    health: { enabled: true, interval: 2000, timeout: 1000, rise: 2, fall: 3, port: 80, passiveFailures: 0, passiveHold: 0, proxyProtocol: false },
    target: null,
    members: members.map((m, i) => ({ address: `127.0.0.${i + 1}`, name: `127.0.0.${i + 1}`, weight: 1, failover: 'primary', location: '*', ...m })),
  };
}

/** How often each member index is answered over one cycle of the group. */
function shares(r: DnsRecordConfig, states: MemberState[]): number[] {
  const g = planRecord(r, states).groups[0]!;
  const counts = r.members.map(() => 0);
  const order = g.schedule ?? g.variants.map((_, i) => i);
  for (const v of order) for (const m of g.variants[v]!) counts[m]!++;
  return counts;
}

describe('simple', () => {
  test('all healthy members in every answer, each first in turn', () => {
    const g = planRecord(record('simple', [{}, {}, {}]), [UP, DOWN, UP]).groups[0]!;
    expect(g.variants).toEqual([[0, 2], [2, 0]]);
    expect(g.why).toBe('2 of 3 up');
  });

  test.each([
    ['answer-all', 'answer', [[0, 1], [1, 0]]],
    ['servfail', 'servfail', []],
    ['empty', 'empty', []],
  ] as const)('all down, whenAllDown %s', (whenAllDown, mode, variants) => {
    const g = planRecord(record('simple', [{}, {}], whenAllDown), [DOWN, DOWN]).groups[0]!;
    expect(g.mode).toBe(mode);
    expect(g.variants).toEqual(variants);
  });

  test('answer-all leaves out members an operator disabled', () => {
    const g = planRecord(record('simple', [{}, {}]), [DOWN, DISABLED]).groups[0]!;
    expect(g.variants).toEqual([[0]]);
  });
});

describe('weighted', () => {
  test('one address per answer; shares = weight / sum, interleaved', () => {
    const r = record('weighted', [{ weight: 200 }, { weight: 55 }, { weight: 0 }]);
    expect(shares(r, [UP, UP, UP])).toEqual([40, 11, 0]); // 200:55 reduced by their gcd (5)
    const g = planRecord(r, [UP, UP, UP]).groups[0]!;
    expect(g.variants.every((v) => v.length === 1)).toBe(true);
    // Smooth: the light member comes every 4 or 5 answers, not 11 times in a row.
    const light = [...g.schedule!].flatMap((v, i) => (v === 1 ? [i] : []));
    expect(Math.max(...light.slice(1).map((at, k) => at - light[k]!))).toBeLessThanOrEqual(5);
  });

  test('weight 0 is answered only when every non-zero member is down, or all weights are 0', () => {
    expect(shares(record('weighted', [{ weight: 3 }, { weight: 0 }]), [DOWN, UP])).toEqual([0, 1]);
    expect(shares(record('weighted', [{ weight: 0 }, { weight: 0 }]), [UP, UP])).toEqual([1, 1]);
  });

  test('all down: answer-all keeps the weights', () => {
    expect(shares(record('weighted', [{ weight: 3 }, { weight: 1 }, { weight: 0 }]), [DOWN, DOWN, DOWN])).toEqual([3, 1, 0]);
  });
});

describe('failover', () => {
  const r = record('failover', [{ failover: 'primary' }, { failover: 'secondary' }]);
  test.each([
    [[UP, UP], [[0]], 'primary up (2 of 2 up)'],
    [[DOWN, UP], [[1]], 'primary down: answering secondary (1 of 2 up)'],
    [[DOWN, DOWN], [[0]], 'all down: answering all 1 (whenAllDown: answer-all)'], // Route 53 answers the primary
  ])('states %#', (states, variants, why) => {
    const g = planRecord(r, states).groups[0]!;
    expect(g.variants).toEqual(variants);
    expect(g.why).toBe(why);
  });
});

describe('multivalue', () => {
  test(`at most ${MULTIVALUE_MAX} per answer; with more, every member gets its turn`, () => {
    const r = record('multivalue', Array.from({ length: 12 }, () => ({})));
    const g = planRecord(r, r.members.map(() => UP)).groups[0]!;
    expect(Math.max(...g.variants.map((v) => v.length))).toBe(MULTIVALUE_MAX);
    expect(new Set(g.variants.flat()).size).toBe(12);
    const down = planRecord(r, r.members.map(() => DOWN)).groups[0]!;
    expect(down.variants.every((v) => v.length === MULTIVALUE_MAX)).toBe(true);
  });
});

describe('geolocation', () => {
  const r = record('geolocation', [{ location: 'eu' }, { location: 'us' }, { location: '*' }]);
  test('one group per location', () => {
    const plan = planRecord(r, [UP, UP, UP]);
    expect(plan.groups[plan.byLocation.get('eu')!]!.variants).toEqual([[0]]);
    expect(plan.groups[plan.byLocation.get('*')!]!.variants).toEqual([[2]]);
  });

  test('a location whose members are down answers the default location', () => {
    const plan = planRecord(r, [DOWN, UP, UP]);
    const eu = plan.groups[plan.byLocation.get('eu')!]!;
    expect(eu.variants).toEqual([[2]]);
    expect(eu.why).toMatch(/^eu: all down, answering the default location/);
  });

  test('location and default both down: whenAllDown applies to the location', () => {
    const plan = planRecord(r, [DOWN, UP, DOWN]);
    expect(plan.groups[plan.byLocation.get('eu')!]!.variants).toEqual([[0]]);
  });
});
