import dgram from 'node:dgram';
import net from 'node:net';
import { encodeV2 } from './proxy-protocol';
import { LatencyHistogram } from '../stats/latency-histogram';
import { Acl } from '../admission/acl';
import { NO_TRIED, type Balancer, type PickContext } from '../balancer/balancer';
import { hashSource } from '../balancer/hash';
import type { Endpoint } from '../config/types';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import { HealthFlag, type Backend } from '../pool/backend';
import { guarded } from '../timers';
import { ServiceShared } from '../workers/service-shared';
import { SCALAR } from '../workers/service-counters';
import type { DataPlane, DataPlaneStats, ListenOptions } from './data-plane';
import { UDP_DROP_REASONS, zeroCounts, type UdpCloseReason, type UdpDropCounts } from './outcomes';
import type { UdpSettings } from './settings';
import { UdpSession, type UdpSessionHost } from './udp-session';

export { MAX_PENDING, UdpSession } from './udp-session';
export { UDP_DEFAULTS, udpSettings, type UdpSettings } from './settings';
export { UDP_DROP_REASONS, type UdpCloseReason, type UdpDropCounts, type UdpDropReason } from './outcomes';

/** The parts of a UDP proxy that are not plain settings. */
export interface UdpProxyDeps {
  balancer: Balancer;
  log: Logger;
  hooks: {
    /** Told of every upstream failure (ICMP port unreachable → ECONNREFUSED): passive health. */
    backendFailed(backend: Backend): void;
  };
  /** Period of the idle sweep (default min(1000, idleTimeout / 4)). */
  sweepInterval?: number;
  /** Clock in ms for lastSeen and session times (default performance.now). */
  now?: () => number;
  /** Counts shared with the other workers of the service (default: this thread's own). */
  shared?: ServiceShared;
}

/** Failover pair UDP session sync: sessions created here are told; pins learned from the old master are asked. */
export interface SessionSync {
  created(proxy: UdpProxy, session: UdpSession): void;
  pinned(proxy: UdpProxy, clientKey: string): string | undefined;
}

/** Reasons that mean "down": sessions move. Draining or removed backends keep theirs until idle or the drain deadline. */
const DOWN = HealthFlag.FailedActiveCheck | HealthFlag.FailedPassiveCheck | HealthFlag.DisabledByOperator;
const PICK_ATTEMPTS = 4;

/**
 * The listening side of one UDP service: a session table keyed by client
 * "ip:port", one connected upstream socket per session (UdpSession), replies
 * sent back from the listening socket, and one coarse sweep that expires idle
 * sessions. Mirrors TcpProxy (stopAccepting, abortAll, whenIdle,
 * closeBackendSessions) so the manager can treat both alike.
 */
export class UdpProxy implements UdpSessionHost, DataPlane {
  readonly name: string;
  balancer: Balancer;
  /** Read per datagram or session: a reload swaps the object (applySettings) and every session sees the new one. */
  settings: UdpSettings;
  readonly log: Logger;
  readonly hooks: UdpProxyDeps['hooks'];
  readonly now: () => number;
  readonly sweepInterval: number;
  readonly sessions = new Map<string, UdpSession>();
  /** Sessions over every worker (udp.maxSessions) and this thread's counters. */
  readonly shared: ServiceShared;
  readonly dropped: UdpDropCounts;
  private readonly f64: Float64Array;
  private readonly col: number;
  /** Built from settings.allow / deny. */
  private acl: Acl;
  sync: SessionSync | null = null;
  /** Backends by name, for pins learned from the peer (set by the service). */
  backendByName: (name: string) => Backend | undefined = () => undefined;
  readonly sessionTime = new LatencyHistogram();
  /** Buffer sizes the kernel granted to the listening socket (null before listen). */
  recvBufferSize: number | null = null;
  sendBufferSize: number | null = null;
  /** The listening socket; null before listen and after stopAccepting. */
  socket: dgram.Socket | null = null;

