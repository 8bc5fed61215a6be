import type { Backend } from '../../pool/backend';
import { realClock, type Clock } from './clock';
import type { ProbeResult } from './tcp-probe';
import { HealthThresholds } from './thresholds';
import { reportTimerError } from '../../timers';

export interface HealthCheckerOptions {
  /** ms between the end of one check and the start of the next (before jitter). */
  interval: number;
  /** ms after which a check that has not answered counts as failed ("timeout"). */
  timeout: number;
  rise: number;
  fall: number;
  /** Fraction of the interval to randomize by (0.1 = ±10%), so checks of many backends spread out. */
  jitter?: number;
  probe: (backend: Backend) => Promise<ProbeResult>;
  clock?: Clock;
  random?: () => number;
  /** Called only when the up/down verdict changes, including the first verdict. */
  onChange: (backend: Backend, up: boolean, reason: string) => void;
  /** Called for every counted check result. */
  onResult?: (backend: Backend, result: ProbeResult) => void;
}

/** The last results of one backend's checks. Times are clock.now() values. */
export interface HealthStats {
  /** Results counted so far. */
  checks: number;
  lastCheckAt: number | null;
  lastOk: boolean | null;
  /** Connect latency of the last successful check. */
  lastMs: number | null;
  lastFailure: string | null;
  lastFailureAt: number | null;
  /** The short text of the last result (`redis role:master`, `http 503`, `ECONNREFUSED`; `ok` for a plain connect). */
  lastText: string | null;
}

/** Per-backend check state for status output. */
export interface HealthInfo extends HealthStats {
  up: boolean | null;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  inFlight: boolean;
}

interface Entry {
  readonly backend: Backend;
  readonly thresholds: HealthThresholds;
  readonly stats: HealthStats;
  /** The next check's timer, or the running check's deadline. */
  timer: unknown;
  inFlight: boolean;
  removed: boolean;
  readonly first: Promise<void>;
  resolveFirst: () => void;
}

/**
 * Active health checks for a set of backends.
 *
 * Each backend is checked at once when added, then again interval × (1 ±
 * jitter) after the previous check *finished*: at most one check is in flight
 * per backend, so slow or hanging backends never pile up probes. A probe that
 * has not answered after `timeout` counts as a failure at that moment (so
 * verdicts and firstRound() stay bounded even if a probe misbehaves); its late
 * answer is ignored, and the next check still waits for it to settle.
 *
 * Callback errors are bugs in the caller: they are logged and counted
 * (src/timers.ts), never fatal. State is updated before any callback runs, so
 * the checker stays consistent.
 */
export class HealthChecker {
  private readonly entries = new Map<Backend, Entry>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly jitter: number;

