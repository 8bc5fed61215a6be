import type { DiscoveryEntry } from '../config/types';
import type { Logger } from '../log';
import { LastGood } from './last-good';
import type { DnsResolver } from './resolver';
import type { Lookup, Source } from './types';
import { reportTimerError } from '../timers';

/**
 * Follows one discovery entry: looks it up on a timer (the record's TTL within
 * bounds, else the interval) or when its source says it changed, one lookup at
 * a time, and reports a changed set. The failure policy is LastGood's.
 */
export class DiscoveryRunner {
  readonly policy = new LastGood();
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;
  /** When the first lookup says the next one is due (its TTL, or the interval). */
  private firstDelay = 0;

  constructor(
    readonly entry: DiscoveryEntry,
    private readonly source: Source,
    private readonly resolver: DnsResolver,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {}

  /** The first lookup (at start or reload), recorded; nothing is scheduled until start(). */
  async first(): Promise<Lookup> {
    const lookup = await this.source.lookup();
    this.policy.record(lookup, Date.now());
    this.firstDelay = this.delayAfter(lookup);
    return lookup;
  }

  start(): void {
    this.source.watch?.(() => void this.refresh());
    this.schedule(this.firstDelay);
  }

  /** Look up now (the timer, a watch event); joins a lookup already running. */
  refresh(): Promise<void> {
    // Never rejects: a bug in a lookup or in onChange is logged and counted, and the next lookup is still scheduled.
    this.inFlight ??= this.run()
      .catch((err: unknown) => {
        reportTimerError(`discovery ${this.entry.source}`, err);
        this.schedule(this.resolver.settings.interval);
      })
      .finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private readonly onTimer = (): void => void this.refresh();

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.source.close?.();
  }

  private async run(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    const lookup = await this.source.lookup();
    if (this.stopped) return;
    const wasFailing = this.policy.failure !== null;
    const changed = this.policy.record(lookup, Date.now());
    const kept = this.policy.backends?.length ?? 0;
    const source = this.entry.source;
    if (lookup.result !== 'ok' && !wasFailing) {
      this.log.warn({ source, result: lookup.result, reason: lookup.reason, kept }, 'discovery lookup failed: keeping the last good set');
    } else if (lookup.result !== 'ok') {
      this.log.debug({ source, result: lookup.result, reason: lookup.reason, kept }, 'discovery lookup still failing');
    } else if (wasFailing) {
      this.log.info({ source, backends: lookup.backends.length }, 'discovery lookup recovered');
    }
    if (changed) this.onChange();
    this.schedule(this.delayAfter(lookup));
  }

  private delayAfter(lookup: Lookup): number {
    return lookup.result === 'ok' ? this.resolver.nextDelay(lookup.ttlMs) : this.resolver.settings.interval;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    // ±10 %: names looked up together at start drift apart, so thousands of them do not ask in one burst.
    this.timer = setTimeout(this.onTimer, ms * (0.9 + 0.2 * Math.random()));
    this.timer.unref();
  }
}
