/**
 * The time source of the health checker, injected so tests drive it with a
 * fake clock instead of waiting real intervals.
 */
import { guarded } from '../../timers';

export interface Clock {
  /** Milliseconds; used for "last check at" in status output. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  // Wall-clock time: status output shows when the last check ran.
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    // Health checks and the pair's state machine run on this clock: their callbacks are guarded.
    const t = setTimeout(guarded('clock timer', fn), ms);
    // Check timers alone must not keep the process alive; listeners do that.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
