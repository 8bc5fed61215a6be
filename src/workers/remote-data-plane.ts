import type { Balancer } from '../balancer/balancer';
import type { BalanceName, Endpoint } from '../config/types';
import type { Backend } from '../pool/backend';
import type { Pool } from '../pool/pool';
import type { BackendCloseReason, DataPlane, DataPlaneStats, ListenOptions } from '../proxy/data-plane';
import { guarded } from '../timers';
import type { BackendSpec, LimiterSpec, ServiceSpec } from './messages';
import { ServiceShared } from './service-shared';
import type { DataPlaneThreads } from './threads';
import type { WorkerStats } from './stats';
import { SharedSourceLimiter } from '../admission/shared-source-limiter';
import type { SourceLimiterOptions } from '../admission/source-limiter';
import { LatencyHistogram, type LatencySnapshot } from '../stats/latency-histogram';

let nextKey = 1;

/** How often whenIdle() looks at the shared session count. */
const IDLE_POLL_MS = 25;

/**
 * A service's data plane when it runs in worker threads: the DataPlane the
 * manager drives, turned into messages to every worker. Decisions stay here
 * (the pool, health, weights); workers get the usable set and settings, and
 * read the shared slots. Live session counts come from shared memory, so
 * `sessions.size` and whenIdle() need no round trip.
 */
export class RemoteDataPlane implements DataPlane {
  readonly key: string;
  readonly shared: ServiceShared;
  private readonly ids = new Map<Backend, number>();
  private readonly byId = new Map<number, Backend>();
  private nextId = 1;
  /** Backends posted last (their settings): unchanged ones are not posted again. */
  private posted = '';
  private listenedAt: { endpoint: Endpoint; reusePort: boolean } | null = null;
  private latest: Array<WorkerStats | undefined> = [];
  /** Histograms of workers that died: kept so their counts never go back. */
  private readonly departed: { sessionTime: LatencySnapshot[]; connectTime: LatencySnapshot[] } = { sessionTime: [], connectTime: [] };
  private removed = false;
  /**
   * Every worker has closed its listener: until then a worker may still accept,
   * so whenIdle() must not trust a zero count (a SIGTERM would end the thread
   * under a connection it had just accepted).
   */
  private stoppedAccepting: Promise<unknown> = Promise.resolve();
  /** start() has sent the service: changes before that are in its first spec. */
  private started = false;
  readonly sessions: { readonly size: number };

  constructor(
    private readonly threads: DataPlaneThreads,
    private readonly spec: { name: string; protocol: 'tcp' | 'udp'; balance: BalanceName; settings: unknown; limiter: LimiterSpec | null },
    private readonly pool: Pool,
    balancer: Balancer,
  ) {
    this.balancer = balancer;
    this.key = `${spec.name}#${nextKey++}`;
    this.shared = ServiceShared.create(threads.size);
    const shared = this.shared;
    this.sessions = {
      get size() {
        return shared.open;
      },
    };
  }

  /** The control plane's copy (the DataPlane interface); workers build their own from the balance name (setBalance). */
  balancer: Balancer;

  /** Send the service to every worker (at start, and to a replacement worker). */
  start(worker?: number): void {
    this.started = true;
    const msg = { t: 'service' as const, spec: this.fullSpec() };
    if (worker === undefined) this.threads.postAll(msg);
    else this.threads.post(worker, msg);
  }

  backendOf(id: number): Backend | undefined {
    return this.byId.get(id);
  }

