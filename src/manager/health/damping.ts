import type { DampingConfig } from '../../config/types';
import type { Clock } from './clock';

interface Track {
  /** Times of the verdict changes inside the window (oldest first). */
  changes: number[];
  /** Holds served, less one per quiet window: the next hold is hold × 2^level. */
  level: number;
  /** Last change or release: quiet windows are counted from here. */
  quietSince: number;
  /** When the current hold ends; null when not damped. */
  until: number | null;
  timer: unknown;
}

/**
 * Flap damping (route-flap damping, Envoy's outlier ejection): a backend whose
 * up/down verdict changes more than `changes` times within `window` is held
 * down for `hold`. Each further hold doubles (up to `maxHold`); every full
 * `window` without a change takes one doubling back. Changes during a hold are
 * counted afresh, so a backend that keeps flapping while held is held again
 * (longer) at once; one that settles is released when the hold ends.
 *
 * The damper only decides; the caller sets and clears the `damped` reason in
 * onDamp / onRelease. Time comes from the injected clock.
 */
export class FlapDamper<K> {
  private readonly tracks = new Map<K, Track>();

  constructor(
    private readonly config: DampingConfig,
    private readonly clock: Clock,
    private readonly onDamp: (key: K, holdMs: number) => void,
    private readonly onRelease: (key: K) => void,
  ) {}

  /** One verdict change of `key` (not its first verdict). */
  record(key: K): void {
    const now = this.clock.now();
    let t = this.tracks.get(key);
    if (t === undefined) {
      t = { changes: [], level: 0, quietSince: now, until: null, timer: null };
      this.tracks.set(key, t);
    }
    const { window, changes: limit, hold, maxHold } = this.config;
    if (t.until === null) t.level = Math.max(0, t.level - Math.floor((now - t.quietSince) / window));
    t.quietSince = now;
    t.changes.push(now);
    while (t.changes.length > 0 && t.changes[0] <= now - window) t.changes.shift();
    if (t.changes.length <= limit) return;
    const holdMs = Math.min(Math.max(maxHold, hold), hold * 2 ** t.level);
    t.level++;
    t.changes = [];
    t.until = now + holdMs;
    if (t.timer !== null) this.clock.clearTimeout(t.timer);
    const track = t;
    t.timer = this.clock.setTimeout(() => this.release(key, track), holdMs);
    this.onDamp(key, holdMs);
  }

  /** Milliseconds of hold left, or null when `key` is not damped. */
  remaining(key: K): number | null {
    const until = this.tracks.get(key)?.until ?? null;
    return until === null ? null : Math.max(0, until - this.clock.now());
  }

  /** Holds served, less decay: a new hold would last hold × 2^level. */
  level(key: K): number {
    return this.tracks.get(key)?.level ?? 0;
  }

  forget(key: K): void {
    const t = this.tracks.get(key);
    if (t?.timer !== null && t?.timer !== undefined) this.clock.clearTimeout(t.timer);
    this.tracks.delete(key);
  }

  stop(): void {
    for (const key of [...this.tracks.keys()]) this.forget(key);
  }

  private release(key: K, t: Track): void {
    if (this.tracks.get(key) !== t) return;
    t.until = null;
    t.timer = null;
    t.quietSince = this.clock.now();
    this.onRelease(key);
  }
}
