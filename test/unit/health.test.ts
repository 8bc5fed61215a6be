import { Backend } from '../../src/pool/backend';
import { HealthChecker, type HealthCheckerOptions } from '../../src/manager/health/checker';
import type { ProbeResult } from '../../src/manager/health/tcp-probe';
import { HealthThresholds } from '../../src/manager/health/thresholds';
import { FakeClock } from '../helpers/fake-clock';

function mk(i: number): Backend {
  const address = { host: '127.0.0.1', port: 1000 + i, family: 4 as const, text: `127.0.0.1:${1000 + i}` };
  return new Backend({ address, name: `b${i}`, weight: 1, backup: false, maxConnections: 0 });
}

/**
 * What the n-th probe (0-based, per backend) answers: ok (with latency `ms`) or
 * a reason, after `after` ms of fake time; 'hang' never answers.
 */
type Step = { ok: boolean; ms?: number; reason?: string; after?: number } | 'hang';
const OK: Step = { ok: true };
const FAIL: Step = { ok: false, reason: 'ECONNREFUSED' };

/** A checker on a fake clock with a scripted probe that records every call and the peak concurrency. */
function harness(script: (n: number, backend: Backend) => Step, opts: Partial<HealthCheckerOptions> = {}) {
  const clock = new FakeClock();
  const calls: Array<{ name: string; at: number }> = [];
  const changes: Array<[name: string, up: boolean, reason: string, atCheck: number]> = [];
  const perBackend = new Map<Backend, number>();
  const conc = { active: 0, max: 0 };
  const probe = (backend: Backend): Promise<ProbeResult> => {
    const n = perBackend.get(backend) ?? 0;
    perBackend.set(backend, n + 1);
    calls.push({ name: backend.name, at: clock.now() });
    conc.active++;
    conc.max = Math.max(conc.max, conc.active);
    const step = script(n, backend);
    if (step === 'hang') return new Promise(() => {});
    const result: ProbeResult = step.ok ? { ok: true, ms: step.ms ?? 0 } : { ok: false, reason: step.reason ?? 'ECONNREFUSED' };
    return new Promise((resolve) =>
      clock.setTimeout(() => {
        conc.active--;
        resolve(result);
      }, step.after ?? 0),
    );
  };
  const checker: HealthChecker = new HealthChecker({
    interval: 1000,
    timeout: 500,
    rise: 2,
    fall: 3,
    jitter: 0,
    clock,
    probe,
    onChange: (b, up, reason) => changes.push([b.name, up, reason, checker.info(b)!.checks]),
    ...opts,
  });
  const callsOf = (name: string) => calls.filter((c) => c.name === name).length;
  return { clock, calls, changes, conc, checker, callsOf };
}

/** Feed results to fresh thresholds; return the 1-based indexes of the results that changed the verdict. */
function flips(rise: number, fall: number, results: boolean[], t = new HealthThresholds(rise, fall)): number[] {
  return results.flatMap((ok, i) => (t.record(ok) ? [i + 1] : []));
}

describe('HealthThresholds', () => {
  test('the first result decides at once; then fall 3 / rise 2 consecutive results flip it', () => {
    const t = new HealthThresholds(2, 3);
    expect(t.up).toBeNull();
    expect(flips(2, 3, [false], t)).toEqual([1]);
    expect(t.up).toBe(false);
    expect(flips(2, 3, [true, false, true, true, false, false, true, false, false, false], t)).toEqual([4, 10]);
    expect(t.up).toBe(false);
    expect(flips(2, 3, [true])).toEqual([1]);
  });

  test('a failure every third result never flaps (rise 2, fall 3), from up or from down', () => {
    const every3 = (offset: number) => Array.from({ length: 100 }, (_, i) => (i + offset) % 3 !== 0);
    expect(flips(2, 3, every3(1))).toEqual([1]);
    expect(flips(2, 3, every3(0))).toEqual([1, 3]);
  });

  test('forceDown needs rise fresh successes; bad rise/fall are rejected', () => {
    const t = new HealthThresholds(2, 3);
    t.record(true);
    expect([t.forceDown(), t.forceDown()]).toEqual([true, false]);
    expect(flips(2, 3, [true, true], t)).toEqual([2]);
    expect(() => new HealthThresholds(0, 3)).toThrow(RangeError);
    expect(() => new HealthThresholds(2, 1.5)).toThrow(RangeError);
  });
});

