import fs from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { uvError, type ConnectOptions, type Connection, type ConnectionEvents, type ReadCallback } from './connection';

/**
 * A connection on the libuv TCP handle that net.Socket is built on
 * (`process.binding('tcp_wrap')`), without the Socket, its streams and its
 * per-connection closures: reads land in one shared buffer (useUserBuffer, as
 * net's `onread: { buffer }` option does), writes go to the handle's
 * writeBuffer and streamBaseState[kLastWriteWasAsync] says whether the kernel
 * took them at once. Uses only what lib/net.js and
 * lib/internal/stream_base_commons.js use; probe.ts checks shape and behaviour
 * before this path is chosen, and `net` is the fallback.
 *
 * Shared-buffer writes: libuv keeps a pointer to the bytes of a write it
 * could not finish, and the shared buffer is overwritten by the next read of
 * any connection. So bytes the caller does not own never reach writeBuffer
 * as they are: a small chunk is copied first (a slice of Node's buffer pool,
 * cheaper than a second system call), a large one is first offered to the
 * kernel with write(2) on the descriptor (no copy; splice.ts does the same)
 * and only its remainder is copied and queued.
 */

// ---- bindings (typed by what is used) ----

export interface TcpHandle {
  onread: ((this: TcpHandle, arrayBuffer?: ArrayBuffer) => void) | null;
  onconnection: ((this: TcpHandle, status: number, client?: TcpHandle) => void) | null;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: WriteReq, buffer: Uint8Array): number;
  shutdown(req: ShutdownReq): number;
  reset(callback: (this: TcpHandle) => void): number;
  close(callback: (this: TcpHandle) => void): void;
  getpeername(out: Record<string, unknown>): number;
  getsockname(out: Record<string, unknown>): number;
  setNoDelay(on: boolean): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  bind(address: string, port: number, flags?: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  readonly fd: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly writeQueueSize: number;
  /** Ours: the connection (or listener) this handle belongs to. */
  fulcrumOwner?: unknown;
}

interface WriteReq {
  handle: TcpHandle | null;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: Uint8Array | null;
  conn: HandleConnection | null;
}

interface ShutdownReq {
  handle: TcpHandle;
  oncomplete: (this: ShutdownReq, status: number) => void;
  conn: HandleConnection | null;
}

interface ConnectReq {
  oncomplete: (status: number, handle: TcpHandle, req: ConnectReq, readable: boolean, writable: boolean) => void;
  address: string;
  port: number;
  localAddress?: string;
  localPort?: number;
}

export interface Bindings {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  constants: { SOCKET: number; SERVER: number; UV_TCP_IPV6ONLY?: number; UV_TCP_REUSEPORT?: number };
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kBytesWritten: number;
  kLastWriteWasAsync: number;
}

/** The bindings if every piece this file uses has the expected shape; null otherwise (then `net`). */
export function loadBindings(): Bindings | null {
  try {
    const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
    if (typeof binding !== 'function') return null;
    const tcp = binding('tcp_wrap');
    const stream = binding('stream_wrap');
    const TCP = tcp.TCP as Bindings['TCP'];
    const constants = tcp.constants as Bindings['constants'];
    if (typeof TCP !== 'function' || typeof tcp.TCPConnectWrap !== 'function' || typeof constants?.SOCKET !== 'number' || typeof constants.SERVER !== 'number') return null;
    if (typeof stream.WriteWrap !== 'function' || typeof stream.ShutdownWrap !== 'function') return null;
    const state = stream.streamBaseState as Int32Array;
    // Not instanceof: the binding's array may come from another realm (a vm context, jest).
    if (Object.prototype.toString.call(state) !== '[object Int32Array]') return null;
    for (const k of ['kReadBytesOrError', 'kBytesWritten', 'kLastWriteWasAsync']) {
      const i = stream[k];
      if (typeof i !== 'number' || i < 0 || i >= state.length) return null;
    }
    const proto = TCP.prototype as unknown as Record<string, unknown>;
    for (const m of ['readStart', 'readStop', 'useUserBuffer', 'writeBuffer', 'shutdown', 'reset', 'close', 'getpeername', 'getsockname', 'setNoDelay', 'connect', 'connect6', 'bind', 'bind6', 'listen']) {
      if (typeof proto[m] !== 'function') return null;
    }
    if (getSystemErrorName(UV_EOF) !== 'EOF') return null;
    return {
      TCP,
      TCPConnectWrap: tcp.TCPConnectWrap as Bindings['TCPConnectWrap'],
      WriteWrap: stream.WriteWrap as Bindings['WriteWrap'],
      ShutdownWrap: stream.ShutdownWrap as Bindings['ShutdownWrap'],
      constants,
      streamBaseState: state,
      kReadBytesOrError: stream.kReadBytesOrError as number,
      kBytesWritten: stream.kBytesWritten as number,
      kLastWriteWasAsync: stream.kLastWriteWasAsync as number,
    };
  } catch {
    return null;
  }
}

