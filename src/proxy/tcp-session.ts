import { NO_TRIED, type Balancer, type PickContext } from '../balancer/balancer';
import { hashSource } from '../balancer/hash';
import type { AcquireResult } from '../admission/source-limiter';
import type { Logger } from '../log';
import type { Backend } from '../pool/backend';
import type { DataPlaneFactory } from './conn/connection';
import type { RejectReason, TcpCloseReason } from './outcomes';
import type { TcpSettings } from './settings';
import type { Connection, ConnectionEvents } from './conn/connection';
import type { ProxyHeaderParser } from './proxy-protocol';
import { awaitFirstBytes, checkFirstBytes, clientEndBeforeOpen, readProxyHeader, writeProxyHeader } from './session-proxy-header';
import { guarded } from '../timers';

/**
 * One client connection and its backend connection.
 *
 * Lifecycle: the client arrives paused (pauseOnConnect). A client from an
 * `acceptProxy` network first has its PROXY header read (and nothing else);
 * then admission (ACL, per-source limits) on the real client address. Only
 * then a backend is picked and connected, with a connect timer of our own; a
 * refused or timed-out connect is counted on the Backend and another backend
 * is tried, up to `retries`. Then bytes are spliced both ways with explicit
 * backpressure, FIN is passed on as FIN (allowHalfOpen on both sockets) and a
 * reset or error as a reset. Both connections are Connections
 * (conn/connection.ts): libuv handles or net.Socket, as probe.ts chose for
 * the service; bytes are read into one shared buffer and written straight on.
 *
 * Event handlers are module-level functions that find their session through
 * the connection's owner, so no closure is created per connection or per chunk.
 */

/** A connection of a session: its owner is the session. */
export type SessionConn = Connection & { owner: TcpSession };

/** The admission objects built from one TcpSettings (swapped with it on reload). */
export interface TcpAdmission {
  acl: { check(ip: string): boolean };
  /** Trusted front load balancers (their connections must start with a PROXY header); null when off. */
  acceptProxy: { check(ip: string): boolean } | null;
  limiter: { acquire(ip: string): AcquireResult; release(ip: string): void } | null;
}

/**
 * All a session knows of its proxy (TcpProxy implements it): the settings and
 * admission of the moment it starts, the balancer, the control plane's hooks,
 * the data plane that carries its bytes, and where outcomes are reported.
 */
export interface TcpSessionHost {
  readonly settings: TcpSettings;
  readonly admission: TcpAdmission;
  readonly balancer: Balancer;
  readonly hooks: { hasUsableBackend(): boolean; pickBackup(ctx: PickContext): Backend | null };
  readonly log: Logger;
  readonly dataPlane: DataPlaneFactory;
  sessionConnected(session: TcpSession): void;
  connectFailed(session: TcpSession, backend: Backend, err: Error | null): void;
  rejected(session: TcpSession, reason: RejectReason): void;
  sessionClosed(session: TcpSession, wasOpen: boolean): void;
}

const enum State {
  Admitting,
  Connecting,
  Open,
  Closed,
}

export type CloseReason = TcpCloseReason;

export class TcpSession implements PickContext {
  readonly client: SessionConn;
  /** The client as fulcrum's backends should know it: the peer, or the address a trusted PROXY header gave. */
  clientAddress: string;
  clientPort: number;
  sourceHash: number;
  tried: readonly Backend[] = NO_TRIED;
  staleOk = false;
  backend: Backend | null = null;
  upstream: SessionConn | null = null;
  readonly startedAt: number;
  /** When the connect attempt that is running (or that succeeded) began: connect time is charged per attempt. */
  attemptStartedAt = 0;
  connectedAt = 0;
  reason: CloseReason = 'done';
  rejectReason: RejectReason | null = null;
  /** Bytes that arrived behind a PROXY header, sent to the backend before anything else. */
  pending: Buffer | null = null;
  /** The original destination from a trusted PROXY header, passed on in ours. */
  proxiedDest: { address: string; port: number } | null = null;
  /** The client's FIN arrived while its PROXY header was read, before the backend was connected. */
  clientEndedEarly = false;
  /** Untrusted client of a service with acceptProxy: its first bytes must not be a PROXY header. */
  checkFirstChunk = false;
  /** The client's PROXY header is being read (a FIN now refuses the client). */
  headerReading = false;
  headerParser: ProxyHeaderParser | null = null;
  /** The client's first bytes are awaited before the connect (untrusted client of an acceptProxy service). */
  awaitingFirstBytes = false;
  /** Client reads are set up (before the connect when an untrusted client's first bytes are awaited). */
  private readsAttached = false;
  /** Reads either way (and drains of queued writes), counted for the idle check (cheaper than re-arming a timer per chunk). */
  activity = 0;
  private idleSeen = 0;
  private quietChecks = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private state = State.Admitting;
  private attempts = 0;
  /** One timer slot for whichever phase bound is running: PROXY header, then connect. */
  timer: NodeJS.Timeout | null = null;
  private lifetimeTimer: NodeJS.Timeout | null = null;
  private halfCloseTimer: NodeJS.Timeout | null = null;
  private clientClosed = false;
  private upstreamClosed = true;
  /** The limiter that admitted this client (a reload may install a new one; release goes to this one). */
  private limiter: TcpAdmission['limiter'] = null;
  /** The proxy's settings when this session was accepted: a reload does not change them. */
  readonly settings: TcpSettings;

