/**
 * A service's counters in shared memory: one column of Float64 per worker,
 * each written by its worker only (plain stores: no Atomics needed), summed
 * by whoever reads (/status, /metrics) without asking the workers. The reason
 * lists are the declared outcome lists, so a new reason needs no change here.
 */
import { REJECT_REASONS, UDP_DROP_REASONS, type RejectCounts } from '../proxy/outcomes';
import type { UdpDropCounts } from '../proxy/outcomes';

const SCALARS = ['accepted', 'sessionsTotal', 'datagramsIn', 'datagramsOut', 'bytesIn', 'bytesOut'] as const;
/** Where each scalar is in a column (for class accessors on the per-datagram path). */
export const SCALAR = { accepted: 0, sessionsTotal: 1, datagramsIn: 2, datagramsOut: 3, bytesIn: 4, bytesOut: 5 } as const;
type Scalar = (typeof SCALARS)[number];
const REJECT_BASE = SCALARS.length;
const DROP_BASE = REJECT_BASE + REJECT_REASONS.length;
export const COUNTERS_PER_WORKER = DROP_BASE + UDP_DROP_REASONS.length;

/** Accessors over one column: `x.accepted++` and `x.rejects.acl++` write this worker's numbers. */
export type CounterColumn = Record<Scalar, number> & { readonly rejects: RejectCounts; readonly dropped: UdpDropCounts };

function record<K extends string>(names: readonly K[], f64: Float64Array, base: number): Record<K, number> {
  const out = {} as Record<K, number>;
  names.forEach((name, i) => {
    Object.defineProperty(out, name, {
      enumerable: true,
      get: () => f64[base + i]!,
      set: (v: number) => {
        f64[base + i] = v;
      },
    });
  });
  return out;
}

/** This worker's column, as accessors (the proxies' counters). */
export function counterColumn(f64: Float64Array, worker: number): CounterColumn {
  const base = worker * COUNTERS_PER_WORKER;
  const column = record(SCALARS, f64, base) as CounterColumn;
  Object.defineProperty(column, 'rejects', { value: record(REJECT_REASONS, f64, base + REJECT_BASE), enumerable: true });
  Object.defineProperty(column, 'dropped', { value: record(UDP_DROP_REASONS, f64, base + DROP_BASE), enumerable: true });
  return column;
}

/** Every worker's columns added up, as plain numbers. */
export function sumColumns(f64: Float64Array, workers: number): Record<Scalar, number> & { rejects: RejectCounts; dropped: UdpDropCounts } {
  const at = (i: number) => {
    let n = 0;
    for (let w = 0; w < workers; w++) n += f64[w * COUNTERS_PER_WORKER + i]!;
    return n;
  };
  const scalars = Object.fromEntries(SCALARS.map((k, i) => [k, at(i)])) as Record<Scalar, number>;
  return {
    ...scalars,
    rejects: Object.fromEntries(REJECT_REASONS.map((k, i) => [k, at(REJECT_BASE + i)])) as RejectCounts,
    dropped: Object.fromEntries(UDP_DROP_REASONS.map((k, i) => [k, at(DROP_BASE + i)])) as UdpDropCounts,
  };
}
