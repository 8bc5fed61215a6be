import net from 'node:net';
import { NO_TRIED, type PickContext } from '../balancer/balancer';
import { hashSource } from '../balancer/hash';
import type { Backend } from '../pool/backend';
import type { TcpProxy } from './tcp-proxy';

/**
 * One client connection and its backend connection.
 *
 * Lifecycle: the client arrives paused (pauseOnConnect), so nothing is read
 * or buffered until a backend has accepted; a connect that is refused or
 * outlives timeouts.connect is counted on the Backend and another backend is
 * tried, up to `retries`. Then bytes are spliced both ways with explicit
 * backpressure, FIN is passed on as FIN (allowHalfOpen on both sockets) and a
 * reset or error as a reset.
 *
 * Event handlers are module-level functions that find their session through
 * the socket, so no closure is created per connection or per chunk.
 */

type SessionSocket = net.Socket & { session: TcpSession };

const enum State {
  Connecting,
  Open,
  Closed,
}

export type CloseReason =
  | 'done'
  | 'client_error'
  | 'backend_error'
  | 'idle_timeout'
  | 'no_backend'
  | 'connect_failed'
  | 'aborted'
  | 'backend_down'
  | 'backend_disabled'
  | 'drain_timeout';

export class TcpSession implements PickContext {
  readonly client: SessionSocket;
  readonly clientAddress: string;
  readonly clientPort: number;
  sourceHash: number;
  tried: readonly Backend[] = NO_TRIED;
  backend: Backend | null = null;
  upstream: SessionSocket | null = null;
  readonly startedAt: number;
  connectedAt = 0;
  reason: CloseReason = 'done';
  private state = State.Connecting;
  private attempts = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  private clientClosed = false;
  private upstreamClosed = true;

  constructor(
    readonly proxy: TcpProxy,
    client: net.Socket,
  ) {
    this.client = client as SessionSocket;
    this.client.session = this;
    this.clientAddress = client.remoteAddress ?? '';
    this.clientPort = client.remotePort ?? 0;
    this.sourceHash = hashSource(this.clientAddress);
    this.startedAt = performance.now();
    client.on('error', onClientError);
    client.on('close', onClientClose);
  }

  start(): void {
    this.connectNext();
  }

  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** Close both sides now (shutdown deadline, operator action). */
  abort(reason: CloseReason = 'aborted'): void {
    if (this.state === State.Closed) return;
    this.reason = reason;
    this.clearConnectTimer();
    this.upstream?.destroy();
    this.client.destroy();
  }

  private connectNext(): void {
    const proxy = this.proxy;
    const backend = proxy.balancer.pick(this);
    if (backend === null) {
      this.giveUp(this.attempts === 0 ? 'no_backend' : 'connect_failed');
      return;
    }
    this.backend = backend;
    this.attempts++;
    const addr = backend.address;
    // IP literals only: net.connect skips DNS lookup and family auto-selection for them.
    const up = net.connect({ host: addr.host, port: addr.port, family: addr.family, allowHalfOpen: true, noDelay: true }) as SessionSocket;
    up.session = this;
    this.upstream = up;
    this.upstreamClosed = false;
    up.on('error', onUpstreamError);
    up.on('close', onUpstreamClose);
    up.once('connect', onUpstreamConnect);
    // Node has no connect timeout of its own; the timer carries the session as an argument, not a closure.
    this.connectTimer = setTimeout(onConnectTimeout, proxy.connectTimeout, this);
  }

  connected(): void {
    this.clearConnectTimer();
    const backend = this.backend!;
    const up = this.upstream!;
    const client = this.client;
    this.state = State.Open;
    this.connectedAt = performance.now();
    backend.active++;
    backend.total++;
    backend.consecutiveFailures = 0;
    this.proxy.sessionConnected(this);

    client.on('data', onClientData);
    client.on('end', onClientEnd);
    client.on('drain', onClientDrain);
    up.on('data', onUpstreamData);
    up.on('end', onUpstreamEnd);
    up.on('drain', onUpstreamDrain);
    const idle = this.proxy.idleTimeout;
    if (idle > 0) {
      // Every byte either way is a read or a write on the client socket, so one timer covers both directions.
      client.setTimeout(idle);
      client.on('timeout', onIdleTimeout);
    }
    client.resume();
  }

