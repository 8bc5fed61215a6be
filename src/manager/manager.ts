import { readFileSync } from 'node:fs';
import { AdminServer } from '../admin/server';
import { currentDataPlane } from '../proxy/conn/probe';
import { loadConfigFile } from '../config';
import type { Endpoint, FulcrumConfig } from '../config/types';
import { FulcrumError } from '../errors';
import { rootLogger, setLogLevel, type Logger } from '../log';
import { HealthFlag } from '../pool/backend';
import { guarded, timerErrors } from '../timers';
import { DnsServices } from '../dns/dns-services';
import { VERSION } from '../version';
import { diffServices } from './reload';
import { Discovery } from '../discovery';
import { fitToOpenFilesLimit, openFilesLimit } from './fd-budget';
import { Pair, pairReusesPort } from './pair';
import { Service } from './service';
import { readUdpKernelStats } from './udp-kernel-stats';
import { backendStatus, serviceStatus } from './status-report';
import type { BackendAction, BackendStatus, ControlPlane, ReloadReport, StatusReport } from './status';
import { DataPlaneThreads, type ThreadsOwner } from '../workers/threads';
import { resolveWorkers } from '../workers/count';
import type { FromWorker } from '../workers/messages';
import type { WorkerStats } from '../workers/stats';

export interface StopResult {
  /** Sessions still open at the deadline and closed by force. */
  aborted: number;
}


/**
 * Owns the running services and the admin API. Starts every listener (all
 * or none), applies reloads as a difference, and stops gracefully: stop
 * accepting, let live sessions finish until the deadline, close the rest.
 */
export interface StartOptions {
  configFile?: string;
  log?: Logger;
  /** Run the data plane in worker threads even with one worker (tests of the threaded path on any Node). */
  threads?: boolean;
}

export class Manager implements ControlPlane, ThreadsOwner {
  readonly services: Service[] = [];
  /** Services a reload removed or replaced: no longer accepting, finishing their sessions. */
  private readonly retiring = new Set<Service>();
  admin: AdminServer | null = null;
  /** protocol: dns services (GSLB); they listen whatever the pair's role. */
  readonly dns: DnsServices;
  /** The failover pair, when peer: is configured. */
  pair: Pair | null = null;
  adminAddress: Endpoint | null = null;
  private stopping: Promise<StopResult> | null = null;
  /** Sessions closed by force (abortAll, a second signal, or the shutdown deadline). */
  private aborted = 0;
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly startedAt = Date.now();
  /** Hostnames, SRV names and backend files of every service (control plane); changes go to the services naming them. */
  readonly discovery: Discovery;
  /** The data-plane worker threads; null when the data plane runs on this thread (workers: 1). */
  threads: DataPlaneThreads | null = null;

  private constructor(
    public config: FulcrumConfig,
    readonly configFile: string | null,
    readonly log: Logger,
  ) {
    this.discovery = new Discovery(config.discovery, log, (source) => {
      for (const s of this.services) if (s.follows(source)) void s.discoveryChanged();
    });
    this.dns = new DnsServices(log);
  }

  static async start(given: FulcrumConfig, options: StartOptions = {}): Promise<Manager> {
    setLogLevel(given.log.level);
    const log = options.log ?? rootLogger;
    const config = fitCaps(given, log);
    const manager = new Manager(config, options.configFile ?? null, log);
    try {
      const workers = resolveWorkers(config.workers);
      if (workers > 1 || options.threads === true) {
        manager.threads = await DataPlaneThreads.start(workers, log, given.log.level);
        manager.threads.owner = manager;
        manager.dns.threads = manager.threads;
        log.info({ workers, node: process.versions.node }, 'data plane: worker threads started');

      }
      (await manager.discovery.prepare(config)).commit();
      // In a pair the listeners wait for the node to become MASTER (standby: closed).
      const listen = config.peer === null || config.peer.standby === 'open';
      for (const sc of config.services) manager.services.push(await manager.startService(sc, listen));
      if (pairReusesPort(config.peer) && readSysctl('net/ipv4/tcp_migrate_req') === '0') {
        log.warn('failover pair sharing the port on one host: set net.ipv4.tcp_migrate_req=1, or connections queued on the listener that closes at a handover are reset');
      }
      await manager.dns.start(config.dns ?? []);
      if (config.peer !== null) {
        manager.pair = new Pair(config.peer, () => manager.services, manager.log);
        await manager.pair.start();
        manager.log.info({ peer: config.peer.id, priority: config.peer.priority, peers: config.peer.peers.map((p) => p.text) }, 'peer heartbeat started (backup until elected)');
      }
      if (config.admin !== null) {
        manager.admin = new AdminServer(manager, config.admin, manager.log.child({ component: 'admin' }));
        const bound = await manager.admin.listen();
        manager.adminAddress = bound;
        manager.log.info({ admin: bound.text }, 'admin API listening');
      }
    } catch (err) {
      manager.discovery.stop();
      await manager.pair?.stop();
      manager.dns.stop();
      for (const s of manager.services) {
        s.stop();
        s.proxy.stopAccepting();
      }
      await manager.threads?.stop();
      throw err;
    }
    return manager;
  }

