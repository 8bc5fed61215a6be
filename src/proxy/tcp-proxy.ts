import net from 'node:net';
import { LatencyHistogram } from '../admin/histogram';
import type { Balancer, PickContext } from '../balancer/balancer';
import type { Endpoint } from '../config/types';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import type { Backend } from '../pool/backend';
import type { SourceLimiter } from '../admission/source-limiter';
import { TcpSession, type CloseReason } from './tcp-session';
import type { ListenOptions } from './data-plane';
import { guarded } from '../timers';
import { listenBacklog } from './listen-backlog';

/** Why a client was turned away: the `reason` label of fulcrum_rejected_total. */
export type RejectReason =
  | 'no_backend'
  | 'backends_full'
  | 'max_connections'
  | 'connect_failed'
  | 'acl'
  | 'rate_limit'
  | 'source_max_connections'
  | 'source_table_full'
  | 'proxy_header'
  | 'proxy_untrusted';

export type RejectCounts = Record<RejectReason, number>;

function zeroRejects(): RejectCounts {
  return {
    no_backend: 0,
    backends_full: 0,
    max_connections: 0,
    connect_failed: 0,
    acl: 0,
    rate_limit: 0,
    source_max_connections: 0,
    source_table_full: 0,
    proxy_header: 0,
    proxy_untrusted: 0,
  };
}


export interface AdmissionCheck {
  check(ip: string): boolean;
}

export interface TcpProxyOptions {
  name: string;
  balancer: Balancer;
  connectTimeout: number;
  idleTimeout: number;
  halfCloseTimeout: number;
  maxLifetime: number;
  proxyHeaderTimeout: number;
  retries: number;
  acl: AdmissionCheck;
  /** Trusted front load balancers (their connections must start with a PROXY header); null when off. */
  acceptProxy: AdmissionCheck | null;
  limiter: SourceLimiter | null;
  /** Whether any backend is usable at all (to tell no_backend from backends_full). */
  hasUsableBackend: () => boolean;
  maxConnections: number;
  logConnections: boolean;
  log: Logger;
  /** Told of every failed connect attempt (passive health checking). */
  onConnectFailure?: (backend: Backend) => void;
  /** A retry with no primary left to try falls through to a backup (before passive checks have marked the primaries down). */
  pickBackup?: (ctx: PickContext) => Backend | null;
  /**
   * Shared read buffer and direct writes (splice.ts); false: 'data' events and
   * socket.write(). Default: on, unless the environment has FULCRUM_SPLICE=off.
   */
  splice?: boolean;
}

/**
 * The listening side of one TCP service: accepts paused connections, turns
 * each into a TcpSession, keeps the live set for shutdown, and counts what it
 * refuses. Everything it knows of backends it learns through the balancer.
 */
export class TcpProxy {
  readonly name: string;
  balancer: Balancer;
  connectTimeout: number;
  idleTimeout: number;
  halfCloseTimeout: number;
  maxLifetime: number;
  proxyHeaderTimeout: number;
  retries: number;
  acl: AdmissionCheck;
  acceptProxy: AdmissionCheck | null;
  limiter: SourceLimiter | null;
  hasUsableBackend: () => boolean;
  readonly splice: boolean;
  readonly logConnections: boolean;
  readonly log: Logger;
  readonly sessions = new Set<TcpSession>();
  readonly rejects: RejectCounts = zeroRejects();
  accepted = 0;
  /** Backend connect time (of the attempt that succeeded, not the failed ones before it), and connected → closed. */
  readonly connectTime = new LatencyHistogram();
  readonly sessionTime = new LatencyHistogram();
  onConnectFailure: ((backend: Backend) => void) | undefined;
  readonly pickBackup: (ctx: PickContext) => Backend | null;
  private readonly server: net.Server;
  private idleWaiters: Array<() => void> = [];
  /** Runs while there are sessions: probes the paused sides of open ones for resets (TcpSession.probePaused). */
  private probeTimer: NodeJS.Timeout | null = null;

