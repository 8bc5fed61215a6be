import { createBalancer } from '../balancer';
import { pickSpareBackup, type Balancer } from '../balancer/balancer';
import type { AgentConfig, BackendConfig, Endpoint, HealthConfig, ProxyProtocolVersion, ServiceConfig } from '../config/types';
import type { Logger } from '../log';
import { Backend, HealthFlag } from '../pool/backend';
import { Pool } from '../pool/pool';
import { TcpProxy } from '../proxy/tcp-proxy';
import { BackendStates } from './backend-states';
import { HealthChecker } from './health/checker';
import { realClock, type Clock } from './health/clock';
import { CheckAgent, type AgentInfo } from './health/check-agent';
import { FlapDamper } from './health/damping';
import { checkLabel, isWriterCheck, probeFor, type CheckLabel } from './health/probes';
import { SingleWriter } from './health/single-writer';
import type { ProbeResult } from './health/tcp-probe';
import type { DataPlane } from '../proxy/data-plane';
import { UdpProxy } from '../proxy/udp-proxy';
import { SlowStart } from './slow-start';
import { PassiveHold } from './passive-hold';
import { tcpSettings, udpSettingsOf } from '../proxy/settings';
import { composeBackends, type DiscoveryView } from '../discovery';
import { BackendSlot, SlotSlab } from '../pool/backend-slot';
import { RemoteDataPlane } from '../workers/remote-data-plane';
import type { DataPlaneThreads } from '../workers/threads';
import type { LimiterSpec } from '../workers/messages';
import { SharedSourceLimiter } from '../admission/shared-source-limiter';
import { formatShare, hasChanges, previewChange } from './disruption';

/**
 * One configured service: its pool, its balancer (rebuilt whenever the pool's
 * usable set changes), its proxy and its health checks. Data flows one way:
 * checks and operator actions change health reasons (BackendStates), the pool
 * tells the balancer, the proxy only picks and reports counters back.
 */
export class Service {
  readonly name: string;
  config: ServiceConfig;
  readonly pool: Pool;
  balancer: Balancer;
  /** The data plane, whichever the protocol; `tcp` / `udp` for what only one of them has. */
  readonly proxy: DataPlane;
  readonly tcp: TcpProxy | null = null;
  readonly udp: UdpProxy | null = null;
  readonly states: BackendStates;
  private readonly slowStart: SlowStart;
  private checker: HealthChecker | null = null;
  /** Without active checks, passive failures hold a backend down for health.passiveHold. */
  private readonly passiveHold: PassiveHold;
  /** health.type role: master / primary: at most one backend passes (split-brain guard). */
  private writer: SingleWriter<Backend> | null = null;
  private damper: FlapDamper<Backend> | null = null;
  private agent: CheckAgent | null = null;
  private readonly clock: Clock;
  /** Backends that had a first health verdict (later ones are recoveries: slow start). Kept across reloads. */
  private readonly verdictSeen = new Set<Backend>();
  private readonly log: Logger;
  /** log.connections: one access-log line per closed session (the settings carry it; a reload keeps it). */
  private readonly logConnections: boolean;
  /** The bound address (port resolved when the config asked for port 0). */
  address: Endpoint | null = null;
  /** Listen with SO_REUSEPORT (set by a failover pair sharing the port on one host). */
  reusePort = false;
  /** The sets found by the discovery entries (hostnames, SRV, files) of this service. */
  private readonly discovery: DiscoveryView | null;
  /** Backends added after start (reload, discovery): their first good check ramps them in under slow start. */
  private readonly joinedLater = new WeakSet<Backend>();
  /** Backend list changes (reloads, discovery) apply one at a time, in order. */
  private backendChanges: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The data plane in worker threads (null: on this thread, `tcp` / `udp`). */
  readonly remote: RemoteDataPlane | null = null;
  /** Shared slots of this service's backends (one column per worker). */
  private readonly slab: SlotSlab;

