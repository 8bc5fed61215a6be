import {
  PeerStateMachine,
  isBetter,
  masterDownInterval,
  skewTime,
  type PeerAdvert,
  type PeerState,
  type PeerStateMachineOptions,
  type TransitionReason,
} from '../../src/manager/peer/state-machine';
import { FakeClock } from '../helpers/fake-clock';

// Timings at the default advertInterval (100 ms); all exact binary fractions.
const A_PRIO = 200; // skew 21.875, down 321.875
const B_PRIO = 100; // skew 60.9375, down 360.9375
const C_PRIO = 150; // skew 41.40625, down 341.40625

type Entry = [from: PeerState, to: PeerState, reason: TransitionReason, at: number];

interface Node {
  id: string;
  sm: PeerStateMachine;
  log: Entry[];
  sent: Array<{ at: number; priority: number; state: PeerState }>;
}

/**
 * Machines wired through a simulated network: every advert is a fake-clock
 * timer (latency 0 by default, so delivery never re-enters the sender), and
 * links can be cut per direction, delayed, or drop the next n adverts.
 */
class Net {
  readonly clock = new FakeClock();
  private readonly nodes = new Map<string, Node>();
  private readonly cut = new Set<string>();
  private readonly drops = new Map<string, number>();
  private readonly latency = new Map<string, number>();
  private readonly dead = new Set<string>();

  add(id: string, priority: number, opts: Partial<PeerStateMachineOptions> = {}, start = true): Node {
    const node: Node = { id, log: [], sent: [], sm: undefined as unknown as PeerStateMachine };
    node.sm = new PeerStateMachine({
      nodeId: id,
      priority,
      clock: this.clock,
      onTransition: (from, to, reason) => node.log.push([from, to, reason, this.clock.now()]),
      sendAdvert: (p, state) => {
        node.sent.push({ at: this.clock.now(), priority: p, state });
        this.broadcast(id, { nodeId: id, priority: p, state });
      },
      ...opts,
    });
    this.nodes.set(id, node);
    this.dead.delete(id);
    if (start) node.sm.start();
    return node;
  }

  private broadcast(from: string, advert: PeerAdvert): void {
    if (this.dead.has(from)) return;
    for (const [to, node] of this.nodes) {
      if (to === from || this.cut.has(`${from}>${to}`)) continue;
      const key = `${from}>${to}`;
      const drop = this.drops.get(key) ?? 0;
      if (drop > 0) {
        this.drops.set(key, drop - 1);
        continue;
      }
      this.clock.setTimeout(() => {
        if (!this.dead.has(to) && this.nodes.get(to) === node) node.sm.receive(advert);
      }, this.latency.get(key) ?? 0);
    }
  }