/** libuv's UV_EOF (the same on every platform). */
const UV_EOF = -4095;
/** A chunk up to this size is copied before writeBuffer (pooled allocation); a larger one is offered to write(2) first. */
const COPY_BELOW = 4096;

let B: Bindings | null = null;
let state: Int32Array = new Int32Array(4);
let kRead = 0;
let kAsync = 3;

/** Bind this module to the bindings (probe.ts calls it once they have passed). */
export function useBindings(bindings: Bindings): void {
  B = bindings;
  state = bindings.streamBaseState;
  kRead = bindings.kReadBytesOrError;
  kAsync = bindings.kLastWriteWasAsync;
}

export function bindings(): Bindings {
  if (B === null) {
    const b = loadBindings();
    if (b === null) throw new Error('libuv TCP handle bindings are not available');
    useBindings(b);
  }
  return B!;
}

/** One read buffer for every handle connection: its bytes never outlive the read callback. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const EMPTY = Buffer.alloc(0);

/** A WriteWrap not yet used by an unfinished write: reused until one goes asynchronous. */
let spareReq: WriteReq | null = null;

const enum F {
  Connecting = 1,
  Reading = 2,
  Paused = 4,
  Eof = 8,
  Ended = 16,
  ShutDown = 32,
  Closed = 64,
  NeedDrain = 128,
  NoDelay = 256,
  ShutdownOnConnect = 512,
  /** libuv is reading (readStart succeeded, no readStop or EOF since). */
  Active = 1024,
}

export class HandleConnection implements Connection {
  readonly kind = 'handle' as const;
  owner: unknown = null;
  private flags: number;
  private readCb: ReadCallback | null = null;
  private writes = 0;
  private fdCache = -1;
  private peer: { address?: string; port?: number; family?: string } | null = null;
  private self: { address?: string; port?: number; family?: string } | null = null;
  private finalRead = 0;
  /** Bytes handed to the kernel or queued for it (write(2) on the descriptor bypasses the handle's own counter). */
  private written = 0;

  constructor(
    readonly handle: TcpHandle,
    readonly events: ConnectionEvents,
    connecting: boolean,
  ) {
    this.flags = connecting ? F.Connecting : 0;
    handle.fulcrumOwner = this;
    if (!connecting) this.fdCache = handle.fd;
  }

  get connecting(): boolean {
    return (this.flags & F.Connecting) !== 0;
  }
  get closed(): boolean {
    return (this.flags & F.Closed) !== 0;
  }
  get ended(): boolean {
    return (this.flags & F.Ended) !== 0;
  }
  get eof(): boolean {
    return (this.flags & F.Eof) !== 0;
  }
  get paused(): boolean {
    return (this.flags & F.Paused) !== 0;
  }
  get fd(): number {
    return this.fdCache;
  }
  get queued(): number {
    return this.closed ? 0 : this.handle.writeQueueSize;
  }
  get bytesRead(): number {
    return this.closed ? this.finalRead : this.handle.bytesRead;
  }
  get bytesWritten(): number {
    return this.written;
  }
  get remoteAddress(): string {
    return this.peerName().address ?? '';
  }
  get remotePort(): number {
    return this.peerName().port ?? 0;
  }
  get remoteFamily(): string {
    return this.peerName().family ?? '';
  }
  get localAddress(): string {
    return this.sockName().address ?? '';
  }
  get localPort(): number {
    return this.sockName().port ?? 0;
  }

  private peerName(): { address?: string; port?: number; family?: string } {
    if (this.peer === null) {
      const out: Record<string, unknown> = {};
      if (this.closed || this.handle.getpeername(out) !== 0) return out;
      this.peer = out;
    }
    return this.peer;
  }

  private sockName(): { address?: string; port?: number; family?: string } {
    if (this.self === null) {
      const out: Record<string, unknown> = {};
      if (this.closed || this.handle.getsockname(out) !== 0) return out;
      this.self = out;
    }
    return this.self;
  }

  readStart(callback: ReadCallback): void {
    if (this.closed) return;
    if (this.readCb === null) {
      this.readCb = callback;
      this.handle.useUserBuffer(READ_BUFFER);
      this.handle.onread = onRead;
    } else this.readCb = callback;
    this.flags |= F.Reading;
    this.flags &= ~F.Paused;
    this.syncReading();
  }

