import { LatencyHistogram, type LatencySnapshot } from '../stats/latency-histogram';
import type { BackendConfig, Endpoint, ProxyProtocolVersion } from '../config/types';
import { BackendSlot, COUNTER, F64, I32 } from './backend-slot';

/**
 * Why a backend is not usable. Health is a set of reasons (as Envoy's host
 * health flags): a backend is usable only when no reason is set, and the pool
 * reacts only when that verdict changes.
 */
export enum HealthFlag {
  FailedActiveCheck = 1 << 0,
  FailedPassiveCheck = 1 << 1,
  Draining = 1 << 2,
  DisabledByOperator = 1 << 3,
  Removed = 1 << 4,
  /** The backend's agent said drain / maint / down (agent check). */
  AgentDrain = 1 << 5,
  AgentMaint = 1 << 6,
  AgentDown = 1 << 7,
  /** Held down by flap damping. */
  Damped = 1 << 8,
}

/**
 * One backend of one service. The manager owns its health flags; the proxy
 * reports outcomes back as plain-number counters (no per-byte allocation).
 * Everything several threads must agree on lives in a shared slot
 * (backend-slot.ts): the session count, the health reasons, the effective
 * weight, and each worker's counters.
 */
export class Backend {
  readonly name: string;
  readonly address: Endpoint;
  backup: boolean;
  /** Concurrent sessions allowed (0 = no cap); `active` counts connecting ones too, so the cap holds. */
  maxConnections: number;
  /** PROXY header to write first on each connection (resolved: backend setting, else the service's). */
  proxyProtocol: ProxyProtocolVersion | null = null;
  /** The discovery entry that found it (`dns:…`, `srv:…`, `file:…`); null for an IP literal of the config. */
  source: string | null;
  readonly slot: BackendSlot;
  private weightValue: number;
  private ramp = 1;
  private agent = 1;
  /** Time to complete the TCP handshake with this backend, per connected session (this thread's; see connectTimes()). */
  readonly connectTime = new LatencyHistogram();
  /** With worker threads: each worker's connect times, as last collected (the main thread records none itself). */
  readonly workerConnectTimes: Array<LatencySnapshot | undefined> = [];

  /**
   * `slot`: where the shared numbers live; a worker passes the main thread's
   * slot with its own column (`mirror`: the main thread has set them already).
   */
  constructor(config: BackendConfig, slot: BackendSlot = BackendSlot.standalone(), mirror = false) {
    this.name = config.name;
    this.address = config.address;
    this.backup = config.backup;
    this.weightValue = config.weight;
    this.maxConnections = config.maxConnections;
    this.source = config.source ?? null;
    this.slot = slot;
    if (!mirror) this.storeWeight();
  }

  /** Connect times of every thread: this one's, merged with the workers' last snapshots. */
  connectTimes(): LatencyHistogram {
    const parts = this.workerConnectTimes.filter((x): x is LatencySnapshot => x !== undefined);
    if (parts.length === 0) return this.connectTime;
    const merged = LatencyHistogram.merge(parts);
    merged.add(this.connectTime.snapshot());
    return merged;
  }

  /** A worker died: the sessions it held here are gone with it. */
  forgetWorker(worker: number, held: number): void {
    Atomics.sub(this.slot.i32, this.slot.base + I32.ACTIVE, held);
    Atomics.store(this.slot.i32, this.slot.base + I32.WORKER_ACTIVE + worker, 0);
  }

  /** Sessions connecting to or spliced to this backend, over every worker. */
  get active(): number {
    return Atomics.load(this.slot.i32, this.slot.base);
  }

  /**
   * Count a session on this backend unless its maxConnections is reached.
   * Exact across workers: the add is atomic and a loser gives its add back.
   */
  tryAcquire(): boolean {
    const s = this.slot;
    const before = Atomics.add(s.i32, s.base, 1);
    if (this.maxConnections > 0 && before >= this.maxConnections) {
      Atomics.sub(s.i32, s.base, 1);
      return false;
    }
    s.i32[s.mineActive]!++;
    return true;
  }