  cutLink(a: string, b: string, bothWays = true): void {
    this.cut.add(`${a}>${b}`);
    if (bothWays) this.cut.add(`${b}>${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  dropNext(from: string, to: string, n: number): void {
    this.drops.set(`${from}>${to}`, n);
  }

  delay(a: string, b: string, ms: number): void {
    this.latency.set(`${a}>${b}`, ms);
    this.latency.set(`${b}>${a}`, ms);
  }

  /** The process dies: nothing in or out from now on (its stop() adverts are lost too). */
  crash(id: string): void {
    this.dead.add(id);
    this.nodes.get(id)!.sm.stop();
  }

  masters(): string[] {
    return [...this.nodes.values()].filter((n) => n.sm.state === 'master' && n.sm.isRunning).map((n) => n.id);
  }

  advanceTo(t: number): Promise<void> {
    return this.clock.advance(t - this.clock.now());
  }
}

/** A (200) and B (100) started together: A wins at 321.875 and B stays BACKUP. */
async function stablePair(opts: { a?: Partial<PeerStateMachineOptions>; b?: Partial<PeerStateMachineOptions> } = {}) {
  const net = new Net();
  const a = net.add('lb-a', A_PRIO, opts.a);
  const b = net.add('lb-b', B_PRIO, opts.b);
  await net.advanceTo(1000);
  expect(a.log).toEqual([['backup', 'master', 'master-down', 321.875]]);
  expect(b.log).toEqual([]);
  return { net, a, b };
}

describe('timing formulas', () => {
  test('skew and masterDownInterval follow VRRP', () => {
    expect(skewTime(200, 100)).toBe(21.875);
    expect(skewTime(255, 100)).toBe(0.390625);
    expect(masterDownInterval(100, 100)).toBe(360.9375);
    expect(masterDownInterval(150, 1000)).toBe(3414.0625);
    const sm = new PeerStateMachine({ nodeId: 'x', priority: 150, clock: new FakeClock(), onTransition: () => {}, sendAdvert: () => {} });
    expect([sm.advertInterval, sm.preempt, sm.preemptDelay, sm.skewTime, sm.masterDownInterval]).toEqual([100, true, 0, 41.40625, 341.40625]);
  });

  test('better = higher priority, tie → higher nodeId', () => {
    expect(isBetter({ nodeId: 'a', priority: 2 }, { nodeId: 'b', priority: 1 })).toBe(true);
    expect(isBetter({ nodeId: 'b', priority: 1 }, { nodeId: 'a', priority: 1 })).toBe(true);
    expect(isBetter({ nodeId: 'a', priority: 1 }, { nodeId: 'b', priority: 1 })).toBe(false);
  });

  test.each([0, 256, 1.5, NaN])('priority %p is rejected', (priority) => {
    expect(() => new PeerStateMachine({ nodeId: 'x', priority, clock: new FakeClock(), onTransition: () => {}, sendAdvert: () => {} })).toThrow(RangeError);
  });

  test('advertInterval and preemptDelay are validated', () => {
    const base = { nodeId: 'x', priority: 1, clock: new FakeClock(), onTransition: () => {}, sendAdvert: () => {} };
    expect(() => new PeerStateMachine({ ...base, advertInterval: 0 })).toThrow(RangeError);
    expect(() => new PeerStateMachine({ ...base, preemptDelay: -1 })).toThrow(RangeError);
  });
});

describe('startup election', () => {
  test('higher priority wins after its masterDownInterval; the other stays BACKUP', async () => {
    const net = new Net();
    const a = net.add('lb-a', A_PRIO);
    const b = net.add('lb-b', B_PRIO);
    expect([a.sm.state, b.sm.state]).toEqual(['backup', 'backup']);
    // Both advertise from the start (as BACKUP), so each sees the other.
    expect(a.sent).toEqual([{ at: 0, priority: 200, state: 'backup' }]);
    await net.advanceTo(321.875 - 0.001);
    expect(net.masters()).toEqual([]);
    expect(b.sm.lastHeard('lb-a')).toBeCloseTo(21.874, 9); // A's last BACKUP advert: t = 300
    await net.advanceTo(321.875);
    expect(net.masters()).toEqual(['lb-a']);
    await net.advanceTo(10_000);
    expect(a.log).toEqual([['backup', 'master', 'master-down', 321.875]]);
    expect(b.log).toEqual([]);
    expect(b.sm.master).toBe('lb-a');
    expect([a.sm.transitions, b.sm.transitions]).toEqual([1, 0]);
    // A MASTER advertises every advertInterval, starting at its transition.
    const masterAdverts = a.sent.filter((s) => s.state === 'master').map((s) => s.at);
    expect(masterAdverts.slice(0, 3)).toEqual([321.875, 421.875, 521.875]);
    expect(a.sent.every((s) => s.priority === 200)).toBe(true);
    // And the BACKUP keeps advertising too.
    expect(b.sent.filter((s) => s.at > 9000).every((s) => s.state === 'backup' && s.priority === 100)).toBe(true);
    expect(b.sent.filter((s) => s.at > 9000)).toHaveLength(10);
  });

  test('a better node that starts later takes over by preemption', async () => {
    const net = new Net();
    const b = net.add('lb-b', B_PRIO);
    await net.advanceTo(200);
    const a = net.add('lb-a', A_PRIO);
    await net.advanceTo(5000);
    // B wins alone at 360.9375; A (started at 200) hears B's master advert at once and preempts.
    expect(b.log).toEqual([
      ['backup', 'master', 'master-down', 360.9375],
      ['master', 'backup', 'better-master', 360.9375],
    ]);
    expect(a.log).toEqual([['backup', 'master', 'preempt', 360.9375]]);
    expect(net.masters()).toEqual(['lb-a']);
  });

  test.each([
    ['lb-a first', ['lb-a', 'lb-b']],
    ['lb-b first', ['lb-b', 'lb-a']],
  ])('tie on priority → higher nodeId wins (%s)', async (_name, order) => {
    const net = new Net();
    const nodes = Object.fromEntries(order.map((id) => [id, net.add(id, B_PRIO)]));
    await net.advanceTo(5000);
    // Both time out at the same instant; the two master adverts cross and lb-a steps down.
    expect(nodes['lb-a'].log).toEqual([
      ['backup', 'master', 'master-down', 360.9375],
      ['master', 'backup', 'better-master', 360.9375],
    ]);
    expect(nodes['lb-b'].log).toEqual([['backup', 'master', 'master-down', 360.9375]]);
    expect(net.masters()).toEqual(['lb-b']);
  });

  test('tie with link latency: both MASTER for one latency, then the higher nodeId', async () => {
    const net = new Net();
    net.delay('lb-a', 'lb-b', 5);
    const a = net.add('lb-a', B_PRIO);
    const b = net.add('lb-b', B_PRIO);
    await net.advanceTo(360.9375);
    expect(net.masters()).toEqual(['lb-a', 'lb-b']);
    await net.advanceTo(5000);
    expect(a.log).toEqual([
      ['backup', 'master', 'master-down', 360.9375],
      ['master', 'backup', 'better-master', 365.9375],
    ]);
    expect(b.log).toEqual([['backup', 'master', 'master-down', 360.9375]]);
  });

  test('equal priority never preempts: a tie does not displace a live master', async () => {
    const net = new Net();
    const a = net.add('lb-a', B_PRIO);
    await net.advanceTo(500);
    const b = net.add('lb-b', B_PRIO);
    await net.advanceTo(5000);
    expect(a.log).toEqual([['backup', 'master', 'master-down', 360.9375]]);
    expect(b.log).toEqual([]);
  });
});

describe('master dies (silence)', () => {
  test('backup takes over exactly masterDownInterval after the last advert heard', async () => {
    const { net, a, b } = await stablePair();
    net.crash('lb-a'); // t = 1000; A's last advert went out at 921.875
    expect(a.log.at(-1)).toEqual(['master', 'backup', 'stop', 1000]);
    const takeover = 921.875 + 3 * 100 + 60.9375;
    await net.advanceTo(takeover - 0.001);
    expect(b.sm.state).toBe('backup');
    expect(b.sm.lastHeard('lb-a')).toBeCloseTo(takeover - 0.001 - 921.875, 9);
    await net.advanceTo(takeover);
    expect(b.sm.state).toBe('master');
    await net.advanceTo(5000);
    expect(b.log).toEqual([['backup', 'master', 'master-down', 1282.8125]]);
  });

  test('two lost adverts are tolerated; three plus skew are not', async () => {
    const { net, b } = await stablePair();
    net.dropNext('lb-a', 'lb-b', 2); // 1021.875 and 1121.875 lost
    await net.advanceTo(3000);
    expect(b.log).toEqual([]);
    net.dropNext('lb-a', 'lb-b', 3); // 3021.875, 3121.875, 3221.875 lost; last heard 2921.875
    await net.advanceTo(4000);
    expect(b.log).toEqual([
      ['backup', 'master', 'master-down', 2921.875 + 360.9375],
      // B's first master advert reaches A, which answers at once: A is better, B steps down.
      ['master', 'backup', 'better-master', 2921.875 + 360.9375],
    ]);
  });

  test('with three nodes the better backup wins the race and the other stays BACKUP', async () => {
    const net = new Net();
    const a = net.add('lb-a', A_PRIO);
    const b = net.add('lb-b', B_PRIO);
    const c = net.add('lb-c', C_PRIO);
    await net.advanceTo(1000);
    net.crash('lb-a');
    await net.advanceTo(5000);
    expect(a.log).toEqual([
      ['backup', 'master', 'master-down', 321.875],
      ['master', 'backup', 'stop', 1000],
    ]);
    expect(c.log).toEqual([['backup', 'master', 'master-down', 921.875 + 341.40625]]);
    expect(b.log).toEqual([]);
    expect(b.sm.master).toBe('lb-c');
  });
});

describe('graceful stop (priority 0)', () => {
  test('stop() sends 3 priority-0 adverts at once; the backup takes over after skew (< one advert)', async () => {
    const { net, a, b } = await stablePair();
    const before = a.sent.length;
    a.sm.stop();
    expect(a.sent.slice(before)).toEqual([
      { at: 1000, priority: 0, state: 'master' },
      { at: 1000, priority: 0, state: 'master' },
      { at: 1000, priority: 0, state: 'master' },
    ]);
    expect(a.log.at(-1)).toEqual(['master', 'backup', 'stop', 1000]);
    await net.advanceTo(1000 + 60.9375 - 0.001);
    expect(b.sm.state).toBe('backup');
    await net.advanceTo(5000);
    expect(b.log).toEqual([['backup', 'master', 'master-released', 1060.9375]]);
    expect(1060.9375 - 1000).toBeLessThanOrEqual(100);
    expect(a.sent.length).toBe(before + 3); // silent after stop
    expect(a.sm.transitions).toBe(2);
    expect(net.masters()).toEqual(['lb-b']);
  });

  test('one surviving priority-0 advert out of three is enough', async () => {
    const { net, a, b } = await stablePair();
    net.dropNext('lb-a', 'lb-b', 2);
    a.sm.stop();
    await net.advanceTo(2000);
    expect(b.log).toEqual([['backup', 'master', 'master-released', 1060.9375]]);
  });

  test('a priority-0 advert never postpones a takeover already due sooner than skew', async () => {
    const { net, b } = await stablePair();
    net.cutLink('lb-a', 'lb-b'); // last heard 921.875: due at 1282.8125
    await net.advanceTo(1250);
    b.sm.receive({ nodeId: 'lb-a', priority: 0, state: 'master' }); // skew would be 1310.9375
    await net.advanceTo(2000);
    expect(b.log[0]).toEqual(['backup', 'master', 'master-down', 1282.8125]);
  });

  test('with three nodes the better backup wins the skew race', async () => {
    const net = new Net();
    const a = net.add('lb-a', A_PRIO);
    const b = net.add('lb-b', B_PRIO);
    const c = net.add('lb-c', C_PRIO);
    await net.advanceTo(1000);
    a.sm.stop();
    await net.advanceTo(5000);
    expect(c.log).toEqual([['backup', 'master', 'master-released', 1041.40625]]);
    expect(b.log).toEqual([]);
  });

  test('stop() on a BACKUP sends priority 0 and changes nothing for the master', async () => {
    const { net, a, b } = await stablePair();
    b.sm.stop();
    expect(b.sent.slice(-3)).toEqual(Array(3).fill({ at: 1000, priority: 0, state: 'backup' }));
    await net.advanceTo(5000);
    expect(b.log).toEqual([]);
    expect(a.log).toHaveLength(1);
    expect(b.sm.lastHeard('lb-a')).toBe(5000 - 4921.875); // still listens after stop
  });
});

describe('preemption', () => {
  async function restartScenario(aOpts: Partial<PeerStateMachineOptions>, bOpts: Partial<PeerStateMachineOptions> = {}) {
    const { net, b } = await stablePair({ a: aOpts, b: bOpts });
    net.crash('lb-a');
    await net.advanceTo(2000);
    expect(b.log).toEqual([['backup', 'master', 'master-down', 1282.8125]]);
    // B advertises at 1282.8125 + k·100: the first one the restarted A hears is at 2082.8125.
    const a2 = net.add('lb-a', A_PRIO, aOpts);
    return { net, a2, b };
  }

  test('preempt on: the better node restarts and takes over at the first master advert it hears', async () => {
    const { net, a2, b } = await restartScenario({});
    await net.advanceTo(2082.8125 - 0.001);
    expect(a2.sm.state).toBe('backup');
    await net.advanceTo(10_000);
    expect(a2.log).toEqual([['backup', 'master', 'preempt', 2082.8125]]);
    expect(b.log).toEqual([
      ['backup', 'master', 'master-down', 1282.8125],
      ['master', 'backup', 'better-master', 2082.8125],
    ]);
    expect(net.masters()).toEqual(['lb-a']);
  });

  test('preempt off: the better node stays BACKUP under a live lower master', async () => {
    const { net, a2, b } = await restartScenario({ preempt: false });
    await net.advanceTo(10_000);
    expect(a2.log).toEqual([]);
    expect(a2.sm.master).toBe('lb-b');
    expect(b.log).toEqual([['backup', 'master', 'master-down', 1282.8125]]);
    // ...until the master advertises priority 0: then after skew.
    b.sm.stop();
    await net.advanceTo(11_000);
    expect(a2.log).toEqual([['backup', 'master', 'master-released', 10_000 + 21.875]]);
  });

  test('preempt off: a silent master is still replaced after masterDownInterval', async () => {
    const { net, a2 } = await restartScenario({ preempt: false });
    await net.advanceTo(10_000);
    net.crash('lb-b'); // B's last advert at 9982.8125
    await net.advanceTo(11_000);
    expect(a2.log).toEqual([['backup', 'master', 'master-down', 9982.8125 + 321.875]]);
  });

  test.each([250, 1000])('preemptDelay %p ms: not before, yes after (master-down never fires first)', async (delay) => {
    const { net, a2, b } = await restartScenario({ preemptDelay: delay });
    const due = 2082.8125 + delay;
    await net.advanceTo(due - 0.001);
    expect(a2.log).toEqual([]);
    expect(net.masters()).toEqual(['lb-b']);
    await net.advanceTo(due);
    expect(net.masters()).toEqual(['lb-a']);
    await net.advanceTo(10_000);
    expect(a2.log).toEqual([['backup', 'master', 'preempt', due]]);
    expect(b.log.at(-1)).toEqual(['master', 'backup', 'better-master', due]);
  });

  test('readyToPreempt: the better node waits for it (a full session sync), at most preemptSyncWait', async () => {
    let ready = false;
    const gated = await restartScenario({ readyToPreempt: () => ready, preemptSyncWait: 3000 });
    await gated.net.advanceTo(2500);
    expect(gated.a2.log).toEqual([]); // B's adverts heard since 2082.8125, but not ready
    ready = true;
    await gated.net.advanceTo(10_000);
    expect(gated.a2.log).toEqual([['backup', 'master', 'preempt', 2582.8125]]); // B's next advert

    // Never ready: it takes over anyway once the wait is over (at a master advert).
    const stuck = await restartScenario({ readyToPreempt: () => false, preemptSyncWait: 3000 });
    await stuck.net.advanceTo(10_000);
    expect(stuck.a2.log).toEqual([['backup', 'master', 'preempt', 2082.8125 + 3000]]);
  });

  test('a pending preemption is dropped when the master releases; skew decides instead', async () => {
    const { net, a2, b } = await restartScenario({ preemptDelay: 1000 });
    await net.advanceTo(2500);
    b.sm.stop();
    await net.advanceTo(10_000);
    expect(a2.log).toEqual([['backup', 'master', 'master-released', 2521.875]]);
  });
});

describe('fault', () => {
  test('master faults → backup takes over after skew; fault cleared → preempts back', async () => {
    const { net, a, b } = await stablePair();
    a.sm.setFault(true);
    expect(a.sm.state).toBe('fault');
    expect(a.sm.effectivePriority).toBe(0);
    expect(a.sent.at(-1)).toEqual({ at: 1000, priority: 0, state: 'fault' });
    await net.advanceTo(2000);
    expect(b.log).toEqual([['backup', 'master', 'master-released', 1060.9375]]);
    // A FAULT node keeps advertising, at priority 0.
    expect(a.sent.filter((s) => s.at > 1000).map((s) => [s.priority, s.state])).toEqual(Array(10).fill([0, 'fault']));
    // It ignores master adverts while faulty but still tracks them.
    expect(a.sm.lastHeard('lb-b')).toBe(2000 - 1960.9375);
    a.sm.setFault(false);
    await net.advanceTo(5000);
    expect(a.log).toEqual([
      ['backup', 'master', 'master-down', 321.875],
      ['master', 'fault', 'fault', 1000],
      ['fault', 'backup', 'fault-cleared', 2000],
      ['backup', 'master', 'preempt', 2060.9375],
    ]);
    expect(b.log).toEqual([
      ['backup', 'master', 'master-released', 1060.9375],
      ['master', 'backup', 'better-master', 2060.9375],
    ]);
    expect(a.sm.transitions).toBe(4);
  });

  test('fault cleared with preempt off: stays BACKUP', async () => {
    const { net, a, b } = await stablePair({ a: { preempt: false } });
    a.sm.setFault(true);
    await net.advanceTo(2000);
    a.sm.setFault(false);
    await net.advanceTo(5000);
    expect(a.log.slice(1)).toEqual([
      ['master', 'fault', 'fault', 1000],
      ['fault', 'backup', 'fault-cleared', 2000],
    ]);
    expect(b.log).toEqual([['backup', 'master', 'master-released', 1060.9375]]);
  });

  test('a faulty BACKUP never takes over, even when the master goes silent', async () => {
    const { net, a, b } = await stablePair();
    b.sm.setFault(true);
    b.sm.setFault(true); // idempotent
    net.crash('lb-a');
    await net.advanceTo(5000);
    expect(b.log).toEqual([['backup', 'fault', 'fault', 1000]]);
    expect(a.log).toHaveLength(2);
    // Cleared with nobody around: BACKUP, then MASTER after a full masterDownInterval.
    b.sm.setFault(false);
    b.sm.setFault(false); // idempotent
    await net.advanceTo(6000);
    expect(b.log.slice(1)).toEqual([
      ['fault', 'backup', 'fault-cleared', 5000],
      ['backup', 'master', 'master-down', 5360.9375],
    ]);
  });

  test("a faulty backup's priority-0 adverts do not make the other backup take over", async () => {
    const net = new Net();
    net.add('lb-a', A_PRIO);
    const b = net.add('lb-b', B_PRIO);
    const c = net.add('lb-c', C_PRIO);
    await net.advanceTo(1000);
    c.sm.setFault(true);
    await net.advanceTo(5000);
    expect(b.log).toEqual([]);
    expect(net.masters()).toEqual(['lb-a']);
  });
});

describe('split brain', () => {
  test.each([
    // heal at 1500: A (better) speaks first at 1521.875 and B steps down on hearing it.
    [1500, 1521.875],
    // heal at 1550: B speaks first at 1582.8125; A answers at once and B steps down.
    [1550, 1582.8125],
  ])('cut both ways → both MASTER; heal at %p → one MASTER at %p (< one advert)', async (healAt, resolvedAt) => {
    const { net, a, b } = await stablePair();
    net.cutLink('lb-a', 'lb-b');
    await net.advanceTo(1400);
    expect(net.masters()).toEqual(['lb-a', 'lb-b']);
    await net.advanceTo(healAt);
    net.heal();
    await net.advanceTo(resolvedAt - 0.001);
    expect(net.masters()).toEqual(['lb-a', 'lb-b']);
    await net.advanceTo(resolvedAt);
    expect(net.masters()).toEqual(['lb-a']);
    expect(resolvedAt - healAt).toBeLessThanOrEqual(100);
    await net.advanceTo(10_000);
    expect(a.log).toEqual([['backup', 'master', 'master-down', 321.875]]);
    expect(b.log).toEqual([
      ['backup', 'master', 'master-down', 1282.8125],
      ['master', 'backup', 'better-master', resolvedAt],
    ]);
  });

  test('a one-way cut (B cannot hear A) is resolved by A answering B', async () => {
    const { net, a, b } = await stablePair();
    net.cutLink('lb-a', 'lb-b', false);
    await net.advanceTo(1282.8125);
    // B became MASTER; its first advert reached A, which answered at once — but B cannot hear it.
    expect(net.masters()).toEqual(['lb-a', 'lb-b']);
    net.heal();
    await net.advanceTo(1382.8125);
    expect(net.masters()).toEqual(['lb-a']);
    expect(a.log).toHaveLength(1);
    expect(b.log.at(-1)).toEqual(['master', 'backup', 'better-master', 1382.8125]);
  });
});

describe('receive', () => {
  test('adverts from our own nodeId are ignored', async () => {
    const net = new Net();
    const b = net.add('lb-b', B_PRIO);
    // Our own looped-back master adverts with a higher priority must not hold the down timer.
    for (let t = 50; t < 360; t += 50) {
      await net.advanceTo(t);
      b.sm.receive({ nodeId: 'lb-b', priority: 255, state: 'master' });
    }
    await net.advanceTo(360.9375);
    expect(b.log).toEqual([['backup', 'master', 'master-down', 360.9375]]);
    // As MASTER, our own better master advert does not make us step down.
    b.sm.receive({ nodeId: 'lb-b', priority: 255, state: 'master' });
    expect(b.sm.state).toBe('master');
    expect(b.sm.lastHeard('lb-b')).toBeUndefined();
  });

  test('malformed adverts are ignored', async () => {
    const net = new Net();
    const b = net.add('lb-b', B_PRIO);
    for (const bad of [256, -1, 1.5, NaN]) b.sm.receive({ nodeId: 'x', priority: bad, state: 'master' });
    b.sm.receive({ nodeId: 'x', priority: 200, state: 'boss' as PeerState });
    await net.advanceTo(360.9375);
    expect(b.log).toEqual([['backup', 'master', 'master-down', 360.9375]]);
    expect(b.sm.lastHeard('x')).toBeUndefined();
  });

  test('a MASTER answers a priority-0 master advert at once and keeps mastership', async () => {
    const { net, a } = await stablePair();
    const before = a.sent.length;
    a.sm.receive({ nodeId: 'lb-z', priority: 0, state: 'master' });
    expect(a.sent.slice(before)).toEqual([{ at: 1000, priority: 200, state: 'master' }]);
    await net.advanceTo(1100);
    expect(a.sent.slice(before).map((s) => s.at)).toEqual([1000, 1100]); // advert period restarts
    expect(a.log).toHaveLength(1);
  });

  test('a MASTER ignores BACKUP adverts, even from better nodes', async () => {
    const { net, a } = await stablePair();
    a.sm.receive({ nodeId: 'lb-z', priority: 255, state: 'backup' });
    await net.advanceTo(2000);
    expect(a.log).toHaveLength(1);
  });

  test('not started: nothing is sent or scheduled; stop() is a no-op', async () => {
    const net = new Net();
    const n = net.add('lb-a', A_PRIO, {}, false);
    n.sm.stop();
    await net.advanceTo(5000);
    expect(n.sent).toEqual([]);
    expect(n.log).toEqual([]);
    expect(net.clock.pending).toBe(0);
  });

  test('after stop() no timer of the machine is left', async () => {
    const { net, a, b } = await stablePair();
    a.sm.stop();
    b.sm.stop();
    await net.advanceTo(1000.001); // deliver the in-flight adverts
    expect(net.clock.pending).toBe(0);
  });
});
