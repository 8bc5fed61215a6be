import { LATENCY_BUCKETS_SECONDS, LatencyHistogram } from '../../src/stats/latency-histogram';

describe('LatencyHistogram snapshots', () => {
  // Deterministic spread from 50 µs to ~40 s, so several buckets and hdr ranges are hit.
  const values = Array.from({ length: 3000 }, (_, i) => (((i * 7919) % 3000) + 1) ** 2 / 225);

  test('merged snapshots give the percentiles, sum and buckets of one histogram fed every value', () => {
    const whole = new LatencyHistogram();
    const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
    values.forEach((ms, i) => {
      whole.recordMs(ms);
      parts[i % 3]!.recordMs(ms); // parts[3] stays empty
    });
    const snaps = parts.map((p) => structuredClone(p.snapshot()));
    const merged = LatencyHistogram.merge(snaps);
    expect(merged.count).toBe(values.length);
    expect(merged.withBuckets()).toEqual(whole.withBuckets());
    expect(merged.withBuckets().buckets).toHaveLength(LATENCY_BUCKETS_SECONDS.length);
    expect(merged.percentiles().p99).not.toBeNull();
  });

  test('an empty snapshot is plain and merges to nothing', () => {
    const snap = new LatencyHistogram().snapshot();
    expect(snap).toEqual({ hdr: null, sumUs: 0, maxUs: 0, counts: null });
    expect(LatencyHistogram.merge([snap, snap]).percentiles()).toEqual({ count: 0, p50: null, p90: null, p99: null, p999: null, max: null, sum: 0 });
  });

  test('add() accumulates into a histogram that already has values', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    a.recordMs(1);
    b.recordMs(100);
    a.add(b.snapshot());
    expect(a.percentiles()).toMatchObject({ count: 2, sum: 101, max: 100 });
  });
});