  private async startService(sc: FulcrumConfig['services'][number], listen = this.pair === null || this.pair.shouldListen): Promise<Service> {
    const service = new Service(sc, { logConnections: this.config.log.connections, log: this.log, discovery: this.discovery, threads: this.threads ?? undefined });
    service.reusePort = pairReusesPort(this.config.peer);
    try {
      await service.startChecks();
      const up = service.pool.backends.filter((b) => b.usable).length;
      if (listen) {
        const bound = await service.listen();
        this.log.info({ service: service.name, listen: bound.text, balance: sc.balance, backends: service.pool.backends.length, up }, 'service listening');
      } else {
        this.log.info({ service: service.name, listen: sc.listen.text, balance: sc.balance, backends: service.pool.backends.length, up }, 'service ready (standby: not listening)');
      }
      this.pair?.attach(service);
    } catch (err) {
      service.stop();
      throw err;
    }
    return service;
  }

  service(name: string): Service | undefined {
    return this.services.find((s) => s.name === name);
  }

  // ---- data-plane workers (ThreadsOwner)

  report(_worker: number, msg: FromWorker): void {
    if (msg.t !== 'connectFailure' && msg.t !== 'udpSession') return;
    const service = [...this.services, ...this.retiring].find((s) => s.remote?.key === msg.key);
    if (service === undefined) return;
    if (msg.t === 'connectFailure') service.remoteConnectFailure(msg.backend);
    else this.pair?.workerSessionCreated(service, msg.client, msg.backend);
  }

  forget(worker: number, threadId: number): void {
    for (const s of [...this.services, ...this.retiring]) s.remote?.forget(worker, threadId);
    this.dns.forget(worker);
  }

  async replay(worker: number): Promise<void> {
    this.threads?.post(worker, { t: 'syncSessions', on: this.pair !== null });
    for (const s of this.services) await s.remote?.replay(worker);
    await this.dns.replay(worker);
  }

  /** Ask every worker for its counters and histograms (before /status and /metrics); at once without workers. */
  async collectStats(): Promise<void> {
    const threads = this.threads;
    if (threads === null) return;
    const [replies] = await Promise.all([threads.requestAll<Array<[string, WorkerStats]>>({ t: 'stats' }), this.dns.collectStats()]);
    const byKey = new Map([...this.services, ...this.retiring].flatMap((s) => (s.remote === null ? [] : [[s.remote.key, s.remote] as const])));
    replies.forEach((list, worker) => {
      for (const [key, stats] of list) byKey.get(key)?.record(worker, stats);
    });
  }

  /** Every worker has handled the messages posted so far (one port per worker, in order): a barrier. */
  async applied(): Promise<void> {
    await this.threads?.requestAll({ t: 'barrier' });
  }

  // ---- control plane (admin API)

  status(): StatusReport {
    return {
      version: VERSION,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      configFile: this.configFile,
      services: this.services.map(serviceStatus),
      peer: this.pair?.status() ?? null,
      timerErrors: timerErrors.total,
      udpKernel: this.services.some((s) => s.config.protocol === 'udp') ? readUdpKernelStats() : null,
      dns: this.dns.list.map((d) => d.status()),
      dataPlane: currentDataPlane(),
      workers: this.workersStatus(),
    };
  }

