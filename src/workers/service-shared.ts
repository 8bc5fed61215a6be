/**
 * One service's numbers that every worker must agree on: the sessions open
 * over all workers (so the service's maxConnections and udp.maxSessions hold
 * across threads) and each worker's live sessions (the per-worker gauge, and
 * what is given back when a worker dies). Int32, Atomics; the per-worker
 * entries are written by their worker only.
 */
import type { PickLock } from '../balancer/balancer';
import { COUNTERS_PER_WORKER, counterColumn, sumColumns, type CounterColumn } from './service-counters';

export interface ServiceSharedRef {
  readonly memory: SharedArrayBuffer;
  /** The counters (service-counters.ts): one Float64 column per worker. */
  readonly counters: SharedArrayBuffer;
  readonly workers: number;
}

const OPEN = 0;
/** The pick lock of balancers whose state is shared (round-robin). */
const LOCK = 1;
const PER_WORKER = 2;
/** Spins before the lock is taken by force: a holder cannot take this long unless its thread died mid-pick. */
const MAX_SPINS = 1 << 22;

export class ServiceShared {
  private readonly i32: Int32Array;
  private readonly mine: number;
  readonly workers: number;
  readonly f64: Float64Array;
  /** Index of this thread's first counter in f64. */
  readonly column: number;
  /** This thread's counters (accessors over its column). */
  readonly counters: CounterColumn;

  constructor(
    readonly ref: ServiceSharedRef,
    worker = 0,
  ) {
    this.i32 = new Int32Array(ref.memory);
    this.workers = ref.workers;
    this.mine = PER_WORKER + worker;
    this.f64 = new Float64Array(ref.counters);
    this.column = worker * COUNTERS_PER_WORKER;
    this.counters = counterColumn(this.f64, worker);
  }

  /** A spin lock (a pick is a few hundred nanoseconds; nothing blocks while it is held). */
  readonly pickLock: PickLock = {
    acquire: () => {
      for (let spins = 0; Atomics.compareExchange(this.i32, LOCK, 0, 1) !== 0; spins++) {
        if (spins > MAX_SPINS) return; // a dead holder: go on without it
      }
    },
    release: () => {
      Atomics.store(this.i32, LOCK, 0);
    },
  };

  /** Every worker's counters added up. */
  sums() {
    return sumColumns(this.f64, this.workers);
  }

  static create(workers: number, worker = 0): ServiceShared {
    const counters = new SharedArrayBuffer(workers * COUNTERS_PER_WORKER * 8);
    return new ServiceShared({ memory: new SharedArrayBuffer((PER_WORKER + workers) * 4), counters, workers }, worker);
  }

  /** Count a session unless `max` are open over every worker (0: no cap). */
  tryOpen(max: number): boolean {
    const before = Atomics.add(this.i32, OPEN, 1);
    if (max > 0 && before >= max) {
      Atomics.sub(this.i32, OPEN, 1);
      return false;
    }
    Atomics.add(this.i32, this.mine, 1);
    return true;
  }

  close(): void {
    Atomics.sub(this.i32, OPEN, 1);
    Atomics.sub(this.i32, this.mine, 1);
  }

  /** Sessions open over every worker. */
  get open(): number {
    return Atomics.load(this.i32, OPEN);
  }

  /** Sessions open in one worker. */
  workerSessions(worker: number): number {
    return Atomics.load(this.i32, PER_WORKER + worker);
  }

  /** A worker died: its sessions are gone with it. */
  forgetWorker(worker: number): void {
    const n = Atomics.exchange(this.i32, PER_WORKER + worker, 0);
    Atomics.sub(this.i32, OPEN, n);
  }
}
