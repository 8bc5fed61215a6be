import { LatencyHistogram } from '../stats/latency-histogram';
import type { Balancer, PickContext } from '../balancer/balancer';
import type { Endpoint } from '../config/types';
import type { PerSourceConfig } from '../config/types';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import type { Backend } from '../pool/backend';
import { Acl } from '../admission/acl';
import { SourceLimiter, type AcquireResult } from '../admission/source-limiter';
import { CLIENT_EVENTS, TcpSession, type TcpAdmission, type TcpSessionHost } from './tcp-session';
import type { Connection, ConnectionListener, DataPlaneFactory } from './conn/connection';
import { chooseDataPlane, netDataPlane } from './conn/probe';
import type { DataPlane, DataPlaneStats, ListenOptions } from './data-plane';
import { type RejectCounts, type RejectReason, type TcpCloseReason } from './outcomes';
import type { TcpSettings } from './settings';
import { guarded } from '../timers';
import { ServiceShared } from '../workers/service-shared';
import { listenBacklog } from './listen-backlog';

export type { RejectCounts, RejectReason } from './outcomes';

/** Per-source admission, as SourceLimiter does it (a shared-memory one may stand in). */
export interface SourceLimiterLike {
  acquire(ip: string): AcquireResult;
  release(ip: string): void;
}

/** What the control plane answers for a TCP proxy: passive health, the pool's state, backups. */
export interface TcpHooks {
  /** Told of every failed connect attempt (passive health checking). */
  connectFailed(backend: Backend): void;
  /** Whether any backend is usable at all (to tell no_backend from backends_full). */
  hasUsableBackend(): boolean;
  /** A retry with no primary left to try falls through to a backup (before passive checks have marked the primaries down). */
  pickBackup(ctx: PickContext): Backend | null;
}

/** The parts of a TCP proxy that are not plain settings. */
export interface TcpProxyDeps {
  balancer: Balancer;
  log: Logger;
  hooks: TcpHooks;
  /** Counts shared with the other workers of the service (default: this thread's own). */
  shared?: ServiceShared;
  /** Builds the per-source limiter (default: a SourceLimiter of this process). */
  createLimiter?: (perSource: PerSourceConfig) => SourceLimiterLike;
}

/**
 * The listening side of one TCP service: accepts paused connections, turns
 * each into a TcpSession, keeps the live set for shutdown, and counts what it
 * refuses. Everything it knows of backends it learns through the balancer.
 */
export class TcpProxy implements TcpSessionHost, DataPlane {
  readonly name: string;
  balancer: Balancer;
  /** The current settings; a reload swaps the object (applySettings), sessions keep theirs. */
  settings: TcpSettings;
  admission: TcpAdmission;
  readonly hooks: TcpHooks;
  readonly log: Logger;
  readonly sessions = new Set<TcpSession>();
  /** Open sessions over every worker (the service's maxConnections) and this thread's counters. */
  readonly shared: ServiceShared;
  readonly rejects: RejectCounts;
  /** Backend connect time (of the attempt that succeeded, not the failed ones before it), and connected → closed. */
  readonly connectTime = new LatencyHistogram();
  readonly sessionTime = new LatencyHistogram();
  private readonly createLimiter: (perSource: PerSourceConfig) => SourceLimiterLike;
  /** Chosen when listen() starts (probe.ts): libuv handles, or net.Socket. */
  dataPlane: DataPlaneFactory = netDataPlane;
  private listener: ConnectionListener | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Runs while there are sessions: probes the paused sides of open ones for resets (TcpSession.probePaused). */
  private probeTimer: NodeJS.Timeout | null = null;

  constructor(name: string, settings: TcpSettings, deps: TcpProxyDeps) {
    this.name = name;
    this.balancer = deps.balancer;
    this.log = deps.log;
    this.hooks = deps.hooks;
    this.createLimiter = deps.createLimiter ?? newSourceLimiter;
    this.shared = deps.shared ?? ServiceShared.create(1);
    this.rejects = this.shared.counters.rejects;
    this.settings = settings;
    this.admission = this.admissionFor(settings, null);
  }

  /**
   * A reload: new sessions get `next`, live ones keep the settings they
   * started with. The per-source limiter (and its live counts) is kept unless
   * the limits themselves changed.
   */
  applySettings(next: TcpSettings): void {
    const prev = this.settings;
    this.admission = this.admissionFor(next, JSON.stringify(next.perSource) === JSON.stringify(prev.perSource) ? this.admission.limiter : null);
    this.settings = next;
  }

  private admissionFor(s: TcpSettings, keepLimiter: SourceLimiterLike | null): TcpAdmission {
    return {
      acl: new Acl(s.allow, s.deny), // no lists: check() returns before touching the address
      acceptProxy: s.acceptProxy.length > 0 ? new Acl(s.acceptProxy, []) : null,
      limiter: keepLimiter ?? (s.perSource === null ? null : this.createLimiter(s.perSource)),
    };
  }

  /** Plain and cloneable; live sessions include connecting ones. */
  stats(): DataPlaneStats {
    return {
      accepted: this.shared.counters.accepted,
      rejects: { ...this.rejects },
      sessions: this.sessions.size,
      connectTime: this.connectTime.snapshot(),
      sessionTime: this.sessionTime.snapshot(),
      udp: null,
    };
  }