  constructor(config: ServiceConfig, options: { logConnections: boolean; log: Logger; discovery?: DiscoveryView; clock?: Clock; threads?: DataPlaneThreads }) {
    this.name = config.name;
    this.clock = options.clock ?? realClock;
    this.config = config;
    this.log = options.log.child({ service: config.name });
    this.discovery = options.discovery ?? null;
    const initial = this.composed(config);
    this.slab = new SlotSlab(options.threads?.size ?? 1);
    this.pool = new Pool(initial, () => this.newSlot());
    this.balancer = createBalancer(config.balance);
    this.pool.on('change', (usable: readonly Backend[]) => {
      this.balancer.rebuild(usable);
      this.remote?.poolChanged();
    });
    this.logConnections = options.logConnections;
    if (options.threads !== undefined) {
      // Worker threads run the proxy; this thread decides and tells them (src/workers/).
      const settings = config.protocol === 'udp' ? udpSettingsOf(config, options.logConnections) : tcpSettings(config, options.logConnections);
      this.remote = new RemoteDataPlane(options.threads, { name: config.name, protocol: config.protocol, balance: config.balance, settings, limiter: limiterSpec(config) }, this.pool, this.balancer);
      this.proxy = this.remote;
    } else if (config.protocol === 'udp') {
      this.udp = new UdpProxy(config.name, udpSettingsOf(config, options.logConnections), {
        balancer: this.balancer,
        log: this.log,
        hooks: { backendFailed: (b) => this.passiveFailure(b) },
      });
      this.proxy = this.udp;
    } else {
      this.tcp = new TcpProxy(config.name, tcpSettings(config, options.logConnections), {
        balancer: this.balancer,
        log: this.log,
        hooks: {
          connectFailed: (b) => this.passiveFailure(b),
          hasUsableBackend: () => this.pool.usable.length > 0,
          pickBackup: (ctx) => pickSpareBackup(this.pool.backends, ctx),
        },
      });
      this.proxy = this.tcp;
    }
    // The pool keeps the order of `initial`, so backend i is entry i (a lookup by name here made startup O(N²)).
    this.pool.backends.forEach((b, i) => (b.proxyProtocol = proxyProtocolOf(initial[i]!, config)));
    this.slowStart = new SlowStart(config.slowStart, () => this.weightsChanged());
    this.states = new BackendStates(this.pool, this.proxy, this.slowStart, this.log, config, (b) => {
      this.udp?.backendDown(b);
      if (config.protocol === 'udp') this.remote?.backendDown(b);
    });
    this.passiveHold = new PassiveHold(config.health.passiveHold, (b) => {
      if (this.checker !== null) return; // active checks own the verdict now
      this.states.update(b, 0, HealthFlag.FailedPassiveCheck);
      this.log.info({ backend: b.name, holdMs: this.config.health.passiveHold }, 'passive check: hold over, backend back');
    });
    if (config.health.enabled && !canCheck(config)) {
      this.log.warn('udp service without health.port or health.udpProbe: active health checks are off (health.passiveFailures ICMP refusals in a row mark a backend down for health.passiveHold)');
    } else if (config.health.enabled) {
      // Unknown until the first check answers: nothing is sent to a backend before it has passed one.
      const release = this.pool.hold();
      for (const b of this.pool.backends) this.pool.setHealth(b, b.health | HealthFlag.FailedActiveCheck);
      release();
      this.checker = this.createChecker(config.health);
    }
    this.agent = this.createAgent(config.agent);
    this.balancer.rebuild(this.pool.usable);
    // Backends, their settings and health reasons are in place: the workers may build the service.
    this.remote?.start();
  }

  /** Effective weights moved (slow start, agent): balancers that precompute from them refresh, here and in workers. */
  private weightsChanged(): void {
    this.balancer.weightsChanged?.();
    this.remote?.weightsChanged();
  }

  private newSlot(): BackendSlot {
    return new BackendSlot(this.slab.allocate());
  }

  /** A worker's connect attempt failed (passive health): as passiveFailure, by the worker's backend id. */
  remoteConnectFailure(id: number): void {
    const b = this.remote?.backendOf(id);
    if (b !== undefined) this.passiveFailure(b);
  }

  /** The first round of health checks; bounded by the timeout. The manager opens the listener after it. */
  async startChecks(): Promise<void> {
    if (this.checker === null) {
      for (const b of this.pool.backends) this.agent?.add(b);
      return;
    }
    // No listener yet: verdicts are applied to the balancer once, after the round, not once each.
    const release = this.pool.hold();
    try {
      for (const b of this.pool.backends) this.checker.add(b);
      await this.checker.firstRound();
    } finally {
      release();
    }
    for (const b of this.pool.backends) this.agent?.add(b);
  }