  constructor(
    readonly proxy: TcpSessionHost,
    client: Connection,
  ) {
    this.settings = proxy.settings;
    this.client = client as SessionConn;
    this.client.owner = this;
    this.clientAddress = client.remoteAddress;
    this.clientPort = client.remotePort;
    this.sourceHash = 0;
    this.startedAt = performance.now();
  }

  start(): void {
    const maxLifetime = this.settings.maxLifetime;
    if (maxLifetime > 0) this.lifetimeTimer = setTimeout(onMaxLifetime, maxLifetime, this);
    const acceptProxy = this.proxy.admission.acceptProxy;
    if (acceptProxy !== null) {
      if (acceptProxy.check(this.clientAddress)) return readProxyHeader(this);
      this.checkFirstChunk = true;
    }
    this.admit();
  }

  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** Access control on the (real) client address, then the first connect. */
  admit(): void {
    if (this.state !== State.Admitting || this.clientClosed) return;
    const admission = this.proxy.admission;
    if (!admission.acl.check(this.clientAddress)) return this.refuse('acl');
    const limiter = admission.limiter;
    if (limiter !== null) {
      const verdict = limiter.acquire(this.clientAddress);
      if (verdict !== 'ok') return this.refuse(verdict === 'max_connections' ? 'source_max_connections' : verdict === 'table_full' ? 'source_table_full' : 'rate_limit');
      this.limiter = limiter;
    }
    this.sourceHash = hashSource(this.clientAddress);
    if (this.checkFirstChunk) return awaitFirstBytes(this);
    this.beginConnect();
  }

  /** The first connect: after admission (and, for an untrusted client of an acceptProxy service, its first bytes). */
  beginConnect(): void {
    if (this.state !== State.Admitting || this.clientClosed) return;
    this.state = State.Connecting;
    this.connectNext();
  }

  /** Read the client from now on (into the shared buffer, handed to the backend). */
  attachClientReads(): void {
    if (this.readsAttached) return;
    this.readsAttached = true;
    this.client.readStart(onClientRead);
  }

  /**
   * Close both sides now (shutdown deadline, operator action, timeouts). A
   * forced close cuts the stream wherever it is, so both peers get a reset: a
   * FIN would pass for a complete stream. Only the idle timeout, which closes a
   * session that has carried nothing for a while, ends with a FIN (as HAProxy's
   * and nginx's timeouts do).
   */
  abort(reason: CloseReason = 'aborted'): void {
    if (this.state === State.Closed) return;
    if (this.reason === 'done') this.reason = reason;
    this.clearTimer();
    if (reason === 'idle_timeout') {
      this.upstream?.close();
      this.client.close();
      return;
    }
    this.upstream?.reset();
    this.client.reset();
  }

  /** Turn the client away before any backend session exists; counted by reason. */
  refuse(reason: RejectReason): void {
    this.reason = 'rejected';
    this.rejectReason = reason;
    this.clearTimer();
    this.proxy.rejected(this, reason);
    this.upstream?.close();
    this.client.close();
  }

