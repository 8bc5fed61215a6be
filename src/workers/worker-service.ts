import { createBalancer } from '../balancer';
import { pickSpareBackup, type Balancer } from '../balancer/balancer';
import type { BalanceName } from '../config/types';
import type { Logger } from '../log';
import { Backend } from '../pool/backend';
import { BackendSlot } from '../pool/backend-slot';
import { TcpProxy } from '../proxy/tcp-proxy';
import { UdpProxy } from '../proxy/udp-proxy';
import type { TcpSettings, UdpSettings } from '../proxy/settings';
import type { BackendCloseReason } from '../proxy/data-plane';
import { SharedSourceLimiter } from '../admission/shared-source-limiter';
import type { SourceLimiterOptions } from '../admission/source-limiter';
import type { BackendSpec, FromWorker, LimiterSpec, ServiceSpec } from './messages';
import { ServiceShared } from './service-shared';
import type { WorkerStats } from './stats';

/**
 * One service inside a worker thread: mirrors of its backends over the shared
 * slots, a balancer rebuilt from the usable set the control plane sends, and
 * the proxy. It decides nothing about health: it picks among what it is told
 * is usable and reports connect failures back.
 */
export class WorkerService {
  readonly key: string;
  private readonly backends = new Map<number, Backend>();
  private readonly ids = new Map<Backend, number>();
  private balancer: Balancer;
  private usable: Backend[] = [];
  readonly proxy: TcpProxy | UdpProxy;
  private readonly shared: ServiceShared;
  /** Pair session sync: clients the previous master pinned, by "ip:port". */
  private readonly pins = new Map<string, { backend: string; at: number }>();
  syncSessions = false;
  /** The service's shared per-source table (null without perSource limits). */
  private limiter: LimiterSpec | null = null;

  constructor(
    spec: ServiceSpec,
    private readonly worker: number,
    private readonly log: Logger,
    private readonly post: (msg: FromWorker) => void,
  ) {
    this.key = spec.key;
    this.shared = new ServiceShared(spec.shared, worker);
    this.balancer = createBalancer(spec.balance, this.shared.pickLock);
    this.setBackends(spec.backends);
    const hooks = {
      connectFailed: (b: Backend) => this.post({ t: 'connectFailure', key: this.key, backend: this.ids.get(b) ?? -1 }),
      hasUsableBackend: () => this.usable.length > 0,
      pickBackup: (ctx: Parameters<typeof pickSpareBackup>[1]) => pickSpareBackup([...this.backends.values()], ctx),
    };
    if (spec.protocol === 'udp') {
      const udp = new UdpProxy(spec.name, spec.settings as UdpSettings, { balancer: this.balancer, log, shared: this.shared, hooks: { backendFailed: hooks.connectFailed } });
      udp.sync = {
        created: (_proxy, session) => {
          if (this.syncSessions) this.post({ t: 'udpSession', key: this.key, client: session.key, backend: session.backend.name });
        },
        pinned: (proxy, client) => {
          const pin = this.pins.get(client);
          if (pin === undefined || Date.now() - pin.at > proxy.settings.idleTimeout) return undefined;
          return pin.backend;
        },
      };
      udp.backendByName = (name) => this.byName(name);
      this.proxy = udp;
    } else {
      this.limiter = spec.limiter;
      // Reads the spec in force when the proxy asks (at start, and when a reload changed perSource).
      const createLimiter = () => SharedSourceLimiter.attach(this.limiter!.memory, this.limiter!.options as SourceLimiterOptions);
      this.proxy = new TcpProxy(spec.name, spec.settings as TcpSettings, { balancer: this.balancer, log, shared: this.shared, hooks, createLimiter });
    }
    this.rebuild(spec.usable);
  }

  /** New, changed or forgotten backends (null: unchanged), then the usable set. */
  update(specs: BackendSpec[] | null, usable: number[]): void {
    if (specs !== null) this.setBackends(specs);
    this.rebuild(usable);
  }

  weightsChanged(): void {
    this.balancer.weightsChanged?.();
  }

  setBalance(balance: BalanceName, usable: number[]): void {
    const next = createBalancer(balance, this.shared.pickLock);
    this.balancer = next;
    this.rebuild(usable);
    this.proxy.balancer = next;
  }

  applySettings(settings: unknown, limiter: LimiterSpec | null): void {
    this.limiter = limiter;
    if (this.proxy instanceof TcpProxy) this.proxy.applySettings(settings as TcpSettings);
    else this.proxy.applySettings(settings as UdpSettings);
  }

  closeBackend(id: number, reason: BackendCloseReason): void {
    const b = this.backends.get(id);
    if (b !== undefined) this.proxy.closeBackendSessions(b, reason);
  }

  backendDown(id: number): void {
    const b = this.backends.get(id);
    if (b !== undefined && this.proxy instanceof UdpProxy) this.proxy.backendDown(b);
  }

  learnPins(pins: Array<[string, string, number]>): void {
    for (const [client, backend, at] of pins) {
      this.pins.delete(client);
      this.pins.set(client, { backend, at });
    }
    // Bounded as the control plane's table: the oldest go first.
    for (const client of this.pins.keys()) {
      if (this.pins.size <= MAX_PINS) break;
      this.pins.delete(client);
    }
  }

  /** Live UDP sessions as [client, backend name] (a pair's full session sync). */
  udpSessions(): Array<[string, string]> {
    if (!(this.proxy instanceof UdpProxy)) return [];
    return [...this.proxy.sessions.values()].map((s) => [s.key, s.backend.name]);
  }

  stats(): WorkerStats {
    const connectTimes: WorkerStats['connectTimes'] = [];
    for (const [id, b] of this.backends) if (b.connectTime.count > 0) connectTimes.push([id, b.connectTime.snapshot()]);
    return { ...this.proxy.stats(), sessions: this.shared.workerSessions(this.worker), connectTimes };
  }

  private setBackends(specs: BackendSpec[]): void {
    const seen = new Set<number>();
    for (const s of specs) {
      seen.add(s.id);
      let b = this.backends.get(s.id);
      if (b === undefined) {
        b = new Backend({ name: s.name, address: s.address, backup: s.backup, weight: s.weight, maxConnections: s.maxConnections, source: s.source ?? undefined }, new BackendSlot(s.slot, this.worker), true);
        this.backends.set(s.id, b);
        this.ids.set(b, s.id);
      }
      b.backup = s.backup;
      b.maxConnections = s.maxConnections;
      b.proxyProtocol = s.proxyProtocol;
    }
    for (const [id, b] of this.backends) {
      if (seen.has(id)) continue;
      this.backends.delete(id);
      this.ids.delete(b);
    }
  }

  private rebuild(usable: number[]): void {
    const list: Backend[] = [];
    for (const id of usable) {
      const b = this.backends.get(id);
      if (b !== undefined) list.push(b);
    }
    this.usable = list;
    this.balancer.rebuild(list);
  }

  private byName(name: string): Backend | undefined {
    for (const b of this.backends.values()) if (b.name === name) return b;
    return undefined;
  }

}

/** As the pair's own table (FULL_SYNC_MAX_ENTRIES order of magnitude). */
const MAX_PINS = 100_000;
