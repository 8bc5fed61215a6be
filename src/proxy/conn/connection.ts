/**
 * The data plane's view of one TCP connection, whatever carries it: Node's
 * net.Socket (net-connection.ts, the portable path) or the libuv handles that
 * net itself is built on (handle-connection.ts, no Socket and no stream
 * machinery per connection). probe.ts picks one at start.
 *
 * Events go to one handler object shared by many connections (no closure per
 * connection); a connection finds its session through `owner`. Every event
 * is delivered at most once per kind, except `drain`, and `close` comes last,
 * exactly once, after the descriptor is released.
 */

/** Bytes read: `buffer[0, n)`, valid only during the call (it is shared by every connection). */
export type ReadCallback = (conn: Connection, n: number, buffer: Buffer) => void;

export interface ConnectionEvents {
  /** The outgoing connect completed. */
  connect(conn: Connection): void;
  /** The peer sent FIN (checked not to be a reset behind data). Reads stop; writes may go on. */
  end(conn: Connection): void;
  /** A read/write/connect error (a reset is `code: 'ECONNRESET'`). The connection then closes itself. */
  error(conn: Connection, err: NodeJS.ErrnoException): void;
  /** Everything that write() queued has gone to the kernel (only after a write() that returned false). */
  drain(conn: Connection): void;
  /** The descriptor is released; nothing follows. */
  close(conn: Connection): void;
}

export type DataPlaneKind = 'net' | 'handle';

export interface Connection {
  readonly kind: DataPlaneKind;
  /** Whatever the caller attaches (the session). */
  owner: unknown;
  /** Start (or, after pause(), go on) reading into the shared buffer. Before the first call nothing is read. */
  readStart(callback: ReadCallback): void;
  pause(): void;
  resume(): void;
  /** pause() was called (and no resume() since). */
  readonly paused: boolean;
  /**
   * Write buffer[start, end). `owned`: the bytes belong to the caller for good, so a remainder
   * the kernel does not take can be queued without a copy (otherwise it is copied). Returns
   * true when everything went to the kernel at once; false when some is queued: the caller
   * pauses its reader until `drain`.
   */
  write(buffer: Buffer, start: number, end: number, owned: boolean): boolean;
  /** Bytes queued behind the kernel's send buffer. */
  readonly queued: number;
  /** FIN once the queue has gone out. */
  shutdown(): void;
  /** RST now (a connect in flight is simply dropped); queued bytes are dropped. */
  reset(): void;
  /** Close now, without waiting for the queue (FIN if the kernel still can). */
  close(): void;
  /** A reset the kernel holds for a paused, unpolled side: becomes the error event. True when one was found. */
  probeReset(): boolean;
  readonly connecting: boolean;
  readonly closed: boolean;
  /** shutdown() was called. */
  readonly ended: boolean;
  /** The peer's FIN was read (the end event came). */
  readonly eof: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly fd: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** 4 or 6; taken from the address when absent. */
  family?: number;
  noDelay?: boolean;
}

export interface ListenOptions {
  host: string;
  port: number;
  backlog?: number;
  reusePort?: boolean;
  /** IPv6 only (no IPv4-mapped clients on an IPv6 listener). */
  ipv6Only?: boolean;
}

export interface ConnectionListener {
  /** Resolves with the bound address (port 0 → the kernel's choice). */
  listen(options: ListenOptions): Promise<{ address: string; port: number; family: string }>;
  readonly listening: boolean;
  /** Stop accepting; connections already accepted are not touched. */
  close(): Promise<void>;
}

export interface ListenerEvents {
  /** A new connection, not reading yet (call readStart). */
  connection(conn: Connection): void;
  /** accept(2) failed (EMFILE…): the listener goes on. */
  error(err: NodeJS.ErrnoException): void;
}

/** One implementation of the data plane. */
export interface DataPlaneFactory {
  readonly kind: DataPlaneKind;
  listener(events: ListenerEvents, connectionEvents: ConnectionEvents): ConnectionListener;
  connect(options: ConnectOptions, events: ConnectionEvents, owner: unknown): Connection;
}

/** An error shaped like Node's (code, errno, syscall) from a libuv status. */
export function uvError(status: number, syscall: string, name: string): NodeJS.ErrnoException {
  const err = new Error(`${syscall} ${name}`) as NodeJS.ErrnoException;
  err.code = name;
  err.errno = status;
  err.syscall = syscall;
  return err;
}