  constructor(private readonly options: HealthCheckerOptions) {
    const { interval, timeout, jitter = 0.1 } = options;
    if (!(interval > 0)) throw new RangeError(`interval must be > 0 ms (got ${interval})`);
    if (!(timeout > 0)) throw new RangeError(`timeout must be > 0 ms (got ${timeout})`);
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must be in [0, 1) (got ${jitter})`);
    new HealthThresholds(options.rise, options.fall); // validates rise/fall up front, not at the first add()
    this.jitter = jitter;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
  }

  /** Start checking `backend` (no-op if already checked); the first check starts now. */
  add(backend: Backend): void {
    if (this.entries.has(backend)) return;
    let resolveFirst!: () => void;
    const first = new Promise<void>((r) => (resolveFirst = r));
    const thresholds = new HealthThresholds(this.options.rise, this.options.fall);
    const stats = { checks: 0, lastCheckAt: null, lastOk: null, lastMs: null, lastFailure: null, lastFailureAt: null, lastText: null };
    const entry: Entry = { backend, thresholds, stats, timer: null, inFlight: false, removed: false, first, resolveFirst };
    this.entries.set(backend, entry);
    this.check(entry);
  }

  /** Stop checking `backend`; a check in flight is ignored when it answers. */
  remove(backend: Backend): void {
    const entry = this.entries.get(backend);
    if (entry === undefined) return;
    this.entries.delete(backend);
    entry.removed = true;
    if (entry.timer !== null) this.clock.clearTimeout(entry.timer);
    entry.timer = null;
    entry.resolveFirst(); // nobody waits forever on a backend that is gone
  }

  stop(): void {
    for (const backend of this.backends()) this.remove(backend);
  }

  /** The backends being checked (a copy). */
  backends(): Backend[] {
    return [...this.entries.keys()];
  }

  /**
   * Resolves once each given backend (default: all checked ones) has a
   * verdict, or was removed. Bounded by `timeout` since each first check is.
   */
  async firstRound(backends?: Iterable<Backend>): Promise<void> {
    const list = backends === undefined ? [...this.entries.values()] : [...backends].map((b) => this.entries.get(b));
    await Promise.all(list.map((e) => e?.first));
  }

  verdict(backend: Backend): boolean | null {
    return this.entries.get(backend)?.thresholds.up ?? null;
  }

  info(backend: Backend): HealthInfo | undefined {
    const e = this.entries.get(backend);
    if (e === undefined) return undefined;
    const t = e.thresholds;
    const streaks = { consecutiveSuccesses: t.consecutiveSuccesses, consecutiveFailures: t.consecutiveFailures };
    return { ...e.stats, up: t.up, ...streaks, inFlight: e.inFlight };
  }

  /**
   * Passive checks (connect failures seen by the proxy) marked `backend`
   * down. The active verdict goes to down with a fresh success streak, so
   * `rise` consecutive successful checks are needed before onChange(backend,
   * true) fires. onChange is NOT called for this transition: the caller made
   * it and has already set FailedPassiveCheck itself. Returns true when the
   * active verdict changed (it was up or unknown).
   */
  passiveDown(backend: Backend): boolean {
    const entry = this.entries.get(backend);
    if (entry === undefined) return false;
    const changed = entry.thresholds.forceDown();
    entry.resolveFirst();
    return changed;
  }

  private check(entry: Entry): void {
    entry.inFlight = true;
    const counted = { done: false };
    // Our own deadline: a probe that never answers still yields a result.
    const onTimeout = () => this.count(entry, counted, { ok: false, reason: 'timeout' });
    entry.timer = this.clock.setTimeout(onTimeout, this.options.timeout);
    let pending: Promise<ProbeResult>;
    try {
      pending = Promise.resolve(this.options.probe(entry.backend));
    } catch (err) {
      pending = Promise.resolve(failure(err));
    }
    void pending
      .then(undefined, failure)
      .then((result) => {
        entry.inFlight = false;
        if (entry.removed) return;
        this.clock.clearTimeout(entry.timer);
        this.schedule(entry); // before callbacks: a throwing callback cannot stop the checks
        this.count(entry, counted, result);
      })
      .catch((err: unknown) => reportTimerError('health check result', err));
  }

  private schedule(entry: Entry): void {
    const { interval } = this.options;
    const delay = interval * (1 + this.jitter * (2 * this.random() - 1));
    entry.timer = this.clock.setTimeout(() => this.check(entry), delay);
  }

  /** Apply one result (once per check: the guard or the probe, whichever is first). */
  private count(entry: Entry, counted: { done: boolean }, result: ProbeResult): void {
    if (counted.done || entry.removed) return;
    counted.done = true;
    const stats = entry.stats;
    stats.checks++;
    stats.lastCheckAt = this.clock.now();
    stats.lastOk = result.ok;
    stats.lastText = result.ok ? (result.text ?? 'ok') : result.reason;
    if (result.ok) stats.lastMs = result.ms;
    else [stats.lastFailure, stats.lastFailureAt] = [result.reason, stats.lastCheckAt];
    const changed = entry.thresholds.record(result.ok);
    entry.resolveFirst();
    this.options.onResult?.(entry.backend, result);
    if (changed) this.options.onChange(entry.backend, result.ok, result.ok ? 'ok' : result.reason);
  }
}

function failure(err: unknown): ProbeResult {
  const message = (err as { message?: unknown } | null)?.message; // duck-typed: errors may come from another realm
  return { ok: false, reason: typeof message === 'string' ? message : String(err) };
}
