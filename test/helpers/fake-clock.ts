import type { Clock } from '../../src/manager/health/clock';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Let every pending promise callback run (a macrotask turn drains the microtask queue). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A deterministic scheduler for the health checker: time moves only in
 * advance(), due timers run in (time, insertion) order, and promises settle
 * between timers so a probe's answer is seen before the next timer fires.
 */
export class FakeClock implements Clock {
  private time = 0;
  private nextId = 1;
  private timers: Timer[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    // Insert after every timer due at the same time or earlier: FIFO for equal times.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers not yet run or cleared. */
  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    while (this.timers.length > 0 && this.timers[0].at <= end) {
      const timer = this.timers.shift()!;
      this.time = timer.at;
      timer.fn();
      await settle();
    }
    this.time = end;
  }
}
