import type { Backend } from '../pool/backend';
import { guarded } from '../timers';

/** The ramp never starts at exactly 0: balancers skip weight-0 backends, and a recovered one must get *some* traffic. */
const FLOOR = 0.01;
/** Ramp steps per window: fine enough to look linear, coarse enough to cost nothing. */
const STEPS = 20;
const MIN_TICK_MS = 50;

/**
 * Slow start: after a backend recovers, its effective weight rises linearly
 * from ~0 to its weight over `window` ms. One coarse timer per service walks
 * every ramping backend's `rampFactor` (a plain number the balancers multiply
 * in), instead of a clock read on every pick.
 */
export class SlowStart {
  private readonly ramping = new Map<Backend, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private window: number,
    /** Called after factors changed, so balancers that precompute weights can refresh. */
    private readonly onStep: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  setWindow(window: number): void {
    this.window = window;
    if (window <= 0) for (const b of [...this.ramping.keys()]) this.finish(b);
  }

  /** A backend became usable again: start its ramp (no-op when slow start is off). */
  begin(backend: Backend): void {
    if (this.window <= 0) return;
    this.ramping.set(backend, this.now());
    backend.rampFactor = FLOOR;
    this.timer ??= setInterval(guarded('slow start step', () => this.step()), Math.max(MIN_TICK_MS, this.window / STEPS));
    this.timer.unref();
  }

  /** The backend went away (down, removed): it ramps afresh next time. */
  cancel(backend: Backend): void {
    if (this.ramping.has(backend)) this.finish(backend);
  }

  isRamping(backend: Backend): boolean {
    return this.ramping.has(backend);
  }

  stop(): void {
    for (const b of [...this.ramping.keys()]) this.finish(b);
  }

  step(): void {
    const now = this.now();
    for (const [backend, since] of this.ramping) {
      const f = (now - since) / this.window;
      if (f >= 1) this.finish(backend);
      else backend.rampFactor = Math.max(FLOOR, f);
    }
    this.onStep();
  }

  private finish(backend: Backend): void {
    backend.rampFactor = 1;
    this.ramping.delete(backend);
    if (this.ramping.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