  /** Per-worker live sessions (imbalance shows here) and replacements; one entry, the main thread, without workers. */
  private workersStatus(): StatusReport['workers'] {
    const threads = this.threads;
    const all = [...this.services, ...this.retiring];
    if (threads === null) return { count: 1, threads: false, restarts: 0, sessions: [all.reduce((n, s) => n + s.proxy.sessions.size, 0)] };
    const sessions = new Array<number>(threads.size).fill(0);
    for (const s of all) for (let w = 0; w < threads.size; w++) sessions[w]! += s.remote?.shared.workerSessions(w) ?? 0;
    return { count: threads.size, threads: true, restarts: threads.restarts, sessions };
  }

  backendAction(serviceName: string, backendName: string, action: BackendAction): BackendStatus {
    const dns = this.dns.get(serviceName);
    if (dns !== undefined) return dns.act(backendName, action);
    const { service, backend } = this.lookup(serviceName, backendName);
    if (backend.health & HealthFlag.Removed) {
      throw new FulcrumError('ERR_FULCRUM_BAD_REQUEST', `backend "${backend.name}" of service "${service.name}" was removed by a reload and is draining; it cannot be changed`);
    }
    service.states.act(backend, action);
    this.log.info({ service: service.name, backend: backend.name, action }, 'operator action');
    return backendStatus(service, backend);
  }

  setWeight(serviceName: string, backendName: string, weight: number): BackendStatus {
    if (!Number.isInteger(weight) || weight < 0 || weight > 1000) {
      throw new FulcrumError('ERR_FULCRUM_BAD_REQUEST', `weight must be an integer between 0 and 1000 (got ${JSON.stringify(weight)})`);
    }
    if (this.dns.get(serviceName) !== undefined) throw new FulcrumError('ERR_FULCRUM_BAD_REQUEST', `service "${serviceName}" is a dns service: member weights are set in the config (reload to change them)`);
    const { service, backend } = this.lookup(serviceName, backendName);
    backend.weight = weight;
    service.pool.refresh(true);
    this.log.info({ service: service.name, backend: backend.name, weight }, 'operator set weight');
    return backendStatus(service, backend);
  }

  private lookup(serviceName: string, backendName: string) {
    const service = this.service(serviceName);
    if (service === undefined) throw new FulcrumError('ERR_FULCRUM_NOT_FOUND', `no service named "${serviceName}"`);
    const backend = service.pool.find(backendName);
    if (backend === undefined) throw new FulcrumError('ERR_FULCRUM_NOT_FOUND', `service "${serviceName}" has no backend named "${backendName}"`);
    return { service, backend };
  }