describe('HealthChecker', () => {
  test('first verdict is immediate: up or down, with the probe reason', async () => {
    expect.assertions(5);
    const up = harness(() => OK);
    const down = harness(() => FAIL);
    const [b0, b1] = [mk(0), mk(1)];
    up.checker.add(b0);
    down.checker.add(b1);
    expect(up.calls).toEqual([{ name: 'b0', at: 0 }]); // started synchronously by add()
    await Promise.all([up.clock.advance(0), down.clock.advance(0)]);
    expect(up.changes).toEqual([['b0', true, 'ok', 1]]);
    expect(down.changes).toEqual([['b1', false, 'ECONNREFUSED', 1]]);
    expect([up.checker.verdict(b0), down.checker.verdict(b1)]).toEqual([true, false]);
    expect(down.checker.info(b1)).toMatchObject({ checks: 1, lastOk: false, lastFailure: 'ECONNREFUSED', lastFailureAt: 0 });
  });

  test('fall 3: down after exactly 3 consecutive failures', async () => {
    expect.assertions(4);
    const h = harness((n) => (n === 0 ? OK : FAIL));
    const b = mk(0);
    h.checker.add(b);
    await h.clock.advance(2000); // checks at 0 (ok), 1000, 2000 (2 failures)
    expect(h.checker.verdict(b)).toBe(true);
    expect(h.checker.info(b)).toMatchObject({ checks: 3, consecutiveFailures: 2, consecutiveSuccesses: 0 });
    await h.clock.advance(1000);
    expect(h.checker.verdict(b)).toBe(false);
    expect(h.changes).toEqual([
      ['b0', true, 'ok', 1],
      ['b0', false, 'ECONNREFUSED', 4],
    ]);
  });

  test('rise 2: up after exactly 2 consecutive successes', async () => {
    expect.assertions(3);
    const h = harness((n) => (n === 0 ? FAIL : { ok: true, ms: 7 }));
    const b = mk(0);
    h.checker.add(b);
    await h.clock.advance(1000);
    expect(h.checker.verdict(b)).toBe(false);
    await h.clock.advance(1000);
    expect(h.changes).toEqual([
      ['b0', false, 'ECONNREFUSED', 1],
      ['b0', true, 'ok', 3],
    ]);
    expect(h.checker.info(b)).toMatchObject({ checks: 3, lastOk: true, lastMs: 7, lastCheckAt: 2000, consecutiveSuccesses: 2 });
  });

  test('a failure every third check never flaps over 100 checks, from up or from down', async () => {
    expect.assertions(4);
    const fromUp = harness((n) => ((n + 1) % 3 === 0 ? FAIL : OK));
    const fromDown = harness((n) => (n % 3 === 0 ? FAIL : OK));
    fromUp.checker.add(mk(0));
    fromDown.checker.add(mk(1));
    await Promise.all([fromUp.clock.advance(99_000), fromDown.clock.advance(99_000)]);
    expect(fromUp.calls).toHaveLength(100);
    expect(fromUp.changes).toEqual([['b0', true, 'ok', 1]]);
    expect(fromDown.calls).toHaveLength(100);
    // Down on the first failure, up after 2 successes, then never down again.
    expect(fromDown.changes).toEqual([
      ['b1', false, 'ECONNREFUSED', 1],
      ['b1', true, 'ok', 3],
    ]);
  });

  test('at most one check in flight: a probe slower than the interval delays the next one', async () => {
    expect.assertions(5);
    const h = harness(() => ({ ok: true, after: 2500 }), { timeout: 5000 });
    const b = mk(0);
    h.checker.add(b);
    await h.clock.advance(3499); // answer at 2500, next check 1000 after that
    expect(h.calls).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.calls).toHaveLength(2);
    await h.clock.advance(20_000 - 3500);
    expect(h.calls.map((c) => c.at)).toEqual([0, 3500, 7000, 10500, 14000, 17500]);
    expect(h.conc.max).toBe(1);
    expect(h.changes).toEqual([['b0', true, 'ok', 1]]);
  });

  test('a probe past the timeout counts as failed at the timeout; its late answer is ignored', async () => {
    expect.assertions(5);
    const h = harness((n) => (n === 0 ? { ok: true, after: 2500 } : 'hang'));
    const b = mk(0);
    h.checker.add(b);
    await h.clock.advance(500);
    expect(h.changes).toEqual([['b0', false, 'timeout', 1]]);
    await h.clock.advance(3000); // late ok at 2500 is not counted; next check starts at 3500
    expect(h.checker.info(b)).toMatchObject({ checks: 1, inFlight: true, up: false });
    expect(h.calls.map((c) => c.at)).toEqual([0, 3500]);
    await h.clock.advance(60_000); // the second probe hangs forever: no pile-up behind it
    expect(h.calls).toHaveLength(2);
    expect(h.conc.max).toBe(1);
  });

  test('jitter keeps every gap within interval ± 10%', async () => {
    expect.assertions(4);
    const seq = [0, 0.999999, 0.5, 0.25, 0.75, 0.1];
    let i = 0;
    const h = harness(() => OK, { jitter: undefined, random: () => seq[i++ % seq.length] });
    h.checker.add(mk(0));
    await h.clock.advance(60_000);
    const gaps = h.calls.slice(1).map((c, k) => c.at - h.calls[k].at);
    expect(gaps.length).toBeGreaterThanOrEqual(50);
    expect(gaps.every((g) => g >= 900 && g <= 1100)).toBe(true);
    expect(Math.min(...gaps)).toBe(900);
    expect(Math.max(...gaps)).toBeGreaterThan(1099);
  });

  test('remove stops the checks of that backend only', async () => {
    expect.assertions(5);
    const h = harness(() => OK);
    const [b0, b1] = [mk(0), mk(1)];
    h.checker.add(b0);
    h.checker.add(b1);
    await h.clock.advance(2000);
    h.checker.remove(b0);
    await h.clock.advance(10_000);
    expect(h.callsOf('b0')).toBe(3);
    expect(h.callsOf('b1')).toBe(13);
    expect(h.checker.verdict(b0)).toBeNull();
    h.checker.stop();
    await h.clock.advance(10_000);
    expect(h.callsOf('b1')).toBe(13);
    expect(h.clock.pending).toBe(0);
  });

  test('remove during a check: its answer is ignored and firstRound does not wait for it', async () => {
    expect.assertions(4);
    const h = harness(() => ({ ok: true, after: 300 }));
    const b = mk(0);
    h.checker.add(b);
    let firstRoundDone = false;
    void h.checker.firstRound([b]).then(() => (firstRoundDone = true));
    await h.clock.advance(100);
    h.checker.remove(b);
    await h.clock.advance(0);
    expect(firstRoundDone).toBe(true);
    await h.clock.advance(10_000);
    expect(h.calls).toHaveLength(1);
    expect(h.changes).toEqual([]);
    expect(h.checker.info(b)).toBeUndefined();
  });

  test('firstRound resolves once every backend has its first result', async () => {
    expect.assertions(4);
    const h = harness((_n, b) => ({ ok: true, after: b.name === 'b0' ? 200 : 400 }));
    const [b0, b1] = [mk(0), mk(1)];
    h.checker.add(b0);
    h.checker.add(b1);
    const done = { all: false, b0: false };
    void h.checker.firstRound().then(() => (done.all = true));
    void h.checker.firstRound([b0]).then(() => (done.b0 = true));
    await h.clock.advance(399);
    expect(done).toEqual({ all: false, b0: true });
    await h.clock.advance(1);
    expect(done).toEqual({ all: true, b0: true });
    expect(h.calls).toHaveLength(2);
    expect(h.changes.map((c) => c[0])).toEqual(['b0', 'b1']);
  });

  test('passiveDown: rise successes are needed before onChange(true)', async () => {
    expect.assertions(6);
    const h = harness(() => OK);
    const b = mk(0);
    h.checker.add(b);
    await h.clock.advance(0);
    expect(h.checker.passiveDown(b)).toBe(true);
    expect(h.checker.verdict(b)).toBe(false);
    await h.clock.advance(1000);
    expect(h.checker.verdict(b)).toBe(false);
    expect(h.changes).toHaveLength(1); // passiveDown itself does not call onChange
    await h.clock.advance(1000);
    expect(h.changes).toEqual([
      ['b0', true, 'ok', 1],
      ['b0', true, 'ok', 3],
    ]);
    expect(h.checker.passiveDown(mk(9))).toBe(false); // unknown backend
  });

  test('onChange fires only on verdict changes; onResult on every result', async () => {
    expect.assertions(3);
    const pattern = [true, false, false, false, false, true, true, true, false, true];
    let results = 0;
    const h = harness((n) => (pattern[n] ? OK : FAIL), { onResult: () => results++ });
    h.checker.add(mk(0));
    await h.clock.advance(9000);
    expect(h.calls).toHaveLength(10);
    expect(results).toBe(10);
    expect(h.changes).toEqual([
      ['b0', true, 'ok', 1],
      ['b0', false, 'ECONNREFUSED', 4],
      ['b0', true, 'ok', 7],
    ]);
  });

  test('a probe that throws or rejects is a failed check', async () => {
    expect.assertions(2);
    const clock = new FakeClock();
    const changes: string[] = [];
    const checker = new HealthChecker({
      ...{ interval: 1000, timeout: 500, rise: 1, fall: 1, jitter: 0, clock },
      probe: (b) => {
        if (b.name === 'b1') throw new Error('sync');
        return Promise.reject(new Error('boom'));
      },
      onChange: (b, up, reason) => changes.push(`${b.name} ${up} ${reason}`),
    });
    checker.add(mk(0));
    checker.add(mk(1));
    await clock.advance(0);
    expect(changes).toHaveLength(2);
    expect(changes).toEqual(['b0 false boom', 'b1 false sync']);
  });
});