  /** Make libuv read exactly when asked to and able to. */
  private syncReading(): void {
    const f = this.flags;
    const want = (f & (F.Reading | F.Paused | F.Connecting | F.Eof | F.Closed)) === F.Reading;
    if (want === ((f & F.Active) !== 0)) return;
    if (want) {
      const err = this.handle.readStart();
      if (err !== 0) return this.fail(err, 'read');
      this.flags |= F.Active;
    } else {
      this.flags &= ~F.Active;
      if ((f & (F.Eof | F.Closed)) === 0) this.handle.readStop();
    }
  }

  pause(): void {
    if ((this.flags & (F.Paused | F.Closed)) !== 0) return;
    this.flags |= F.Paused;
    this.syncReading();
  }

  resume(): void {
    if ((this.flags & F.Paused) === 0 || this.closed) return;
    this.flags &= ~F.Paused;
    this.syncReading();
  }

  write(buffer: Buffer, start: number, end: number, owned: boolean): boolean {
    if ((this.flags & (F.Closed | F.Ended)) !== 0 || end <= start) return true;
    this.written += end - start;
    let data: Buffer;
    if (this.writes === 0 && !owned && end - start > COPY_BELOW && (this.flags & F.Connecting) === 0 && this.fdCache >= 0) {
      let written = 0;
      try {
        written = fs.writeSync(this.fdCache, buffer, start, end - start);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.failWith(err as NodeJS.ErrnoException);
          return false;
        }
      }
      if (written === end - start) return true;
      data = copyOf(buffer, start + written, end);
    } else if (owned) data = start === 0 && end === buffer.length ? buffer : buffer.subarray(start, end);
    else data = copyOf(buffer, start, end);
    const req = spareReq ?? newWriteReq();
    spareReq = null;
    req.handle = this.handle;
    const err = this.handle.writeBuffer(req, data);
    if (err !== 0) {
      spareReq = req;
      this.fail(err, 'write');
      return false;
    }
    if (state[kAsync] === 0) {
      spareReq = req;
      return true;
    }
    req.conn = this;
    req.buffer = data;
    this.writes++;
    this.flags |= F.NeedDrain;
    return false;
  }

  /** A write queued by libuv has finished (status < 0: failed; ECANCELED after close). */
  writeDone(status: number): void {
    this.writes--;
    if (this.closed) return;
    if (status < 0) return this.fail(status, 'write');
    if (this.writes === 0 && (this.flags & F.NeedDrain) !== 0) {
      this.flags &= ~F.NeedDrain;
      this.events.drain(this);
    }
  }

  shutdown(): void {
    if ((this.flags & (F.Ended | F.Closed)) !== 0) return;
    this.flags |= F.Ended;
    if ((this.flags & F.Connecting) !== 0) {
      this.flags |= F.ShutdownOnConnect;
      return;
    }
    this.sendShutdown();
  }

  private sendShutdown(): void {
    const req = new B!.ShutdownWrap();
    req.oncomplete = onShutdownComplete;
    req.handle = this.handle;
    req.conn = this;
    const err = this.handle.shutdown(req);
    if (err !== 0) this.fail(err, 'shutdown');
  }

  shutdownDone(status: number): void {
    if (this.closed) return;
    if (status < 0) return this.fail(status, 'shutdown');
    this.flags |= F.ShutDown;
    if ((this.flags & F.Eof) !== 0) this.close();
  }

  reset(): void {
    if (this.closed) return;
    if ((this.flags & F.Connecting) !== 0) return this.close();
    this.markClosed();
    // libuv refuses a reset (EINVAL) while a shutdown is in flight, and Node's wrap then counts the
    // handle as closing without closing it: a plain close() would do nothing and the handle (and its
    // session) would never end. So: a plain close, which sends the FIN already asked for.
    if ((this.flags & (F.Ended | F.ShutDown)) === F.Ended) return this.handle.close(onHandleClose);
    this.handle.reset(onHandleClose);
  }

  close(): void {
    if (this.closed) return;
    this.markClosed();
    this.handle.close(onHandleClose);
  }

  private markClosed(): void {
    this.finalRead = this.handle.bytesRead;
    this.flags |= F.Closed;
    this.flags &= ~F.NeedDrain;
  }

  probeReset(): boolean {
    // Only a side libuv does not poll (paused, or not reading yet) with nothing queued for it.
    if ((this.flags & (F.Closed | F.Ended | F.Connecting | F.Active)) !== 0 || this.writes > 0) return false;
    const err = pendingReset(this.fdCache);
    if (err === null) return false;
    this.failWith(err);
    return true;
  }

  // ---- from the module-level callbacks ----

  onRead(n: number): void {
    if (n > 0) {
      this.readCb!(this, n, READ_BUFFER);
      return;
    }
    if (n === 0) return;
    if (n !== UV_EOF) return this.fail(n, 'read');
    this.flags |= F.Eof;
    this.flags &= ~F.Active; // libuv stops reading at EOF
    // A reset behind data is reported as EOF: ask the kernel before passing on a FIN (not possible once we shut down: EPIPE).
    if ((this.flags & F.Ended) === 0) {
      const err = pendingReset(this.fdCache);
      if (err !== null) return this.failWith(err);
    }
    this.events.end(this);
    if ((this.flags & (F.ShutDown | F.Closed)) === F.ShutDown) this.close();
  }

  connected(status: number): void {
    this.flags &= ~F.Connecting;
    if (this.closed) return;
    if (status < 0) return this.fail(status, 'connect');
    this.fdCache = this.handle.fd;
    if ((this.flags & F.NoDelay) !== 0) this.handle.setNoDelay(true);
    this.events.connect(this);
    if (this.closed) return;
    if ((this.flags & F.ShutdownOnConnect) !== 0) this.sendShutdown();
    this.syncReading();
  }

  setNoDelayOnConnect(): void {
    this.flags |= F.NoDelay;
  }

  fail(status: number, syscall: string): void {
    this.failWith(uvError(status, syscall, getSystemErrorName(status)));
  }

  failWith(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.markClosed();
    this.events.error(this, err);
    this.handle.close(onHandleClose);
  }

  closedNow(): void {
    this.handle.fulcrumOwner = undefined;
    this.events.close(this);
  }
}