  private readonly perSource = new Map<string, number>();
  private readonly scratch: PickContext = { sourceHash: 0, tried: NO_TRIED };
  private sweepTimer: NodeJS.Timeout | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(name: string, settings: UdpSettings, deps: UdpProxyDeps) {
    this.name = name;
    this.balancer = deps.balancer;
    this.settings = settings;
    const idle = settings.idleTimeout;
    if (!(idle > 0)) throw new FulcrumError('ERR_FULCRUM_CONFIG', `service ${name}: udp idleTimeout must be > 0 (got ${idle})`);
    this.log = deps.log;
    this.hooks = deps.hooks;
    this.shared = deps.shared ?? ServiceShared.create(1);
    this.dropped = this.shared.counters.dropped;
    this.f64 = this.shared.f64;
    this.col = this.shared.column;
    this.acl = new Acl(settings.allow, settings.deny);
    this.now = deps.now ?? (() => performance.now());
    this.sweepInterval = Math.max(1, deps.sweepInterval ?? Math.min(1000, idle / 4));
  }

  /**
   * A reload: every later datagram and session reads `next` (the sweep period
   * and the socket buffer sizes, applied at listen, stay).
   */
  applySettings(next: UdpSettings): void {
    if (next.allow !== this.settings.allow || next.deny !== this.settings.deny) this.acl = new Acl(next.allow, next.deny);
    this.settings = next;
  }

  // This thread's counters live in shared memory (its column), so every worker's add up without a message.
  /** Received from clients (dropped ones included) and sent to clients. */
  get datagramsIn(): number {
    return this.f64[this.col + SCALAR.datagramsIn]!;
  }
  set datagramsIn(n: number) {
    this.f64[this.col + SCALAR.datagramsIn] = n;
  }
  get datagramsOut(): number {
    return this.f64[this.col + SCALAR.datagramsOut]!;
  }
  set datagramsOut(n: number) {
    this.f64[this.col + SCALAR.datagramsOut] = n;
  }
  get bytesIn(): number {
    return this.f64[this.col + SCALAR.bytesIn]!;
  }
  set bytesIn(n: number) {
    this.f64[this.col + SCALAR.bytesIn] = n;
  }
  get bytesOut(): number {
    return this.f64[this.col + SCALAR.bytesOut]!;
  }
  set bytesOut(n: number) {
    this.f64[this.col + SCALAR.bytesOut] = n;
  }
  /** Sessions created (a reassignment is not a new session). */
  get sessionsTotal(): number {
    return this.f64[this.col + SCALAR.sessionsTotal]!;
  }
  set sessionsTotal(n: number) {
    this.f64[this.col + SCALAR.sessionsTotal] = n;
  }

  /** Plain and cloneable. */
  stats(): DataPlaneStats {
    return {
      accepted: this.sessionsTotal,
      rejects: {},
      sessions: this.sessions.size,
      connectTime: null,
      sessionTime: this.sessionTime.snapshot(),
      udp: {
        datagramsIn: this.datagramsIn,
        datagramsOut: this.datagramsOut,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        dropped: { ...this.dropped },
        sessionsTotal: this.sessionsTotal,
        recvBufferSize: this.recvBufferSize,
        sendBufferSize: this.sendBufferSize,
      },
    };
  }