  private connectNext(): void {
    const proxy = this.proxy;
    let backend: Backend | null;
    for (;;) {
      backend = proxy.balancer.pick(this);
      if (backend === null && this.attempts === 0 && proxy.hooks.hasUsableBackend()) {
        // The balancer's set may lag the shared health flags (see PickContext.staleOk).
        this.staleOk = true;
        backend = proxy.balancer.pick(this);
        this.staleOk = false;
      }
      // A retry that finds no primary left goes to a backup, before passive checks switch the pool over.
      if (backend === null && this.attempts > 0) backend = proxy.hooks.pickBackup(this);
      if (backend === null) {
        this.refuse(this.attempts > 0 ? 'connect_failed' : proxy.hooks.hasUsableBackend() ? 'backends_full' : 'no_backend');
        return;
      }
      // Counted from the attempt on, so least-conn and maxConnections see connects in flight. Another
      // worker may have taken the last slot since the pick read the count: then it is skipped as full.
      if (backend.tryAcquire()) break;
      this.tried = this.tried === NO_TRIED ? [backend] : [...this.tried, backend];
    }
    this.backend = backend;
    this.attempts++;
    const addr = backend.address;
    this.attemptStartedAt = performance.now();
    // IP literals only: net.connect skips DNS lookup and family auto-selection for them.
    const up = proxy.dataPlane.connect({ host: addr.host, port: addr.port, family: addr.family, noDelay: true }, UPSTREAM_EVENTS, this) as SessionConn;
    this.upstream = up;
    this.upstreamClosed = false;
    // Node has no connect timeout of its own; the timer carries the session as an argument, not a closure.
    this.timer = setTimeout(onConnectTimeout, this.settings.connectTimeout, this);
  }

  connected(): void {
    this.clearTimer();
    const backend = this.backend!;
    const up = this.upstream!;
    const client = this.client;
    this.state = State.Open;
    this.connectedAt = performance.now();
    backend.countSession();
    if (backend.consecutiveFailures !== 0) backend.consecutiveFailures = 0;
    this.proxy.sessionConnected(this);

    if (backend.proxyProtocol !== null) writeProxyHeader(this, up, backend.proxyProtocol);
    // Held bytes go first, unless they are still an undecided prefix of a PROXY signature.
    if (this.pending !== null && !this.checkFirstChunk) {
      up.write(this.pending, 0, this.pending.length, true);
      this.pending = null;
    }
    // The client's FIN already came (a reset would have been its error, seen by the connection).
    if (this.clientEndedEarly) {
      up.shutdown();
      this.halfClosed();
    }
    up.readStart(onUpstreamRead);
    this.attachClientReads();
    const idle = this.settings.idleTimeout;
    if (idle > 0) this.idleTimer = setTimeout(onIdleCheck, idle / IDLE_CHECKS, this);
    client.resume();
  }

  /**
   * Every quarter of the idle timeout: a session with no activity (a read
   * either way, or a drain of queued bytes) for four checks in a row is
   * closed, between 1 and 1.25 × idle after its last byte.
   */
  idleCheck(): void {
    if (this.activity !== this.idleSeen) {
      this.idleSeen = this.activity;
      this.quietChecks = 0;
    } else if (++this.quietChecks >= IDLE_CHECKS) {
      return this.abort('idle_timeout');
    }
    this.idleTimer!.refresh();
  }

  /**
   * Called every second or so by the proxy. A side whose reads are paused (its
   * peer takes no bytes) is not polled, so a reset from it would go unseen
   * until the idle timeout: ask the kernel, and treat one as that side's error.
   */
  probePaused(): void {
    if (this.state !== State.Open) return;
    this.client.probeReset();
    this.upstream!.probeReset();
  }

  connectFailed(err: Error | null): void {
    if (this.state !== State.Connecting) return;
    this.clearTimer();
    const backend = this.backend!;
    const up = this.upstream!;
    up.close();
    backend.release();
    backend.countFailure();
    this.backend = null;
    this.proxy.connectFailed(this, backend, err);
    if (this.clientClosed) return;
    if (this.attempts > this.settings.retries) {
      this.refuse('connect_failed');
      return;
    }
    this.tried = this.tried === NO_TRIED ? [backend] : [...this.tried, backend];
    this.connectNext();
  }

  /** One side sent FIN: the other side has `halfClose` ms to finish too. */
  halfClosed(): void {
    const t = this.settings.halfCloseTimeout;
    if (t > 0 && this.halfCloseTimer === null) this.halfCloseTimer = setTimeout(onHalfCloseTimeout, t, this);
  }

  /** An error on one side of an open session: pass it on to the other side as a reset. */
  broken(from: SessionConn, reason: CloseReason): void {
    if (this.state !== State.Open) {
      // The client went away before a backend session existed: drop the attempt.
      if (this.reason === 'done') this.reason = reason;
      this.clearTimer();
      this.upstream?.close();
      return;
    }
    if (this.reason === 'done') this.reason = reason;
    const other = from === this.client ? this.upstream : this.client;
    other?.reset();
  }