  connectFailed(err: Error | null): void {
    if (this.state !== State.Connecting) return;
    this.clearConnectTimer();
    const backend = this.backend!;
    const up = this.upstream!;
    up.removeListener('connect', onUpstreamConnect);
    up.destroy();
    backend.connectFailures++;
    backend.consecutiveFailures++;
    this.proxy.connectFailed(this, backend, err);
    if (this.clientClosed) return;
    if (this.attempts > this.proxy.retries) {
      this.giveUp('connect_failed');
      return;
    }
    this.tried = this.tried === NO_TRIED ? [backend] : [...this.tried, backend];
    this.connectNext();
  }

  private giveUp(reason: 'no_backend' | 'connect_failed'): void {
    this.reason = reason;
    this.proxy.rejected(this, reason);
    this.client.destroy();
  }

  /** An error on one side of an open session: pass it on to the other side as a reset. */
  broken(from: SessionSocket, reason: CloseReason): void {
    if (this.state === State.Connecting) {
      // The client went away while we were connecting: drop the attempt.
      this.reason = reason;
      this.clearConnectTimer();
      this.upstream?.destroy();
      return;
    }
    if (this.reason === 'done') this.reason = reason;
    const other = from === this.client ? this.upstream : this.client;
    if (other !== null && !other.destroyed) other.resetAndDestroy();
  }

  socketClosed(socket: SessionSocket): void {
    if (socket === this.client) this.clientClosed = true;
    else if (socket === this.upstream) this.upstreamClosed = true;
    else return; // an earlier, failed upstream attempt
    if (this.state === State.Connecting) {
      if (socket === this.client) this.abort(this.reason === 'done' ? 'client_error' : this.reason);
      else if (!this.clientClosed) return; // a failed attempt's close; connectFailed handles retry
    }
    if (!this.clientClosed || !this.upstreamClosed || this.state === State.Closed) return;
    this.finish();
  }

  private finish(): void {
    const wasOpen = this.state === State.Open;
    this.state = State.Closed;
    this.clearConnectTimer();
    if (wasOpen) {
      const backend = this.backend!;
      backend.active--;
      backend.bytesIn += this.client.bytesRead;
      backend.bytesOut += this.upstream!.bytesRead;
    }
    this.proxy.sessionClosed(this, wasOpen);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }
}

function onConnectTimeout(session: TcpSession): void {
  session.connectFailed(null);
}

function onUpstreamConnect(this: SessionSocket): void {
  const s = this.session;
  if (s.upstream === this) s.connected();
}

function onUpstreamError(this: SessionSocket, err: Error): void {
  const s = this.session;
  if (s.upstream !== this) return; // a superseded attempt
  if (this.connecting || !s.connectedAt) s.connectFailed(err);
  else s.broken(this, 'backend_error');
}

function onClientError(this: SessionSocket): void {
  this.session.broken(this, 'client_error');
}

function onClientClose(this: SessionSocket): void {
  this.session.socketClosed(this);
}

function onUpstreamClose(this: SessionSocket): void {
  this.session.socketClosed(this);
}

function onClientData(this: SessionSocket, chunk: Buffer): void {
  if (!this.session.upstream!.write(chunk)) this.pause();
}

function onUpstreamData(this: SessionSocket, chunk: Buffer): void {
  if (!this.session.client.write(chunk)) this.pause();
}

function onUpstreamDrain(this: SessionSocket): void {
  this.session.client.resume();
}

function onClientDrain(this: SessionSocket): void {
  this.session.upstream!.resume();
}

function onClientEnd(this: SessionSocket): void {
  this.session.upstream!.end();
}

function onUpstreamEnd(this: SessionSocket): void {
  this.session.client.end();
}

function onIdleTimeout(this: SessionSocket): void {
  this.session.abort('idle_timeout');
}