  idOf(b: Backend): number {
    let id = this.ids.get(b);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(b, id);
      this.byId.set(id, b);
    }
    return id;
  }

  /** The pool changed (usable set, members or their settings): the workers rebuild their balancers. */
  poolChanged(): void {
    if (this.removed || !this.started) return;
    const backends = this.backendSpecs();
    const text = JSON.stringify(backends.map(({ slot: _s, ...rest }) => rest));
    const changed = text !== this.posted;
    this.posted = text;
    // Forgotten backends leave the id maps (their slots are not reused: a late release stays harmless).
    if (changed) {
      const live = new Set(this.pool.backends);
      for (const [b, id] of this.ids) {
        if (live.has(b)) continue;
        this.ids.delete(b);
        this.byId.delete(id);
      }
    }
    this.threads.postAll({ t: 'backends', key: this.key, backends: changed ? backends : null, usable: this.usableIds() });
  }

  weightsChanged(): void {
    if (this.started && !this.removed) this.threads.postAll({ t: 'weights', key: this.key });
  }

  setBalance(balance: BalanceName): void {
    this.spec.balance = balance;
    this.threads.postAll({ t: 'balance', key: this.key, balance, usable: this.usableIds() });
  }

  /** The shared per-source table the workers use now. */
  get limiter(): LimiterSpec | null {
    return this.spec.limiter;
  }

  applySettings(settings: unknown, limiter: LimiterSpec | null): void {
    this.spec.settings = settings;
    this.spec.limiter = limiter;
    this.threads.postAll({ t: 'settings', key: this.key, settings, limiter });
  }

  /**
   * Every worker binds the address with SO_REUSEPORT. Port 0: the first
   * worker's bind picks the port and the others bind that one, so all share it.
   */
  async listen(endpoint: Endpoint, options: ListenOptions = {}): Promise<Endpoint> {
    const reusePort = options.reusePort === true || this.threads.size > 1;
    const first = await this.threads.request<Endpoint>(0, { t: 'listen', key: this.key, endpoint, reusePort });
    const fixed = { ...endpoint, port: first.port };
    try {
      for (let w = 1; w < this.threads.size; w++) await this.threads.request<Endpoint>(w, { t: 'listen', key: this.key, endpoint: fixed, reusePort });
    } catch (err) {
      this.stopAccepting();
      throw err;
    }
    this.listenedAt = { endpoint: fixed, reusePort };
    return first;
  }

  get listening(): boolean {
    return this.listenedAt !== null;
  }

  stopAccepting(): Promise<void> {
    this.listenedAt = null;
    // A worker that died or does not answer has no listener to wait for.
    const done = this.threads.requestAll({ t: 'stopAccepting', key: this.key }).then(
      () => undefined,
      () => undefined,
    );
    this.stoppedAccepting = done;
    return done;
  }

  abortAll(): void {
    this.threads.postAll({ t: 'abortAll', key: this.key });
  }

  async whenIdle(): Promise<void> {
    await this.stoppedAccepting;
    return new Promise((resolve) => {
      const check = guarded('worker sessions idle poll', () => {
        if (this.shared.open > 0) return;
        clearInterval(timer);
        resolve();
      });
      const timer = setInterval(check, IDLE_POLL_MS);
      check();
    });
  }

  /** Every worker closes its sessions on that backend; the count returned is the backend's live sessions now. */
  closeBackendSessions(backend: Backend, reason: BackendCloseReason): number {
    this.threads.postAll({ t: 'closeBackend', key: this.key, backend: this.idOf(backend), reason });
    return backend.active;
  }

  /** UDP: the sessions of a backend that went down move on their next datagram (or are dropped, per onBackendDown). */
  backendDown(backend: Backend): void {
    this.threads.postAll({ t: 'backendDown', key: this.key, backend: this.idOf(backend) });
  }

  /** Pair session sync: what the old master pinned, for every worker (whichever gets the client's datagrams). */
  pushPins(pins: Array<[client: string, backend: string, at: number]>): void {
    if (pins.length > 0) this.threads.postAll({ t: 'pins', key: this.key, pins });
  }

  /** A failover pair: workers report new UDP sessions. */
  syncSessions(on: boolean): void {
    this.threads.postAll({ t: 'syncSessions', on });
  }

  /** Every worker's live UDP sessions as [client, backend name]. */
  async udpSessions(): Promise<Array<[string, string]>> {
    const lists = await this.threads.requestAll<Array<[string, string]>>({ t: 'udpSessions', key: this.key });
    return lists.flat();
  }

  /** The service left (reload retired it, and it drained): workers forget it. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    this.listenedAt = null;
    this.threads.postAll({ t: 'remove', key: this.key });
  }


  // ---- counters

  /** A worker's snapshot arrived (see Manager.collectStats): its histograms. */
  record(worker: number, stats: WorkerStats): void {
    this.latest[worker] = stats;
    for (const [id, snapshot] of stats.connectTimes) {
      const b = this.byId.get(id);
      if (b !== undefined) b.workerConnectTimes[worker] = snapshot;
    }
  }

  /**
   * One view over every worker: counters and live sessions from shared memory
   * (exact, no round trip), histograms merged from the workers' last
   * snapshots (Manager.collectStats fetches them before /status and /metrics).
   */
  stats(): DataPlaneStats {
    const sums = this.shared.sums();
    const reports = this.latest.filter((s): s is WorkerStats => s !== undefined);
    const sessionTime = LatencyHistogram.merge([...this.departed.sessionTime, ...reports.map((r) => r.sessionTime)]).snapshot();
    const tcp = this.spec.protocol === 'tcp';
    const connectTimes = [...this.departed.connectTime, ...reports.flatMap((r) => (r.connectTime === null ? [] : [r.connectTime]))];
    const first = reports[0]?.udp ?? null;
    return {
      accepted: tcp ? sums.accepted : sums.sessionsTotal,
      rejects: tcp ? sums.rejects : {},
      sessions: this.shared.open,
      connectTime: tcp ? LatencyHistogram.merge(connectTimes).snapshot() : null,
      sessionTime,
      udp: tcp
        ? null
        : {
            datagramsIn: sums.datagramsIn,
            datagramsOut: sums.datagramsOut,
            bytesIn: sums.bytesIn,
            bytesOut: sums.bytesOut,
            dropped: sums.dropped,
            sessionsTotal: sums.sessionsTotal,
            recvBufferSize: first?.recvBufferSize ?? null,
            sendBufferSize: first?.sendBufferSize ?? null,
          },
    };
  }

  /** A worker died: its last counters are kept, its sessions given back (they are gone). */
  forget(worker: number, threadId: number): void {
    // A thread ended inside the per-source table's lock (terminated mid-acquire) would hold it forever.
    const limiter = this.spec.limiter;
    if (limiter !== null) SharedSourceLimiter.attach(limiter.memory, limiter.options as SourceLimiterOptions).recoverFrom(threadId);
    const last = this.latest[worker];
    if (last !== undefined) {
      this.departed.sessionTime.push(last.sessionTime);
      if (last.connectTime !== null) this.departed.connectTime.push(last.connectTime);
    }
    this.latest[worker] = undefined;
    this.shared.forgetWorker(worker);
    for (const b of this.pool.backends) {
      const held = b.slot.workerActive(worker);
      if (held !== 0) b.forgetWorker(worker, held);
      // Its connect times stay counted (Prometheus histograms must not go back).
      const times = b.workerConnectTimes[worker];
      if (times !== undefined) b.connectTime.add(times);
      b.workerConnectTimes[worker] = undefined;
    }
  }

  /** A replacement worker: the service, and its listener when open. */
  async replay(worker: number): Promise<void> {
    if (this.removed) return;
    this.start(worker);
    const at = this.listenedAt;
    if (at !== null) await this.threads.request(worker, { t: 'listen', key: this.key, endpoint: at.endpoint, reusePort: at.reusePort });
  }

  private fullSpec(): ServiceSpec {
    const backends = this.backendSpecs();
    this.posted = JSON.stringify(backends.map(({ slot: _s, ...rest }) => rest));
    return { key: this.key, name: this.spec.name, protocol: this.spec.protocol, balance: this.spec.balance, settings: this.spec.settings, shared: this.shared.ref, limiter: this.spec.limiter, backends, usable: this.usableIds() };
  }

  private backendSpecs(): BackendSpec[] {
    return this.pool.backends.map((b) => ({
      id: this.idOf(b),
      name: b.name,
      address: b.address,
      backup: b.backup,
      weight: b.weight,
      maxConnections: b.maxConnections,
      proxyProtocol: b.proxyProtocol,
      source: b.source,
      slot: b.slot.ref,
    }));
  }

  private usableIds(): number[] {
    return this.pool.usable.map((b) => this.idOf(b));
  }
}