  socketClosed(socket: SessionConn): void {
    if (socket === this.client) this.clientClosed = true;
    else if (socket === this.upstream) this.upstreamClosed = true;
    else return; // an earlier, failed upstream attempt
    if (this.state === State.Connecting || this.state === State.Admitting) {
      if (socket === this.client) this.abort(this.reason === 'done' ? 'client_error' : this.reason);
      else if (!this.clientClosed) return; // a failed attempt's close; connectFailed handles the retry
    }
    if (!this.clientClosed || !this.upstreamClosed || this.state === State.Closed) return;
    this.finish();
  }

  private finish(): void {
    const wasOpen = this.state === State.Open;
    this.state = State.Closed;
    this.clearTimer();
    if (this.lifetimeTimer !== null) clearTimeout(this.lifetimeTimer);
    if (this.halfCloseTimer !== null) clearTimeout(this.halfCloseTimer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    const backend = this.backend;
    if (backend !== null) backend.release(); // held since the attempt (a failed one already gave it back)
    if (wasOpen) {
      backend!.addBytesIn(this.client.bytesRead);
      backend!.addBytesOut(this.upstream!.bytesRead);
    }
    this.limiter?.release(this.clientAddress);
    this.proxy.sessionClosed(this, wasOpen);
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

// Timer callbacks are guarded (src/timers.ts): a bug in one must not take the process down.
const onConnectTimeout = guarded('tcp connect timeout', (session: TcpSession): void => {
  session.timer = null;
  session.connectFailed(null);
});

const onMaxLifetime = guarded('tcp max lifetime', (session: TcpSession): void => {
  session.abort('max_lifetime');
});

const onHalfCloseTimeout = guarded('tcp half-close timeout', (session: TcpSession): void => {
  session.abort('half_close_timeout');
});

/** Events of client connections (accepted: no connect event). */
export const CLIENT_EVENTS: ConnectionEvents = {
  connect() {},
  end(conn) {
    const s = (conn as SessionConn).owner;
    if (!s.isOpen) return clientEndBeforeOpen(s);
    if (s.pending !== null) {
      // Bytes held by the untrusted-PROXY check (a short prefix) still belong to the stream.
      s.upstream!.write(s.pending, 0, s.pending.length, true);
      s.pending = null;
    }
    passFin(s.upstream!, s);
  },
  error(conn) {
    const s = (conn as SessionConn).owner;
    s.broken(s.client, 'client_error');
  },
  // A drain is bytes leaving for a slow peer: activity for the idle check, though no read happened.
  drain(conn) {
    const s = (conn as SessionConn).owner;
    s.activity++;
    s.upstream?.resume();
  },
  close(conn) {
    // No owner: closed at accept (gone already, or over maxConnections).
    (conn as SessionConn).owner?.socketClosed(conn as SessionConn);
  },
};

const UPSTREAM_EVENTS: ConnectionEvents = {
  connect(conn) {
    const s = (conn as SessionConn).owner;
    if (s.upstream === conn) s.connected();
  },
  end(conn) {
    const s = (conn as SessionConn).owner;
    if (s.upstream === conn && s.isOpen) passFin(s.client, s);
  },
  error(conn, err) {
    const s = (conn as SessionConn).owner;
    if (s.upstream !== conn) return; // a superseded attempt
    if (!s.isOpen) s.connectFailed(err);
    else s.broken(conn as SessionConn, 'backend_error');
  },
  drain(conn) {
    const s = (conn as SessionConn).owner;
    s.activity++;
    s.client.resume();
  },
  close(conn) {
    (conn as SessionConn).owner.socketClosed(conn as SessionConn);
  },
};

/** Client bytes (in the shared buffer, reused after this returns) go to the backend. */
function onClientRead(conn: Connection, n: number, buffer: Buffer): void {
  const s = (conn as SessionConn).owner;
  s.activity++;
  if (s.checkFirstChunk) return checkFirstBytes(s, s.client, buffer, n, false);
  if (!s.upstream!.write(buffer, 0, n, false)) conn.pause();
}

function onUpstreamRead(conn: Connection, n: number, buffer: Buffer): void {
  const s = (conn as SessionConn).owner;
  s.activity++;
  if (!s.client.write(buffer, 0, n, false)) conn.pause();
}

/**
 * A FIN arrived: send one to `to`. When `to` has sent its own FIN already and
 * nothing is queued for it, close() does that (the kernel sends the FIN after
 * the data it holds), which saves a shutdown and its callback per session.
 */
function passFin(to: SessionConn, s: TcpSession): void {
  if (to.eof && to.queued === 0) to.close();
  else {
    to.shutdown();
    s.halfClosed();
  }
}

const IDLE_CHECKS = 4;

const onIdleCheck = guarded('tcp idle check', (session: TcpSession): void => {
  session.idleCheck();
});
