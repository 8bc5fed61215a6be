import type { DampingConfig } from '../../src/config/types';
import { FlapDamper } from '../../src/manager/health/damping';
import { FakeClock } from '../helpers/fake-clock';

const CONFIG: DampingConfig = { changes: 4, window: 60_000, hold: 30_000, maxHold: 100_000 };

/** A damper on a fake clock that records when it damped (with the hold) and released. */
function harness(config = CONFIG) {
  const clock = new FakeClock();
  const events: Array<[string, number, number?]> = [];
  const damper = new FlapDamper<string>(config, clock, (k, hold) => events.push(['damp', clock.now(), hold]), () => events.push(['release', clock.now()]));
  /** `n` verdict changes, `gap` ms apart. */
  const flap = async (n: number, gap = 1000) => {
    for (let i = 0; i < n; i++) {
      damper.record('b');
      await clock.advance(gap);
    }
  };
  return { clock, damper, events, flap };
}

test('more than `changes` verdict changes in the window damp; the hold ends with a release', async () => {
  expect.assertions(5);
  const { clock, damper, events, flap } = harness();
  await flap(4);
  expect(damper.remaining('b')).toBeNull(); // four changes: not more than four
  await flap(1);
  expect(events).toEqual([['damp', 4000, 30_000]]);
  expect(damper.remaining('b')).toBe(29_000);
  await clock.advance(29_000);
  expect(events.at(-1)).toEqual(['release', 34_000]);
  expect(damper.remaining('b')).toBeNull();
});

test('changes spread wider than the window never damp', async () => {
  expect.assertions(1);
  const { damper, flap } = harness();
  await flap(20, 15_001); // at most 4 changes in any 60 s
  expect(damper.remaining('b')).toBeNull();
});

test('each repeat doubles the hold up to maxHold; quiet windows take doublings back', async () => {
  expect.assertions(3);
  const { clock, damper, events, flap } = harness();
  const holds = () => events.filter((e) => e[0] === 'damp').map((e) => e[2]);
  const serveHold = () => clock.advance(damper.remaining('b')!);
  for (let i = 0; i < 3; i++) {
    await flap(5);
    await serveHold();
  }
  expect(holds()).toEqual([30_000, 60_000, 100_000]); // 120 s capped at maxHold
  // Two quiet windows take two doublings back: the next hold is 60 s, not 100.
  await clock.advance(2 * CONFIG.window);
  await flap(5);
  expect(holds().at(-1)).toBe(60_000);
  expect(events.filter((e) => e[0] === 'release')).toHaveLength(3);
});

test('a backend that keeps flapping while held is held again at once, with a longer hold', async () => {
  expect.assertions(2);
  const { damper, events, flap } = harness();
  await flap(5);
  await flap(5); // during the 30 s hold
  expect(events.map((e) => e[0])).toEqual(['damp', 'damp']);
  expect(damper.remaining('b')).toBe(60_000 - 1000); // the second hold began at the fifth new change
});
