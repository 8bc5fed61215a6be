import { LatencyHistogram, type LatencySnapshot } from '../stats/latency-histogram';
import type { DataPlaneStats } from '../proxy/data-plane';

/** What one worker reports for one service: its proxy's stats, its live sessions, and each backend's connect times. */
export type WorkerStats = DataPlaneStats & {
  sessions: number;
  connectTimes: Array<[backendId: number, snapshot: LatencySnapshot]>;
};

/** Settings the kernel granted, the same in every worker: not summed. */
const NOT_SUMMED = new Set(['recvBufferSize', 'sendBufferSize']);

function isLatency(v: unknown): v is LatencySnapshot {
  return typeof v === 'object' && v !== null && 'hdr' in v;
}

/** Add b into a, field by field: counters sum, histograms merge, nested records (rejects, drops) recurse. */
function mergeInto(a: Record<string, unknown>, b: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(b)) {
    const have = a[k];
    if (k === 'connectTimes') continue;
    if (have === undefined || have === null) a[k] = isLatency(v) ? v : structuredClone(v);
    else if (typeof v === 'number' && typeof have === 'number') a[k] = NOT_SUMMED.has(k) ? have : have + v;
    else if (isLatency(v) && isLatency(have)) a[k] = LatencyHistogram.merge([have, v]).snapshot();
    else if (typeof v === 'object' && v !== null && typeof have === 'object') mergeInto(have as Record<string, unknown>, v as Record<string, unknown>);
  }
}

/** One view of a service over every worker (Prometheus counters summed, hdr histograms merged). */
export function mergeStats(all: readonly WorkerStats[], protocol: 'tcp' | 'udp'): WorkerStats {
  const out = { connectTimes: [] } as unknown as Record<string, unknown>;
  for (const s of all) mergeInto(out, s as unknown as Record<string, unknown>);
  if (all.length === 0) return emptyStats(protocol);
  return out as unknown as WorkerStats;
}

function emptyStats(protocol: 'tcp' | 'udp'): WorkerStats {
  void protocol;
  return { connectTimes: [], sessions: 0 } as unknown as WorkerStats;
}
