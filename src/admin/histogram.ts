import * as hdr from 'hdr-histogram-js';
import type { Percentiles } from '../manager/status';

/**
 * A latency histogram (hdr-histogram, 3 significant digits) recorded in
 * microseconds. Values are recorded once per session at connect or close,
 * never per byte; reading percentiles is for /status and /metrics only.
 */
export class LatencyHistogram {
  /** Built at the first record: every backend has one, and an empty hdr histogram costs ~10 KB (50k backends: 500 MB). */
  private h: hdr.Histogram | null = null;

  /** Record a duration given in milliseconds (performance.now() differences). */
  recordMs(ms: number): void {
    this.h ??= hdr.build({ useWebAssembly: false, autoResize: true, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });
    this.h.recordValue(ms > 0 ? Math.round(ms * 1000) : 0);
  }

  get count(): number {
    return this.h?.totalCount ?? 0;
  }

  /** Percentiles in milliseconds; null when nothing was recorded. */
  percentiles(): Percentiles {
    const h = this.h;
    if (h === null || h.totalCount === 0) return { count: 0, p50: null, p90: null, p99: null, p999: null, max: null };
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
    };
  }
}