  async listen(endpoint: Endpoint, options: ListenOptions = {}): Promise<Endpoint> {
    const choice = await chooseDataPlane();
    this.dataPlane = choice.factory;
    const listener = choice.factory.listener(
      {
        connection: (conn) => this.accept(conn),
        // accept(2) failures (EMFILE…): the listener goes on.
        error: (err) => this.log.error({ err }, 'listener error'),
      },
      CLIENT_EVENTS,
    );
    try {
      // IPv6 listens on IPv6 only (as before: ipv6Only), so an IPv4 service can share the port.
      const backlog = listenBacklog(this.settings.maxConnections);
      const bound = await listener.listen({ host: endpoint.host, port: endpoint.port, backlog, reusePort: options.reusePort === true, ipv6Only: endpoint.family === 6 });
      this.listener = listener;
      const text = endpoint.family === 6 ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
      return { host: bound.address, port: bound.port, family: endpoint.family, text };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new FulcrumError('ERR_FULCRUM_LISTEN', `service ${this.name}: cannot listen on ${endpoint.text}: ${e.code ?? e.message}`, [], { cause: err });
    }
  }

  get listening(): boolean {
    return this.listener !== null && this.listener.listening;
  }

  /** Stop accepting; live sessions go on. The listening socket closes at once. */
  stopAccepting(): void {
    const listener = this.listener;
    this.listener = null;
    if (listener !== null) void listener.close();
  }

  /** Resolves when no session is live (immediately if none). */
  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  abortAll(): void {
    for (const session of this.sessions) session.abort('aborted');
  }

  /** Close the live sessions of one backend (disabled, marked down with onBackendDown: close, drain deadline). */
  closeBackendSessions(backend: Backend, reason: TcpCloseReason): number {
    let closed = 0;
    for (const session of this.sessions) {
      // Connecting ones too: they hold a slot on the backend from the attempt on.
      if (session.backend === backend) {
        session.abort(reason);
        closed++;
      }
    }
    return closed;
  }

  private accept(conn: Connection): void {
    if (conn.remoteAddress === '') {
      // Already gone between accept and here (reset in the backlog).
      conn.close();
      return;
    }
    // One cap over every worker (shared memory), counted like net.Server's maxConnections drop.
    if (!this.shared.tryOpen(this.settings.maxConnections)) {
      this.rejects.max_connections++;
      conn.close();
      return;
    }
    this.shared.counters.accepted++;
    const session = new TcpSession(this, conn);
    this.sessions.add(session);
    if (this.probeTimer === null) {
      this.probeTimer = setInterval(probePausedSessions, PAUSED_PROBE_MS, this.sessions);
      this.probeTimer.unref();
    }
    session.start();
  }

  sessionConnected(session: TcpSession): void {
    const ms = session.connectedAt - session.attemptStartedAt;
    this.connectTime.recordMs(ms);
    session.backend!.connectTime.recordMs(ms);
  }

  connectFailed(session: TcpSession, backend: Backend, err: Error | null): void {
    this.hooks.connectFailed(backend);
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ backend: backend.name, client: session.clientAddress, err: err?.message ?? 'connect timeout' }, 'backend connect failed');
    }
  }

  rejected(session: TcpSession, reason: RejectReason): void {
    this.rejects[reason]++;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ client: session.clientAddress, reason }, 'client rejected');
  }

  sessionClosed(session: TcpSession, wasOpen: boolean): void {
    if (this.sessions.delete(session)) this.shared.close();
    if (this.sessions.size === 0 && this.probeTimer !== null) {
      clearInterval(this.probeTimer);
      this.probeTimer = null;
    }
    if (wasOpen) this.sessionTime.recordMs(performance.now() - session.connectedAt);
    if (session.settings.logConnections) this.accessLog(session, wasOpen);
    if (this.sessions.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private accessLog(s: TcpSession, wasOpen: boolean): void {
    const now = performance.now();
    this.log.info(
      {
        client: `${s.clientAddress}:${s.clientPort}`,
        backend: s.backend?.name ?? null,
        result: s.rejectReason ?? s.reason,
        bytesIn: s.client.bytesRead,
        bytesOut: wasOpen ? s.upstream!.bytesRead : 0,
        connectMs: wasOpen ? round(s.connectedAt - s.attemptStartedAt) : null,
        // Accept → backend connected: PROXY header, admission and failed attempts included.
        timeToBackendMs: wasOpen ? round(s.connectedAt - s.startedAt) : null,
        durationMs: round(now - s.startedAt),
      },
      'session closed',
    );
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}


/** How often paused sides are asked for a reset: a syscall per paused side, none for the others. */
const PAUSED_PROBE_MS = 1000;

const probePausedSessions = guarded('paused-side probe', (sessions: Set<TcpSession>): void => {
  for (const session of sessions) session.probePaused();
});

function newSourceLimiter(ps: PerSourceConfig): SourceLimiterLike {
  return new SourceLimiter({ maxConnections: ps.maxConnections, ratePerSecond: ps.ratePerSecond, burst: ps.burst, tableSize: ps.tableSize });
}
