import dgram from 'node:dgram';
import { NO_TRIED, type PickContext } from '../balancer/balancer';
import type { Logger } from '../log';
import type { Backend } from '../pool/backend';
import type { UdpCloseReason, UdpDropCounts } from './outcomes';
import type { UdpSettings } from './settings';

/** All a session knows of its proxy (UdpProxy implements it). */
export interface UdpSessionHost {
  /** Read per datagram: a reload's settings apply to live sessions too. */
  readonly settings: UdpSettings;
  readonly log: Logger;
  readonly hooks: { backendFailed(backend: Backend): void };
  /** The listening socket replies go out of (null once stopped). */
  readonly socket: dgram.Socket | null;
  readonly dropped: UdpDropCounts;
  datagramsOut: number;
  bytesOut: number;
  now(): number;
  proxyHeaderFor(clientAddress: string, clientPort: number): Buffer;
  readonly onReplySent: (err: Error | null) => void;
  closeSession(session: UdpSession, reason: UdpCloseReason): void;
}

/**
 * One UDP "session": a client address (ip:port) and the connected socket that
 * carries its datagrams to one backend.
 *
 * The upstream socket is `connect()`ed to the backend, so the kernel delivers
 * only that backend's replies to it (and reports ICMP port-unreachable as
 * ECONNREFUSED). dgram's connect is asynchronous (implicit bind, then
 * connect) and a connected socket cannot send before it completes, so the
 * first datagrams wait in a small bounded queue.
 *
 * No timer per session or per datagram: `lastSeen` is a number and one coarse
 * sweep in the proxy expires idle sessions. Socket handlers are module-level
 * functions that find their session through the socket (as tcp-session.ts);
 * the only per-session closure is the send callback, since dgram reports send
 * errors (EMSGSIZE, a pending ECONNREFUSED) to a callback and nowhere else.
 */

/** Datagrams held per session while its upstream socket connects; more are dropped ('queue_full'). */
export const MAX_PENDING = 16;

type UpstreamSocket = dgram.Socket & { session: UdpSession };

export class UdpSession implements PickContext {
  staleOk = false;
  tried: readonly Backend[] = NO_TRIED;
  upstream: UpstreamSocket;
  /** proxy.now() of the last datagram either way; the sweep compares it with idleTimeout. */
  lastSeen: number;
  readonly startedAt: number;
  /** Bytes sent to the backend(s) and replied to the client, over the session's life. */
  bytesIn = 0;
  bytesOut = 0;
  /** Replies forwarded to the client (for `responses` and the access log). */
  replies = 0;
  /** Datagrams from the client; from the second on, its address is proven (amplificationLimit no longer applies). */
  fromClient = 0;
  /** Set by backendDown (onBackendDown: reassign): pick again on the next datagram. */
  reassign = false;
  closed = false;
  reason: UdpCloseReason = 'done';
  /** PROXY v2 (DGRAM) header prefixed to every datagram to the backend, or null. */
  private proxyHeader: Buffer | null = null;
  /** Datagrams waiting for connect; null once connected. */
  private pending: Buffer[] | null = null;
  private readonly onSent: (err: Error | null) => void;

  constructor(
    readonly proxy: UdpSessionHost,
    readonly key: string,
    readonly clientAddress: string,
    readonly clientPort: number,
    public sourceHash: number,
    public backend: Backend,
    now: number,
  ) {
    this.lastSeen = now;
    this.startedAt = now;
    this.onSent = (err) => {
      if (err !== null) this.sendFailed(err);
    };
    this.upstream = this.open(backend);
  }

  /** A socket connected to `backend` (the first, or the next after a reassignment). */
  private open(backend: Backend): UpstreamSocket {
    const addr = backend.address;
    const up = dgram.createSocket(addr.family === 6 ? 'udp6' : 'udp4') as UpstreamSocket;
    up.session = this;
    up.on('error', onUpstreamError);
    up.on('message', onUpstreamMessage);
    up.on('connect', onUpstreamConnect);
    this.pending = [];
    this.proxyHeader = backend.proxyProtocol === 'v2' ? this.proxy.proxyHeaderFor(this.clientAddress, this.clientPort) : null;
    try {
      // IP literals (as on the TCP side): dgram's lookup short-circuits them.
      up.connect(addr.port, addr.host);
    } catch (err) {
      // A synchronous throw (ERR_SOCKET_BAD_PORT) must not escape the listener's 'message' handler.
      process.nextTick(emitError, up, err);
    }
    return up;
  }