  constructor(options: TcpProxyOptions) {
    this.name = options.name;
    this.balancer = options.balancer;
    this.connectTimeout = options.connectTimeout;
    this.idleTimeout = options.idleTimeout;
    this.halfCloseTimeout = options.halfCloseTimeout;
    this.maxLifetime = options.maxLifetime;
    this.proxyHeaderTimeout = options.proxyHeaderTimeout;
    this.retries = options.retries;
    this.acl = options.acl;
    this.acceptProxy = options.acceptProxy;
    this.limiter = options.limiter;
    this.hasUsableBackend = options.hasUsableBackend;
    this.logConnections = options.logConnections;
    this.log = options.log;
    this.onConnectFailure = options.onConnectFailure;
    this.pickBackup = options.pickBackup ?? noBackup;
    this.splice = options.splice ?? process.env.FULCRUM_SPLICE !== 'off';
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket));
    // Node closes connections beyond maxConnections at accept and tells us: count them.
    this.server.maxConnections = options.maxConnections;
    this.server.on('drop', () => {
      this.rejects.max_connections++;
    });
    // A failed bind is listen()'s to report (once, as ERR_FULCRUM_LISTEN); this logs errors of a listening socket.
    this.server.on('error', (err) => {
      if (this.server.listening) this.log.error({ err }, 'listener error');
    });
  }

  listen(endpoint: Endpoint, options: ListenOptions = {}): Promise<Endpoint> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new FulcrumError('ERR_FULCRUM_LISTEN', `service ${this.name}: cannot listen on ${endpoint.text}: ${err.code ?? err.message}`, [], { cause: err }));
      };
      this.server.once('error', onError);
      const reusePort = options.reusePort === true;
      const backlog = listenBacklog(this.server.maxConnections);
      this.server.listen({ host: endpoint.host, port: endpoint.port, backlog, ipv6Only: endpoint.family === 6, ...(reusePort && { reusePort }) }, () => {
        this.server.removeListener('error', onError);
        const bound = this.server.address() as net.AddressInfo;
        const text = endpoint.family === 6 ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
        resolve({ host: bound.address, port: bound.port, family: endpoint.family, text });
      });
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /**
   * Stop accepting; live sessions go on. The listening socket closes at once;
   * server.close()'s callback would wait for every connection, so it is not awaited.
   */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Resolves when no session is live (immediately if none). */
  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  set maxConnections(n: number) {
    this.server.maxConnections = n;
  }

  abortAll(): void {
    for (const session of this.sessions) session.abort('aborted');
  }

  /** Close the live sessions of one backend (disabled, marked down with onBackendDown: close, drain deadline). */
  closeBackendSessions(backend: Backend, reason: CloseReason): number {
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

  private accept(socket: net.Socket): void {
    if (socket.remoteAddress === undefined) {
      // Already gone between accept and here (reset in the backlog).
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    this.accepted++;
    const session = new TcpSession(this, socket);
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
    this.onConnectFailure?.(backend);
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ backend: backend.name, client: session.clientAddress, err: err?.message ?? 'connect timeout' }, 'backend connect failed');
    }
  }

  rejected(session: TcpSession, reason: RejectReason): void {
    this.rejects[reason]++;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ client: session.clientAddress, reason }, 'client rejected');
  }

  sessionClosed(session: TcpSession, wasOpen: boolean): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0 && this.probeTimer !== null) {
      clearInterval(this.probeTimer);
      this.probeTimer = null;
    }
    if (wasOpen) this.sessionTime.recordMs(performance.now() - session.connectedAt);
    if (this.logConnections) this.accessLog(session, wasOpen);
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

function noop(): void {}

/** How often paused sides are asked for a reset: a syscall per paused side, none for the others. */
const PAUSED_PROBE_MS = 1000;

const probePausedSessions = guarded('paused-side probe', (sessions: Set<TcpSession>): void => {
  for (const session of sessions) session.probePaused();
});

function noBackup(): null {
  return null;
}