  /** Open the listener (again, after a failover pair made this node master); no-op when open. */
  async listen(): Promise<Endpoint> {
    if (this.proxy.listening && this.address !== null) return this.address;
    this.address = await this.proxy.listen(this.config.listen, { reusePort: this.reusePort });
    return this.address;
  }

  /** Close the listener (this node became a standby); live TCP sessions go on until they end. */
  closeListener(): void {
    this.proxy.stopAccepting();
  }

  /** Stop health checks and timers (the proxy is stopped by the manager). */
  stop(): void {
    this.stopped = true;
    this.checker?.stop();
    this.passiveHold.stop();
    this.damper?.stop();
    this.agent?.stop();
    this.slowStart.stop();
    this.states.stop();
  }

  /** Apply a reloaded config whose listen address and protocol are unchanged: the listening socket stays. */
  async apply(next: ServiceConfig): Promise<void> {
    const prev = this.config;
    // Everything that can throw is built before any state changes.
    const balancer = next.balance !== prev.balance ? createBalancer(next.balance) : null;
    this.config = next;
    // New sessions get the new settings; live TCP sessions keep theirs, UDP ones read them per datagram.
    this.tcp?.applySettings(tcpSettings(next, this.logConnections));
    this.udp?.applySettings(udpSettingsOf(next, this.logConnections));
    if (this.remote !== null) {
      const settings = next.protocol === 'udp' ? udpSettingsOf(next, this.logConnections) : tcpSettings(next, this.logConnections);
      // A new shared table only when the limits changed: the live per-source counts stay otherwise.
      const limiter = JSON.stringify(next.perSource) === JSON.stringify(prev.perSource) ? this.remote.limiter : limiterSpec(next);
      this.remote.applySettings(settings, limiter);
    }
    this.states.onBackendDown = next.onBackendDown;
    this.states.drainTimeout = next.drainTimeout;
    this.slowStart.setWindow(next.slowStart);
    if (balancer !== null) {
      // Filled before it is installed: an empty balancer would refuse clients until the next rebuild.
      balancer.rebuild(this.pool.usable);
      this.balancer = balancer;
      this.proxy.balancer = balancer;
      this.remote?.setBalance(next.balance);
    }
    if (JSON.stringify(next.agent) !== JSON.stringify(prev.agent)) {
      // Removed: what the agents said is undone. Changed: it holds until the new settings' first answers.
      this.agent?.stop(next.agent == null);
      this.agent = this.createAgent(next.agent);
      for (const b of this.pool.backends) if (!(b.health & HealthFlag.Removed)) this.agent?.add(b);
    }
    if (JSON.stringify(next.health) !== JSON.stringify(prev.health)) {
      this.checker?.stop();
      this.damper?.stop();
      [this.damper, this.writer] = [null, null];
      for (const b of this.pool.backends) this.states.update(b, 0, HealthFlag.Damped);
      this.checker = next.health.enabled && canCheck(next) ? this.createChecker(next.health) : null;
      this.passiveHold.setHold(next.health.passiveHold);
      if (this.checker !== null) this.passiveHold.stop();
      for (const b of this.pool.backends) {
        if (this.checker !== null && !(b.health & HealthFlag.Removed)) {
          this.checker.add(b);
          // Carry the verdict over: a backend that is down still needs `rise` good checks.
          if (b.health & (HealthFlag.FailedActiveCheck | HealthFlag.FailedPassiveCheck)) this.checker.passiveDown(b);
        } else if (this.checker === null) this.states.update(b, 0, HealthFlag.FailedActiveCheck | HealthFlag.FailedPassiveCheck);
      }
    }
    await this.changeBackends(prev.balance, 'reload');
    // Backup flags or the algorithm may have changed: rebuild for new sessions.
    this.balancer.rebuild(this.pool.usable);
  }

  /** Does one of this service's backend entries name this discovery source? */
  follows(source: string): boolean {
    return (this.config.discovery ?? []).some((e) => e.source === source);
  }

  /** A discovery entry found a new set: apply it as a reload would (removed ones drain, new ones are checked first). */
  discoveryChanged(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.changeBackends(this.config.balance, 'discovery').catch((err) => this.log.error({ err }, 'applying discovered backends failed'));
  }