  /** Count a session whatever the cap (UDP sessions, which the balancer has already checked). */
  acquire(): void {
    const s = this.slot;
    Atomics.add(s.i32, s.base, 1);
    s.i32[s.mineActive]!++;
  }

  release(): void {
    const s = this.slot;
    Atomics.sub(s.i32, s.base, 1);
    s.i32[s.mineActive]!--;
  }

  /** Why the backend is not usable (HealthFlag bits); written by the main thread only. */
  get health(): number {
    return Atomics.load(this.slot.i32, this.slot.base + I32.HEALTH);
  }

  set health(flags: number) {
    Atomics.store(this.slot.i32, this.slot.base + I32.HEALTH, flags);
  }

  /** Connect failures (UDP: ICMP refusals) in a row over every worker; reset by a success. */
  get consecutiveFailures(): number {
    return Atomics.load(this.slot.i32, this.slot.base + I32.CONSECUTIVE_FAILURES);
  }

  set consecutiveFailures(n: number) {
    Atomics.store(this.slot.i32, this.slot.base + I32.CONSECUTIVE_FAILURES, n);
  }

  /** A failed connect: counted, and the streak grows (atomically: several workers may fail at once). */
  countFailure(): number {
    this.slot.f64[this.slot.mineCounters + COUNTER.CONNECT_FAILURES]!++;
    return Atomics.add(this.slot.i32, this.slot.base + I32.CONSECUTIVE_FAILURES, 1) + 1;
  }

  /** A session sent to this backend (connected). */
  countSession(): void {
    this.slot.f64[this.slot.mineCounters + COUNTER.TOTAL]!++;
  }

  addBytesIn(n: number): void {
    this.slot.f64[this.slot.mineCounters + COUNTER.BYTES_IN]! += n;
  }

  addBytesOut(n: number): void {
    this.slot.f64[this.slot.mineCounters + COUNTER.BYTES_OUT]! += n;
  }

  /** Sessions sent to this backend (connected), over every worker. */
  get total(): number {
    return this.slot.sum(COUNTER.TOTAL);
  }

  /** Connect attempts that were refused, reset or timed out. */
  get connectFailures(): number {
    return this.slot.sum(COUNTER.CONNECT_FAILURES);
  }

  /** Bytes client → backend and backend → client, of closed sessions. */
  get bytesIn(): number {
    return this.slot.sum(COUNTER.BYTES_IN);
  }

  get bytesOut(): number {
    return this.slot.sum(COUNTER.BYTES_OUT);
  }

  get weight(): number {
    return this.weightValue;
  }

  set weight(w: number) {
    this.weightValue = w;
    this.storeWeight();
  }

  /** Slow start: the share of `weight` in force, ramped from ~0 to 1 by the service after a recovery. */
  get rampFactor(): number {
    return this.ramp;
  }

  set rampFactor(f: number) {
    this.ramp = f;
    this.storeWeight();
  }

  /** Agent check: `N%` → N/100; `weight:N` → N / weight (recomputed at each report). 1 without an agent. */
  get agentScale(): number {
    return this.agent;
  }

  set agentScale(f: number) {
    this.agent = f;
    this.storeWeight();
  }

  get usable(): boolean {
    return this.health === 0;
  }

  /** The weight the balancers use: computed by the main thread when a factor changes, read on every pick. */
  get effectiveWeight(): number {
    return this.slot.f64[this.slot.fbase + F64.EFFECTIVE_WEIGHT]!;
  }

  /** Smooth round-robin's current weight (round-robin.ts), shared by every worker's balancer. */
  get rrCredit(): number {
    return this.slot.f64[this.slot.fbase + F64.RR_CREDIT]!;
  }

  set rrCredit(v: number) {
    this.slot.f64[this.slot.fbase + F64.RR_CREDIT] = v;
  }

  private storeWeight(): void {
    this.slot.f64[this.slot.fbase + F64.EFFECTIVE_WEIGHT] = this.weightValue * this.ramp * this.agent;
  }
}
