/**
 * The up/down verdict of one backend from a stream of check results
 * (HAProxy-like rise/fall hysteresis).
 *
 * - Before the first result the verdict is unknown (`null`).
 * - The first result decides at once (ok → up, fail → down), so a listener
 *   can open with a known state instead of waiting `rise` intervals.
 * - Afterwards `fall` consecutive failures turn up → down and `rise`
 *   consecutive successes turn down → up. A success resets the failure streak
 *   and vice versa, so isolated failures (fewer than `fall` in a row) never
 *   flap the verdict.
 */
export class HealthThresholds {
  private verdict: boolean | null = null;
  private okStreak = 0;
  private failStreak = 0;

  constructor(
    readonly rise: number,
    readonly fall: number,
  ) {
    // Config validation already bounds these; this guards programmatic misuse.
    if (!Number.isInteger(rise) || rise < 1) throw new RangeError(`rise must be an integer >= 1 (got ${rise})`);
    if (!Number.isInteger(fall) || fall < 1) throw new RangeError(`fall must be an integer >= 1 (got ${fall})`);
  }

  /** true = up, false = down, null = no result yet. */
  get up(): boolean | null {
    return this.verdict;
  }

  get consecutiveSuccesses(): number {
    return this.okStreak;
  }

  get consecutiveFailures(): number {
    return this.failStreak;
  }

  /** Count one check result; returns true when the verdict changed (including the first verdict). */
  record(ok: boolean): boolean {
    if (ok) {
      this.okStreak++;
      this.failStreak = 0;
    } else {
      this.failStreak++;
      this.okStreak = 0;
    }
    const next = this.verdict === null ? ok : this.verdict ? this.failStreak < this.fall : this.okStreak >= this.rise;
    const changed = next !== this.verdict;
    this.verdict = next;
    return changed;
  }

  /**
   * Put the verdict to down from outside (passive checks saw the backend
   * fail): the success streak restarts, so `rise` fresh successes are needed
   * to come back up. Returns true when the verdict changed.
   */
  forceDown(): boolean {
    const changed = this.verdict !== false;
    this.verdict = false;
    this.okStreak = 0;
    return changed;
  }
}