  listen(endpoint: Endpoint, options: ListenOptions = {}): Promise<Endpoint> {
    return new Promise((resolve, reject) => {
      const v6 = endpoint.family === 6;
      const reusePort = options.reusePort === true;
      const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, ...(reusePort && { reusePort }) } as dgram.SocketOptions);
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(new FulcrumError('ERR_FULCRUM_LISTEN', `service ${this.name}: cannot listen on udp ${endpoint.text}: ${err.code ?? err.message}`, [], { cause: err }));
      };
      socket.once('error', onError);
      socket.bind({ port: endpoint.port, address: endpoint.host }, () => {
        socket.removeListener('error', onError);
        socket.on('error', (err) => this.log.error({ err }, 'udp listener error'));
        socket.on('message', this.onClientMessage);
        this.socket = socket;
        this.applyBufferSizes(socket);
        this.sweepTimer = setInterval(guarded('udp idle sweep', () => this.sweep()), this.sweepInterval);
        this.sweepTimer.unref();
        const bound = socket.address();
        const text = v6 ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
        resolve({ host: bound.address, port: bound.port, family: endpoint.family, text });
      });
    });
  }

  get listening(): boolean {
    return this.socket !== null;
  }

  /** Close the listening socket; sessions could no longer reply, so they are closed too. */
  stopAccepting(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.socket?.close();
    this.socket = null;
    this.closeAll('stopped');
  }

  abortAll(): void {
    this.closeAll('aborted');
  }

  /** Resolves when no session is live (immediately if none). */
  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Close the live sessions of one backend (down with onBackendDown: drop, disabled, drain deadline). */
  closeBackendSessions(backend: Backend, reason: UdpCloseReason = 'backend_down'): number {
    return this.eachOf(backend, (s) => this.closeSession(s, reason));
  }

  /** A backend became unusable: its sessions move on their next datagram ('reassign') or are closed now ('drop'). */
  backendDown(backend: Backend): number {
    if (this.settings.onBackendDown === 'drop') return this.closeBackendSessions(backend, 'backend_down');
    return this.eachOf(backend, (s) => (s.reassign = true));
  }

  private eachOf(backend: Backend, fn: (s: UdpSession) => void): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (s.backend !== backend) continue;
      fn(s);
      n++;
    }
    return n;
  }

  /** The PROXY v2 DGRAM header for one client (computed once per session and backend, not per datagram). */
  proxyHeaderFor(clientAddress: string, clientPort: number): Buffer {
    const local = this.socket?.address();
    const destAddress = local?.address ?? '0.0.0.0';
    const family = net.isIPv6(clientAddress) || net.isIPv6(destAddress) ? 6 : 4;
    return encodeV2({ family, protocol: 'udp', sourceAddress: clientAddress, sourcePort: clientPort, destAddress, destPort: local?.port ?? 0 });
  }

  /** Expire sessions idle for idleTimeout or longer (every sweepInterval; public for tests with a fake clock). */
  sweep(): void {
    const now = this.now();
    const idle = this.settings.idleTimeout;
    // Deleting the current entry while iterating a Map is safe.
    for (const s of this.sessions.values()) if (now - s.lastSeen >= idle) this.closeSession(s, 'idle_timeout');
  }

  /** Client → proxy: one handler bound once, no closure per datagram. */
  private readonly onClientMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const n = msg.length;
    this.datagramsIn++;
    this.bytesIn += n;
    if (n > this.settings.maxDatagram) {
      this.dropped.oversize++;
      return;
    }
    const key = rinfo.address + ':' + rinfo.port;
    let s = this.sessions.get(key);
    // A health-flag read per datagram catches a backend marked down without backendDown() being called.
    if (s !== undefined && (s.reassign || (s.backend.health & DOWN) !== 0)) {
      if (this.settings.onBackendDown === 'drop') {
        this.closeSession(s, 'backend_down');
        s = undefined;
      } else if (!this.reassign(s)) return;
    }
    if (s === undefined) {
      const created = this.createSession(key, rinfo);
      if (created !== null) created.forward(msg);
      return;
    }
    s.lastSeen = this.now();
    s.forward(msg);
  };

  /** Passed to every reply send: dgram reports send errors (EMSGSIZE...) only to a callback. */
  readonly onReplySent = (err: Error | null): void => {
    if (err !== null) this.dropped.send_error++;
  };

  private createSession(key: string, rinfo: dgram.RemoteInfo): UdpSession | null {
    const settings = this.settings;
    // Checked only when a session would start: datagrams of a live session skip it.
    if (rinfo.port < 1024 && !settings.allowPrivilegedSources) {
      this.dropped.privileged_source++;
      return null;
    }
    if (!this.acl.check(rinfo.address)) {
      this.dropped.acl++;
      return null;
    }
    const ip = rinfo.address;
    const fromSource = this.perSource.get(ip) ?? 0;
    if (settings.maxSessionsPerSource > 0 && fromSource >= settings.maxSessionsPerSource) {
      this.dropped.max_sessions_per_source++;
      return null;
    }
    // Over every worker; given back below if no backend takes the session.
    if (!this.shared.tryOpen(settings.maxSessions)) {
      this.dropped.max_sessions++;
      return null;
    }
    // The first pick uses a reusable context: the session (the real one) is built once a backend exists.
    const ctx = this.scratch;
    ctx.sourceHash = hashSource(ip);
    // A client the previous master pinned keeps its backend across the failover, whatever the balancer.
    const pinnedName = this.sync?.pinned(this, key);
    const pinned = pinnedName === undefined ? undefined : this.backendByName(pinnedName);
    const backend = pinned !== undefined && pinned.usable ? pinned : this.pickFor(ctx, null);
    if (backend === null) {
      this.shared.close();
      this.dropped.no_backend++;
      return null;
    }
    const s = new UdpSession(this, key, ip, rinfo.port, ctx.sourceHash, backend, this.now());
    this.sessions.set(key, s);
    this.perSource.set(ip, fromSource + 1);
    this.sessionsTotal++;
    backend.acquire();
    backend.countSession();
    this.sync?.created(this, s);
    return s;
  }

  /** A backend not down and not `exclude`: the balancer may not have been rebuilt yet when a backend fell. */
  private pickFor(ctx: PickContext, exclude: Backend | null): Backend | null {
    ctx.tried = exclude === null ? NO_TRIED : [exclude];
    let picked: Backend | null = null;
    for (let i = 0; i < PICK_ATTEMPTS; i++) {
      let b = this.balancer.pick(ctx);
      if (b === null && ctx.staleOk !== true) {
        // The balancer's set may lag the shared health flags (PickContext.staleOk); never a down one, though.
        ctx.staleOk = true;
        b = this.balancer.pick(ctx);
      }
      if (b === null || (b.health & DOWN) === 0) {
        picked = b;
        break;
      }
      ctx.tried = [...ctx.tried, b];
    }
    ctx.tried = NO_TRIED;
    ctx.staleOk = false;
    return picked;
  }

  private reassign(s: UdpSession): boolean {
    const old = s.backend;
    s.reassign = false;
    const next = this.pickFor(s, old);
    if (next === null) {
      this.dropped.no_backend++;
      this.closeSession(s, 'no_backend');
      return false;
    }
    old.release();
    next.acquire();
    next.countSession();
    s.switchTo(next);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ client: s.key, from: old.name, to: next.name }, 'udp session reassigned');
    return true;
  }

  private closeAll(reason: UdpCloseReason): void {
    for (const s of this.sessions.values()) this.closeSession(s, reason);
  }

  closeSession(s: UdpSession, reason: UdpCloseReason): void {
    if (s.closed) return;
    s.closed = true;
    s.reason = reason;
    s.closeSocket();
    if (this.sessions.delete(s.key)) this.shared.close();
    const left = (this.perSource.get(s.clientAddress) ?? 1) - 1;
    if (left > 0) this.perSource.set(s.clientAddress, left);
    else this.perSource.delete(s.clientAddress);
    s.backend.release();
    const ms = this.now() - s.startedAt;
    this.sessionTime.recordMs(ms);
    if (this.settings.logConnections) {
      const line = { client: s.key, backend: s.backend.name, result: reason, bytesIn: s.bytesIn, bytesOut: s.bytesOut, replies: s.replies };
      this.log.info({ ...line, durationMs: Math.round(ms * 1000) / 1000 }, 'udp session closed');
    }
    if (this.sessions.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Linux caps SO_RCVBUF/SO_SNDBUF at net.core.rmem_max/wmem_max (and reports twice what was set): read back and warn. */
  private applyBufferSizes(socket: dgram.Socket): void {
    const recv = this.settings.recvBufferSize;
    const send = this.settings.sendBufferSize;
    try {
      if (recv !== undefined) socket.setRecvBufferSize(recv);
      if (send !== undefined) socket.setSendBufferSize(send);
    } catch (err) {
      this.log.warn({ err }, 'udp: cannot set socket buffer size');
    }
    const gotRecv = (this.recvBufferSize = socket.getRecvBufferSize());
    const gotSend = (this.sendBufferSize = socket.getSendBufferSize());
    if (recv !== undefined && gotRecv < recv) this.log.warn({ requested: recv, granted: gotRecv }, 'udp: receive buffer smaller than requested (raise net.core.rmem_max)');
    if (send !== undefined && gotSend < send) this.log.warn({ requested: send, granted: gotSend }, 'udp: send buffer smaller than requested (raise net.core.wmem_max)');
  }
}
