import net from 'node:net';
import { pendingReset, send, spliceReadOption, spliceReads } from '../splice';
import type { ConnectOptions, Connection, ConnectionEvents, ConnectionListener, ListenOptions, ListenerEvents, ReadCallback } from './connection';

/**
 * The connection interface over net.Socket: today's behaviour, portable.
 * Reads use the shared buffer of splice.ts where this Node allows it (else
 * 'data' events), writes go straight to the descriptor when nothing is
 * queued (splice.ts send()), FIN is end(), RST is resetAndDestroy().
 */
type OwnedSocket = net.Socket & { conn: NetConnection };

/** FULCRUM_SPLICE=off: 'data' events and socket.write() (read once per connection: at its creation). */
function spliceOff(): boolean {
  return process.env.FULCRUM_SPLICE === 'off';
}

export class NetConnection implements Connection {
  readonly kind = 'net' as const;
  owner: unknown = null;
  private readCb: ReadCallback | null = null;
  private reading = false;
  private userPaused = false;
  /** Bytes handed to the kernel or queued (send() writes to the descriptor, which socket.bytesWritten does not see). */
  private written = 0;
  /** 'data' events and socket.write() (FULCRUM_SPLICE=off). */
  private readonly plain = spliceOff();

  constructor(
    readonly socket: OwnedSocket,
    readonly events: ConnectionEvents,
    /** Created with net.connect and the shared-buffer onread option. */
    private readonly spliced: boolean,
  ) {
    socket.conn = this;
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
  }

  get connecting(): boolean {
    return this.socket.connecting;
  }
  get closed(): boolean {
    return this.socket.destroyed;
  }
  get ended(): boolean {
    return this.socket.writableEnded;
  }
  get eof(): boolean {
    return this.socket.readableEnded;
  }
  get paused(): boolean {
    return this.userPaused;
  }
  get fd(): number {
    const handle = (this.socket as unknown as { _handle: { fd?: number } | null })._handle;
    return handle === null ? -1 : (handle.fd ?? -1);
  }
  get queued(): number {
    return this.socket.writableLength;
  }
  get bytesRead(): number {
    return this.socket.bytesRead;
  }
  get bytesWritten(): number {
    return this.written;
  }
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }
  get remoteFamily(): string {
    return this.socket.remoteFamily ?? '';
  }
  get localAddress(): string {
    return this.socket.localAddress ?? '';
  }
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  readStart(callback: ReadCallback): void {
    if (this.closed) return;
    const first = this.readCb === null;
    this.readCb = callback;
    this.reading = true;
    this.userPaused = false;
    if (first && !this.spliced && (spliceOff() || !spliceReads(this.socket, onSplicedRead))) this.socket.on('data', onData);
    this.socket.resume();
  }

  pause(): void {
    this.userPaused = true;
    this.socket.pause();
    // A resume() of this tick still runs its scheduled read(0), which restarts the handle: pause again after it.
    if ((this.socket as unknown as { _readableState?: { resumeScheduled?: boolean } })._readableState?.resumeScheduled === true) process.nextTick(repause, this);
  }

  repause(): void {
    if (this.userPaused && !this.socket.destroyed) this.socket.pause();
  }

  resume(): void {
    this.userPaused = false;
    if (this.reading) this.socket.resume();
  }

  write(buffer: Buffer, start: number, end: number, owned: boolean): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return true;
    this.written += end - start;
    if (!this.spliced && this.plain) return this.socket.write(owned ? buffer.subarray(start, end) : Buffer.from(buffer.subarray(start, end)));
    return send(this.socket, buffer, start, end, owned);
  }

  shutdown(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  reset(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    // While our FIN is being sent (end() called, shutdown not complete) libuv refuses the reset (EINVAL) and
    // Node then emits 'error' but never closes the handle: a plain close instead (the FIN is on its way anyway).
    if (socket.connecting || (socket.writableEnded && !socket.writableFinished)) socket.destroy();
    else socket.resetAndDestroy();
  }

  close(): void {
    this.socket.destroy();
  }

  probeReset(): boolean {
    const socket = this.socket;
    if ((this.reading && !this.userPaused) || socket.destroyed || socket.connecting || socket.writableEnded || socket.writableLength > 0) return false;
    const err = pendingReset(socket);
    if (err === null) return false;
    socket.destroy(err);
    return true;
  }

  read(n: number, buffer: Buffer): void {
    this.readCb!(this, n, buffer);
  }
}

function repause(conn: NetConnection): void {
  conn.repause();
}

function onSplicedRead(this: OwnedSocket, n: number, buffer: Buffer): void {
  this.conn.read(n, buffer);
}

function onData(this: OwnedSocket, chunk: Buffer): void {
  this.conn.read(chunk.length, chunk);
}

function onError(this: OwnedSocket, err: Error): void {
  this.conn.events.error(this.conn, err as NodeJS.ErrnoException);
}

function onClose(this: OwnedSocket): void {
  this.conn.events.close(this.conn);
}

/** An 'end' is not always a FIN (a reset behind data is read as EOF): ask the kernel first. */
function onEnd(this: OwnedSocket): void {
  if (!this.writableEnded) {
    const err = pendingReset(this);
    if (err !== null) {
      this.destroy(err);
      return;
    }
  }
  this.conn.events.end(this.conn);
}

function onDrain(this: OwnedSocket): void {
  this.conn.events.drain(this.conn);
}

function onConnect(this: OwnedSocket): void {
  this.conn.events.connect(this.conn);
}

export function netConnect(options: ConnectOptions, events: ConnectionEvents, owner: unknown): NetConnection {
  const socket = net.connect({
    host: options.host,
    port: options.port,
    family: options.family,
    allowHalfOpen: true,
    noDelay: options.noDelay !== false,
    onread: spliceOff() ? undefined : spliceReadOption(onSplicedRead),
  }) as OwnedSocket;
  socket.pause(); // nothing is read before readStart()
  const conn = new NetConnection(socket, events, !spliceOff());
  conn.owner = owner;
  socket.on('connect', onConnect);
  return conn;
}

export class NetListener implements ConnectionListener {
  private readonly server: net.Server;

  constructor(
    readonly events: ListenerEvents,
    readonly connectionEvents: ConnectionEvents,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    this.server.on('connection', (socket: net.Socket) => {
      events.connection(new NetConnection(socket as OwnedSocket, connectionEvents, false));
    });
    this.server.on('error', (err) => events.error(err as NodeJS.ErrnoException));
  }

  get listening(): boolean {
    return this.server.listening;
  }

  listen(options: ListenOptions): Promise<{ address: string; port: number; family: string }> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error): void => reject(err);
      this.server.once('error', onErr);
      this.server.listen({ host: options.host, port: options.port, backlog: options.backlog, ipv6Only: options.ipv6Only === true, ...(options.reusePort === true && { reusePort: true }) } as net.ListenOptions, () => {
        this.server.removeListener('error', onErr);
        const a = this.server.address() as net.AddressInfo;
        resolve({ address: a.address, port: a.port, family: a.family });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