  /** Move to another backend: the old socket is closed, its late replies are lost. */
  switchTo(backend: Backend): void {
    closeQuietly(this.upstream);
    this.backend = backend;
    this.upstream = this.open(backend);
  }

  get connected(): boolean {
    return this.pending === null;
  }

  /** Client → backend. */
  forward(msg: Buffer): void {
    this.fromClient++;
    const pending = this.pending;
    if (pending !== null) {
      if (pending.length < MAX_PENDING) pending.push(msg);
      else this.proxy.dropped.queue_full++;
    } else if (this.upstream.getSendQueueCount() >= this.proxy.settings.maxSendQueue) {
      this.proxy.dropped.queue_full++;
    } else {
      this.transmit(msg);
    }
  }

  private transmit(msg: Buffer): void {
    const n = msg.length;
    this.bytesIn += n;
    this.backend.addBytesIn(n);
    const header = this.proxyHeader;
    if (header === null) this.upstream.send(msg, this.onSent);
    else this.upstream.send([header, msg], this.onSent);
  }

  connectedNow(): void {
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) for (let i = 0; i < pending.length; i++) this.transmit(pending[i]);
  }

  /** Backend → client, through the proxy's listening socket. */
  reply(msg: Buffer): void {
    const proxy = this.proxy;
    const socket = proxy.socket;
    if (socket === null) return;
    const n = msg.length;
    const settings = proxy.settings;
    if (n > settings.maxDatagram) {
      proxy.dropped.oversize++;
    } else if (settings.maxReplyRatio > 0 && this.bytesOut + n > settings.maxReplyRatio * this.bytesIn) {
      proxy.dropped.reply_ratio++;
    } else if (this.fromClient < 2 && settings.amplificationLimit > 0 && this.bytesOut + n > settings.amplificationLimit * this.bytesIn) {
      // Anti-amplification (RFC 9000 §8.1): a spoofed source gets at most amplificationLimit × what it sent.
      proxy.dropped.amplification++;
    } else if (socket.getSendQueueCount() >= settings.maxSendQueue) {
      proxy.dropped.queue_full++;
    } else {
      this.lastSeen = proxy.now();
      this.bytesOut += n;
      const backend = this.backend;
      backend.addBytesOut(n);
      if (backend.consecutiveFailures !== 0) backend.consecutiveFailures = 0; // it answers (read first: a shared write costs more)
      proxy.datagramsOut++;
      proxy.bytesOut += n;
      socket.send(msg, this.clientPort, this.clientAddress, proxy.onReplySent);
      // Counted always: the access log reports it whether or not `responses` is set.
      const replies = ++this.replies;
      if (settings.responses > 0 && replies >= settings.responses) proxy.closeSession(this, 'responses');
    }
  }

  private sendFailed(err: Error): void {
    this.proxy.dropped.send_error++;
    // A pending ICMP unreachable can surface on the next send instead of a read.
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' && !this.closed) this.backendFailed(err);
  }

  /** An 'error' on the upstream socket: ICMP unreachable (ECONNREFUSED) or a failed connect. The table stays. */
  upstreamError(err: Error): void {
    this.backendFailed(err);
    if (this.pending !== null) {
      // connect() itself failed (no route, bad address): the queued datagrams cannot go anywhere.
      this.proxy.dropped.send_error += this.pending.length;
      this.pending = [];
      this.proxy.closeSession(this, 'connect_failed');
    }
  }

  private backendFailed(err: Error): void {
    const b = this.backend;
    b.countFailure();
    const proxy = this.proxy;
    proxy.hooks.backendFailed(b);
    if (proxy.log.isLevelEnabled('debug')) proxy.log.debug({ backend: b.name, client: this.key, err: err.message }, 'udp backend error');
  }

  /** Close the upstream socket (the proxy does the bookkeeping). */
  closeSocket(): void {
    this.pending = null;
    closeQuietly(this.upstream);
  }
}

function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // ERR_SOCKET_DGRAM_NOT_RUNNING: already closed.
  }
}

function emitError(socket: dgram.Socket, err: unknown): void {
  socket.emit('error', err);
}

function onUpstreamConnect(this: UpstreamSocket): void {
  const s = this.session;
  if (s.upstream === this && !s.closed) s.connectedNow();
}

function onUpstreamMessage(this: UpstreamSocket, msg: Buffer): void {
  const s = this.session;
  if (s.upstream === this && !s.closed) s.reply(msg);
}

function onUpstreamError(this: UpstreamSocket, err: Error): void {
  const s = this.session;
  if (s.upstream === this && !s.closed) s.upstreamError(err);
}
