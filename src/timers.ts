import { rootLogger } from './log';

/**
 * No timer callback may take the process down: an exception thrown in one
 * would be uncaught, and a pair's standby would then take over and die the
 * same way. Every setTimeout / setInterval callback in src/ is wrapped once
 * (at module load or construction, never per call) by guarded(): the
 * exception is logged, counted (fulcrum_timer_errors_total) and the process
 * carries on. Promise chains started by timers end in reportTimerError too.
 */
export const timerErrors = { total: 0 };

export function reportTimerError(what: string, err: unknown): void {
  timerErrors.total++;
  try {
    rootLogger.error({ timer: what, err }, 'timer callback failed (ignored, process continues)');
  } catch {
    // A logger that throws must not turn a survived error into a fatal one.
  }
}

/** fn, with its exceptions logged and counted instead of thrown. One argument: setTimeout(g, ms, arg) allocates nothing more. */
export function guarded<T = void>(what: string, fn: (arg: T) => void): (arg: T) => void {
  return (arg: T) => {
    try {
      fn(arg);
    } catch (err) {
      reportTimerError(what, err);
    }
  };
}
