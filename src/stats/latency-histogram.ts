import * as hdr from 'hdr-histogram-js';
import type { Percentiles } from '../manager/status';

/**
 * A plain, structured-cloneable copy of a LatencyHistogram (posted from worker
 * threads): the hdr histogram compressed (null when empty), the exact sum and
 * the non-cumulative bucket counts (null when empty).
 */
export interface LatencySnapshot {
  hdr: string | null;
  sumUs: number;
  /** Exact maximum (hdr's own would round up to its bucket's top after a merge). */
  maxUs: number;
  counts: number[] | null;
}

/**
 * Upper bounds (seconds) of the Prometheus histogram buckets of every latency
 * histogram: 100 µs to a day, so one set serves connect times and session
 * durations alike. Fixed, so histograms from many instances and workers add
 * up bucket by bucket (which percentiles cannot).
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400,
];
const BUCKET_BOUNDS_US = LATENCY_BUCKETS_SECONDS.map((s) => Math.round(s * 1e6));

/**
 * A latency histogram recorded in microseconds: hdr-histogram (3 significant
 * digits) for percentiles, plus the exact sum and fixed bucket counts for
 * Prometheus. Values are recorded once per session at connect or close,
 * never per byte; reading is for /status and /metrics only.
 */
export class LatencyHistogram {
  /** Built at the first record: every backend has one, and an empty hdr histogram costs ~10 KB (50k backends: 500 MB). */
  private h: hdr.Histogram | null = null;
  /** Whole microseconds, so the sum carries no float noise. */
  private sumUs = 0;
  private maxUs = 0;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  private counts: number[] | null = null;

  private ensure(): [hdr.Histogram, number[]] {
    this.h ??= hdr.build({ useWebAssembly: false, autoResize: true, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });
    this.counts ??= new Array<number>(BUCKET_BOUNDS_US.length + 1).fill(0);
    return [this.h, this.counts];
  }

  /** A plain copy (see LatencySnapshot); merge() or add() reads it back. */
  snapshot(): LatencySnapshot {
    const h = this.h;
    return { hdr: h === null || h.totalCount === 0 ? null : hdr.encodeIntoCompressedBase64(h), sumUs: this.sumUs, maxUs: this.maxUs, counts: this.counts === null ? null : [...this.counts] };
  }

  /** Add the values of a snapshot (another worker's, another instance's) to this one. */
  add(snap: LatencySnapshot): void {
    this.sumUs += snap.sumUs;
    if (snap.maxUs > this.maxUs) this.maxUs = snap.maxUs;
    if (snap.hdr !== null) {
      const [h] = this.ensure();
      h.add(hdr.decodeFromCompressedBase64(snap.hdr, 32, false));
    }
    if (snap.counts !== null) {
      const [, counts] = this.ensure();
      for (let i = 0; i < counts.length; i++) counts[i] = (counts[i] as number) + (snap.counts[i] ?? 0);
    }
  }

  /** One histogram holding the values of every snapshot. */
  static merge(snapshots: Iterable<LatencySnapshot>): LatencyHistogram {
    const out = new LatencyHistogram();
    for (const s of snapshots) out.add(s);
    return out;
  }

  /** Record a duration given in milliseconds (performance.now() differences). */
  recordMs(ms: number): void {
    const us = ms > 0 ? Math.round(ms * 1000) : 0;
    const [h, counts] = this.ensure();
    h.recordValue(us);
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    let i = 0;
    while (i < BUCKET_BOUNDS_US.length && us > (BUCKET_BOUNDS_US[i] as number)) i++;
    counts[i] = (counts[i] as number) + 1;
  }

  get count(): number {
    return this.h?.totalCount ?? 0;
  }

  /** Percentiles and sum in milliseconds; null percentiles when nothing was recorded. */
  percentiles(): Percentiles {
    const h = this.h;
    const sum = this.sumUs / 1000;
    if (h === null || h.totalCount === 0) return { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, sum };
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(this.maxUs),
      sum,
    };
  }

  /** percentiles() plus cumulative bucket counts, one per LATENCY_BUCKETS_SECONDS bound (+Inf is `count`). */
  withBuckets(): Percentiles {
    const buckets: number[] = [];
    let running = 0;
    for (let i = 0; i < BUCKET_BOUNDS_US.length; i++) {
      running += this.counts?.[i] ?? 0;
      buckets.push(running);
    }
    return { ...this.percentiles(), buckets };
  }
}