  /** Re-read the config file and apply the difference. An invalid file leaves everything as it was. */
  reload(): Promise<ReloadReport> {
    const run = this.reloading.then(() => {
      if (this.configFile === null) {
        throw new FulcrumError('ERR_FULCRUM_RELOAD_UNAVAILABLE', 'fulcrum was started without a config file (quick mode or demo): nothing to reload');
      }
      return this.apply(loadConfigFile(this.configFile));
    });
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /** Apply a new config: new listeners first (so a failure changes nothing), then in-place updates, then retirements. */
  async apply(given: FulcrumConfig): Promise<ReloadReport> {
    if (this.stopping !== null) throw new FulcrumError('ERR_FULCRUM_STOPPING', 'fulcrum is stopping: reload refused');
    const next = fitCaps(given, this.log);
    const plan = diffServices(this.services, next.services);
    const found = await this.discovery.prepare(next); // new names are looked up first: a failure changes nothing
    const started: Service[] = [];
    try {
      for (const sc of plan.start) started.push(await this.startService(sc));
      const dns = await this.dns.apply(next.dns ?? []);
      for (const key of ['servicesAdded', 'servicesRemoved', 'servicesChanged'] as const) plan.report[key].push(...dns[key]);
    } catch (err) {
      found.discard();
      for (const s of started) {
        s.stop();
        s.proxy.stopAccepting();
      }
      throw err;
    }
    found.commit();
    setLogLevel(next.log.level);
    this.threads?.setLogLevel(next.log.level);
    if (resolveWorkers(next.workers) !== resolveWorkers(this.config.workers)) this.log.warn('workers changed: the number of worker threads changes at the next restart');
    await Promise.all(plan.update.map(({ service, config }) => service.apply(config)));
    for (const s of plan.retire) this.retire(s);
    this.services.splice(0, this.services.length, ...next.services.map((sc) => started.find((s) => s.name === sc.name) ?? this.service(sc.name)!));
    if (this.admin !== null && next.admin !== null) this.admin.setToken(next.admin.token);
    if (JSON.stringify(next.peer) !== JSON.stringify(this.config.peer)) {
      this.log.warn('peer settings changed: they apply at the next restart');
    }
    if (JSON.stringify(next.admin?.listen) !== JSON.stringify(this.config.admin?.listen)) {
      this.log.warn('admin.listen changed: the admin API keeps its address until a restart');
    }
    this.config = { ...next, workers: this.config.workers, peer: this.config.peer, admin: this.config.admin === null ? null : { ...this.config.admin, token: next.admin?.token } };
    this.log.info(plan.report, 'configuration reloaded');
    return plan.report;
  }

  /** Stop accepting, let sessions finish until the service's drainTimeout, then close them. */
  private retire(service: Service): void {
    this.retiring.add(service);
    service.proxy.stopAccepting();
    service.stop();
    const timer = setTimeout(guarded('retired service drain deadline', () => service.proxy.abortAll()), service.config.drainTimeout);
    timer.unref();
    void service.proxy.whenIdle().then(() => {
      clearTimeout(timer);
      this.retiring.delete(service);
      service.remote?.remove();
    });
  }

  stop(deadlineMs: number = this.config.shutdownTimeout): Promise<StopResult> {
    this.stopping ??= this.drainAndStop(deadlineMs);
    return this.stopping;
  }

  /** Close every session now, retiring services included (a second signal); counted in stop()'s `aborted`. */
  abortAll(): void {
    const all = [...this.services, ...this.retiring];
    for (const s of all) {
      this.aborted += s.proxy.sessions.size;
      s.proxy.abortAll();
    }
  }

  private async drainAndStop(deadlineMs: number): Promise<StopResult> {
    await this.reloading; // a reload in flight finishes first, so everything it started is drained too
    // Hand over first: priority-0 adverts let the peer take the services at once.
    await this.pair?.stop();
    this.discovery.stop();
    this.dns.stop();
    const all = () => [...this.services, ...this.retiring];
    const live = () => all().reduce((n, s) => n + s.proxy.sessions.size, 0);
    // Every listener (in every worker) is closed before the log line says so.
    await Promise.all(
      all().map((s) => {
        const closed = s.proxy.stopAccepting();
        s.stop();
        return closed;
      }),
    );
    this.log.info({ sessions: live(), deadlineMs }, 'stopping: no new connections, draining live sessions');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(resolve, deadlineMs, 'deadline');
    });
    const drained = Promise.all(all().map((s) => s.proxy.whenIdle())).then(() => 'drained' as const);
    const outcome = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') {
      this.abortAll();
      await drained;
    }
    await this.admin?.close();
    await this.threads?.stop();
    const aborted = this.aborted;
    this.log.info({ aborted }, 'stopped');
    return { aborted };
  }
}

/** A sysctl's value, or null where it cannot be read (not Linux, an older kernel). */
function readSysctl(name: string): string | null {
  try {
    return readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Defaulted session caps lowered to fit the open-files limit found now; explicit ones that do not fit are warned about. */
function fitCaps(config: FulcrumConfig, log: Logger): FulcrumConfig {
  const limit = openFilesLimit();
  const plan = fitToOpenFilesLimit(config, limit);
  if (plan.lowered.length > 0) log.info({ openFilesLimit: limit, lowered: plan.lowered }, 'default session caps lowered to fit the open-files limit');
  if (plan.warning !== null) log.warn(plan.warning);
  return plan.config;
}