  discoveryStatus() {
    const d = this.discovery;
    if (d === null || (this.config.discovery ?? []).length === 0) return undefined;
    return this.config.discovery!.flatMap((e) => d.status(e.source) ?? []);
  }

  private composed(config: ServiceConfig) {
    const d = this.discovery;
    return d === null ? config.backends : composeBackends(config, (source) => d.found(source));
  }

  /** Apply the current config and discovered sets to the pool, one change at a time; log what moved. */
  private changeBackends(balanceBefore: string, cause: 'reload' | 'discovery'): Promise<void> {
    const run = this.backendChanges.then(async () => {
      if (this.stopped) return; // queued before stop(): a stopped service starts no checks again
      const next = this.composed(this.config);
      const running = this.pool.backends.filter((b) => !(b.health & HealthFlag.Removed));
      const change = previewChange(
        running.map((b) => ({ name: b.name, address: b.address.text, weight: b.weight, backup: b.backup, up: b.usable })),
        next.map((c) => ({ name: c.name, address: c.address.text, weight: c.weight, backup: c.backup })),
        { before: balanceBefore, after: this.config.balance },
      );
      if (hasChanges(change)) {
        const { added, removed, reweighted, movedSlots } = change;
        this.log.info({ cause, added, removed, reweighted, movedSlots, slots: change.slots, moved: formatShare(change) }, 'backends changed');
      }
      await this.applyBackends(next);
      // Weights may have changed: rebuild for new sessions.
      this.pool.refresh(true);
    });
    this.backendChanges = run.catch(() => undefined);
    return run;
  }

  /**
   * New backends are added and their first health check awaited (bounded by
   * the timeout) before removed ones stop taking sessions, so replacing every
   * backend in one reload leaves no moment without a usable one.
   */
  private async applyBackends(configs: readonly BackendConfig[]): Promise<void> {
    const wanted = new Map(configs.map((c) => [c.name, c]));
    const removed: Backend[] = [];
    for (const b of [...this.pool.backends]) {
      const c = wanted.get(b.name);
      if (c !== undefined && c.address.text === b.address.text) {
        b.weight = c.weight;
        b.backup = c.backup;
        b.maxConnections = c.maxConnections;
        b.proxyProtocol = proxyProtocolOf(c, this.config);
        b.source = c.source ?? null;
        if (b.health & HealthFlag.Removed) this.readd(b);
        wanted.delete(b.name);
      } else if (!(b.health & HealthFlag.Removed)) {
        removed.push(b);
      }
    }
    const added: Backend[] = [];
    for (const c of wanted.values()) {
      const b = new Backend(c, this.newSlot());
      b.proxyProtocol = proxyProtocolOf(c, this.config);
      // New backends are checked before they get traffic, then ramp in under slow start.
      this.joinedLater.add(b);
      if (this.checker !== null) b.health = HealthFlag.FailedActiveCheck;
      else this.slowStart.begin(b);
      this.pool.add(b);
      this.checker?.add(b);
      this.agent?.add(b);
      added.push(b);
    }
    if (this.checker !== null && added.length > 0) await this.checker.firstRound(added);
    for (const b of removed) {
      this.checker?.remove(b);
      this.agent?.remove(b);
      this.writer?.release(b);
      this.damper?.forget(b);
      this.passiveHold.cancel(b);
      this.states.retire(b, () => this.pool.delete(b));
    }
  }


  private readd(b: Backend): void {
    this.states.unretire(b);
    this.checker?.add(b);
    this.agent?.add(b);
  }

  private createChecker(health: HealthConfig): HealthChecker {
    const seen = this.verdictSeen;
    this.writer = isWriterCheck(health) ? new SingleWriter<Backend>() : null;
    this.damper = health.damping === undefined ? null : this.createDamper(health);
    const probe = probeFor(health, this.config.protocol);
    const checker: HealthChecker = new HealthChecker({
      interval: health.interval,
      timeout: health.timeout,
      rise: health.rise,
      fall: health.fall,
      clock: this.clock,
      probe: this.writer === null ? probe : (b) => probe(b).then((r) => this.guardWriter(b, r, checker)),
      onChange: (b, up, reason) => {
        // The first verdict of a backend is not a recovery: no slow-start ramp at process start.
        const isFirst = !seen.has(b);
        seen.add(b);
        if (!isFirst) this.damper?.record(b);
        if (up) this.states.update(b, 0, HealthFlag.FailedActiveCheck | HealthFlag.FailedPassiveCheck, !isFirst || this.joinedLater.has(b));
        else {
          this.writer?.release(b);
          this.states.update(b, HealthFlag.FailedActiveCheck, 0);
          this.log.warn({ backend: b.name, reason }, 'health check: backend down');
        }
      },
    });
    return checker;
  }

