/**
 * Where one backend's numbers live: a slot in shared memory, so every worker
 * thread sees the same session count, health reasons and effective weight,
 * and the main thread sees every worker's counters without asking.
 *
 * Float64 also holds the smooth round-robin credit, shared so that workers
 * turn through one schedule (under the service's pick lock).
 * Int32 part (Atomics): the session count over all workers (least-conn and
 * maxConnections exact across threads), health reasons (written by the main
 * thread only), connect failures in a row, then one session count per worker
 * (so a dead worker's sessions can be given back). Float64 part: the
 * effective weight (written by the main thread), then per worker four
 * counters, each written by its worker only (no Atomics needed; the reader sums).
 */

/** Cloneable: posted to worker threads with the backend's settings. */
export interface SlotRef {
  readonly memory: SharedArrayBuffer;
  readonly index: number;
  readonly workers: number;
}

export const I32 = { ACTIVE: 0, HEALTH: 1, CONSECUTIVE_FAILURES: 2, WORKER_ACTIVE: 4 } as const;
export const F64 = { EFFECTIVE_WEIGHT: 0, RR_CREDIT: 1, WORKER_COUNTERS: 2 } as const;
/** Per-worker Float64 counters, in this order. */
export const COUNTER = { TOTAL: 0, CONNECT_FAILURES: 1, BYTES_IN: 2, BYTES_OUT: 3 } as const;
const COUNTERS = 4;
const SLOTS_PER_CHUNK = 64;

function strides(workers: number) {
  const i32 = I32.WORKER_ACTIVE + workers;
  const f64 = F64.WORKER_COUNTERS + COUNTERS * workers;
  const i32Bytes = SLOTS_PER_CHUNK * i32 * 4;
  const f64Offset = Math.ceil(i32Bytes / 8) * 8;
  return { i32, f64, f64Offset, bytes: f64Offset + SLOTS_PER_CHUNK * f64 * 8 };
}

/** Views on one slot, for one thread (`worker`: the column this thread writes; 0 without workers). */
export class BackendSlot {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Index of this slot's first Int32 / Float64. */
  readonly base: number;
  readonly fbase: number;
  /** Int32 index of this thread's session count; Float64 index of its first counter. */
  readonly mineActive: number;
  readonly mineCounters: number;
  readonly workers: number;

  constructor(
    readonly ref: SlotRef,
    worker = 0,
  ) {
    const s = strides(ref.workers);
    this.workers = ref.workers;
    this.i32 = new Int32Array(ref.memory, 0, SLOTS_PER_CHUNK * s.i32);
    this.f64 = new Float64Array(ref.memory, s.f64Offset, SLOTS_PER_CHUNK * s.f64);
    this.base = ref.index * s.i32;
    this.fbase = ref.index * s.f64;
    this.mineActive = this.base + I32.WORKER_ACTIVE + worker;
    this.mineCounters = this.fbase + F64.WORKER_COUNTERS + COUNTERS * worker;
  }

  /** A slot of its own (tests, and a Pool built without a slab). */
  static standalone(): BackendSlot {
    return new BackendSlot(new SlotSlab(1).allocate());
  }

  /** One counter summed over every worker's column. */
  sum(counter: number): number {
    let total = 0;
    const f = this.f64;
    for (let w = 0, i = this.fbase + F64.WORKER_COUNTERS + counter; w < this.workers; w++, i += COUNTERS) total += f[i]!;
    return total;
  }

  /** The sessions one worker holds (given back when that worker dies). */
  workerActive(worker: number): number {
    return Atomics.load(this.i32, this.base + I32.WORKER_ACTIVE + worker);
  }
}

/** Allocates slots in chunks of shared memory (one SharedArrayBuffer per 64 backends, not per backend). */
export class SlotSlab {
  private chunk: SharedArrayBuffer | null = null;
  private used = SLOTS_PER_CHUNK;

  constructor(readonly workers: number) {}

  allocate(): SlotRef {
    if (this.used === SLOTS_PER_CHUNK) {
      this.chunk = new SharedArrayBuffer(strides(this.workers).bytes);
      this.used = 0;
    }
    return { memory: this.chunk!, index: this.used++, workers: this.workers };
  }
}
