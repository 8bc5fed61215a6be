/**
 * Latency families of GET /metrics in Prometheus text format, per service:
 *
 * - `fulcrum_connect_seconds` / `fulcrum_session_seconds`: summaries, with the
 *   quantiles hdr-histogram computed (0.5, 0.9, 0.99, 0.999), `_sum` and
 *   `_count`. Quantiles cannot be added across instances.
 * - `fulcrum_connect_duration_seconds` / `fulcrum_session_duration_seconds`:
 *   histograms over LATENCY_BUCKETS_SECONDS (`_bucket{le}`, `_sum`, `_count`),
 *   which can: `histogram_quantile(0.99, sum by (le) (rate(..._bucket[5m])))`.
 *
 * Values are seconds rounded to the microsecond they were recorded in, so no
 * float noise (0.0020459999999999996) reaches the text.
 */
import type { Percentiles, ServiceStatus } from '../manager/status';
import { LATENCY_BUCKETS_SECONDS } from '../stats/latency-histogram';

const QUANTILES: ReadonlyArray<[string, 'p50' | 'p90' | 'p99' | 'p999']> = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
  ['0.999', 'p999'],
];

const CONNECT = 'Time to connect to a backend, in seconds.';
const SESSION = 'Session duration (TCP: backend connected to close; UDP: first to last datagram), in seconds.';

export function latencyFamilies(services: readonly ServiceStatus[]): string {
  // UDP services have no connect step.
  const connect = services.filter((s) => s.protocol === 'tcp').map((s) => [s.name, s.connectTime] as const);
  const session = services.map((s) => [s.name, s.sessionTime] as const);
  return (
    summary('fulcrum_connect_seconds', CONNECT, connect) +
    summary('fulcrum_session_seconds', SESSION, session) +
    histogram('fulcrum_connect_duration_seconds', CONNECT, connect) +
    histogram('fulcrum_session_duration_seconds', SESSION, session)
  );
}

type Series = ReadonlyArray<readonly [string, Percentiles]>;

function summary(name: string, help: string, series: Series): string {
  if (series.length === 0) return '';
  let out = `# HELP ${name} ${help}\n# TYPE ${name} summary\n`;
  for (const [service, p] of series) {
    const label = `service="${escapeLabel(service)}"`;
    for (const [quantile, field] of QUANTILES) {
      const ms = p[field];
      // No samples yet: no quantiles rather than a fake 0; _sum and _count still say 0.
      if (ms !== null) out += `${name}{${label},quantile="${quantile}"} ${seconds(ms)}\n`;
    }
    if (p.sum !== undefined) out += `${name}_sum{${label}} ${seconds(p.sum)}\n`;
    out += `${name}_count{${label}} ${p.count}\n`;
  }
  return out;
}

function histogram(name: string, help: string, all: Series): string {
  const series = all.filter(([, p]) => p.buckets !== undefined); // figures without a histogram behind them: none
  if (series.length === 0) return '';
  let out = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
  for (const [service, p] of series) {
    const label = `service="${escapeLabel(service)}"`;
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      out += `${name}_bucket{${label},le="${le}"} ${p.buckets?.[i] ?? 0}\n`;
    });
    out += `${name}_bucket{${label},le="+Inf"} ${p.count}\n${name}_sum{${label}} ${seconds(p.sum ?? 0)}\n${name}_count{${label}} ${p.count}\n`;
  }
  return out;
}

/** Milliseconds (µs precision) → seconds without float noise: 2.046 → 0.002046. */
function seconds(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