  /** A passing writer check fails while another backend holds the role (see SingleWriter). */
  private guardWriter(b: Backend, r: ProbeResult, checker: HealthChecker): ProbeResult {
    const writer = this.writer!;
    if (!r.ok) {
      // A holder that never came up (or is already down) gives the role back at its first failure.
      if (checker.verdict(b) !== true) writer.release(b);
      return r;
    }
    const holder = writer.claim(b);
    return holder === null ? r : { ok: false, reason: `${r.text ?? 'ok'}; ${holder.name} holds the role` };
  }

  private createDamper(health: HealthConfig): FlapDamper<Backend> {
    return new FlapDamper<Backend>(
      health.damping!,
      this.clock,
      (b, holdMs) => {
        this.states.update(b, HealthFlag.Damped, 0);
        this.log.warn({ backend: b.name, holdMs }, 'flap damping: backend held down');
      },
      (b) => {
        this.states.update(b, 0, HealthFlag.Damped);
        this.log.info({ backend: b.name }, 'flap damping: hold over');
      },
    );
  }

  private createAgent(agent: AgentConfig | null | undefined): CheckAgent | null {
    if (agent === null || agent === undefined) return null;
    return new CheckAgent(agent, this.clock, {
      update: (b, set, clear) => this.states.update(b, set, clear),
      weightsChanged: () => this.weightsChanged(),
    });
  }

  /**
   * Passive checks: `passiveFailures` connect failures (UDP: ICMP refusals) in
   * a row mark a backend down at once. Active checks bring it back; without
   * them (a UDP service with no probe) it comes back after health.passiveHold.
   */
  private passiveFailure(b: Backend): void {
    const health = this.config.health;
    const limit = health.passiveFailures;
    if (!health.enabled || limit === 0 || b.consecutiveFailures < limit) return;
    if (b.health & HealthFlag.FailedPassiveCheck) return;
    this.states.update(b, HealthFlag.FailedPassiveCheck, 0);
    if (this.checker !== null) this.checker.passiveDown(b);
    else this.passiveHold.hold(b);
    this.writer?.release(b);
    this.log.warn({ backend: b.name, failures: b.consecutiveFailures }, 'passive check: backend down');
  }

  healthInfo(b: Backend) {
    return this.checker?.info(b);
  }

  /** The check type (fulcrum_check_result's label), the agent's last report and the damping hold left. */
  checkDetails(b: Backend): { type: CheckLabel; agent: AgentInfo | null; dampedMs: number | null } {
    return { type: checkLabel(this.config.health, this.config.protocol), agent: this.agent?.info(b) ?? null, dampedMs: this.damper?.remaining(b) ?? null };
  }
}

/** A backend's own proxyProtocol setting wins ('none' turns it off); else the service's. */
function proxyProtocolOf(backend: BackendConfig, service: ServiceConfig): ProxyProtocolVersion | null {
  if (backend.proxyProtocol === 'none') return null;
  return backend.proxyProtocol ?? service.proxyProtocol;
}

/** A service's per-source table in shared memory, for its workers (null without perSource limits). */
function limiterSpec(config: ServiceConfig): LimiterSpec | null {
  const ps = config.perSource;
  if (ps === null) return null;
  const options = { maxConnections: ps.maxConnections, ratePerSecond: ps.ratePerSecond, burst: ps.burst, tableSize: ps.tableSize };
  return { memory: SharedSourceLimiter.create(options).memory, options };
}

/** A UDP backend can only be checked through a TCP port or a UDP probe that expects a reply. */
function canCheck(config: ServiceConfig): boolean {
  return config.protocol === 'tcp' || config.health.port !== undefined || config.health.udpProbe !== undefined;
}