function newWriteReq(): WriteReq {
  const req = new B!.WriteWrap();
  req.oncomplete = onWriteComplete;
  req.async = false;
  req.bytes = 0;
  req.buffer = null;
  req.conn = null;
  return req;
}

function onRead(this: TcpHandle): void {
  const conn = this.fulcrumOwner as HandleConnection | undefined;
  if (conn === undefined || conn.closed) return;
  conn.onRead(state[kRead]);
}

function onWriteComplete(this: WriteReq, status: number): void {
  const conn = this.conn;
  this.conn = null;
  this.buffer = null;
  this.handle = null;
  if (conn !== null) conn.writeDone(status);
}

function onShutdownComplete(this: ShutdownReq, status: number): void {
  const conn = this.conn;
  this.conn = null;
  if (conn !== null) conn.shutdownDone(status);
}

function onHandleClose(this: TcpHandle): void {
  const conn = this.fulcrumOwner as HandleConnection | undefined;
  if (conn !== undefined) conn.closedNow();
}

function afterConnect(status: number, handle: TcpHandle): void {
  const conn = handle.fulcrumOwner as HandleConnection | undefined;
  if (conn !== undefined) conn.connected(status);
}

/**
 * A reset the kernel holds for a socket: a zero-length write(2) sends nothing
 * and reports it (a FIN is not an error). null: none, or no descriptor.
 */
function pendingReset(fd: number): NodeJS.ErrnoException | null {
  if (fd < 0) return null;
  try {
    fs.writeSync(fd, EMPTY, 0, 0);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EAGAIN' ? null : (err as NodeJS.ErrnoException);
  }
}

function copyOf(buffer: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start);
  buffer.copy(copy, 0, start, end);
  return copy;
}

/** Connect to an IP address (no name resolution here: backends are addresses by then). */
export function handleConnect(options: ConnectOptions, events: ConnectionEvents, owner: unknown): HandleConnection {
  const b = bindings();
  const handle = new b.TCP(b.constants.SOCKET);
  const conn = new HandleConnection(handle, events, true);
  conn.owner = owner;
  if (options.noDelay !== false) conn.setNoDelayOnConnect();
  const family = options.family ?? net.isIP(options.host);
  const req = new b.TCPConnectWrap();
  req.oncomplete = afterConnect;
  req.address = options.host;
  req.port = options.port;
  const err = family === 0 ? -22 /* EINVAL: not an address */ : family === 6 ? handle.connect6(req, options.host, options.port) : handle.connect(req, options.host, options.port);
  if (err !== 0) process.nextTick(failLater, conn, err);
  return conn;
}

function failLater(conn: HandleConnection, err: number): void {
  conn.connected(err);
}
