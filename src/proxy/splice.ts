import fs from 'node:fs';
import net from 'node:net';

/**
 * The byte path of a TCP session without per-chunk allocation.
 *
 * Reads: Node's `onread` option makes a socket read straight into a buffer
 * we own, instead of allocating a Buffer per read and pushing it through the
 * Readable machinery. Every socket reads into the same READ_BUFFER, which is
 * safe only because its contents never outlive the read callback, thanks to
 * the way chunks are written on.
 *
 * Writes: a chunk is written on at once with write(2) on the target's file
 * descriptor (fs.writeSync: the descriptor is non-blocking, so it returns what
 * the kernel took, or EAGAIN). Only what the kernel did not take is copied and
 * queued on the socket's Writable, which then owns it; while anything is queued
 * there, later chunks are copied behind it, so order is kept. The copy is the
 * slow path under backpressure, not the common case.
 *
 * Where a piece is missing (an older or newer Node without the internals used
 * for accepted sockets, a platform without descriptors), callers fall back to
 * 'data' events and socket.write(); `send()` works for both.
 */

/** One read buffer for the whole process: see above for why sharing it is safe. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Accepted sockets are created by net.Server, which has no `onread` option. The
 * same state is reachable through the Socket's own (symbol-keyed) fields that
 * the option sets; they are found on a probe socket by description, so a Node
 * that renames them simply gets the fallback.
 */
interface UserBufferKeys {
  buffer: symbol;
  callback: symbol;
}

const userBufferKeys: UserBufferKeys | null = probeUserBufferKeys();

function probeUserBufferKeys(): UserBufferKeys | null {
  const probeBuffer = Buffer.alloc(1);
  const probeCallback = (): void => {};
  // The constructor takes `onread` (net.connect passes its options through); @types/node lists it for connect only.
  const probe = new net.Socket({ onread: { buffer: probeBuffer, callback: probeCallback } } as net.SocketConstructorOpts);
  let buffer: symbol | null = null;
  let callback: symbol | null = null;
  const fields = probe as unknown as Record<symbol, unknown>;
  for (const key of Object.getOwnPropertySymbols(probe)) {
    if (key.description === 'kBuffer' && fields[key] === probeBuffer) buffer = key;
    else if (key.description === 'kBufferCb' && fields[key] === probeCallback) callback = key;
  }
  probe.destroy();
  return buffer !== null && callback !== null ? { buffer, callback } : null;
}

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
  fd?: number;
}

function handleOf(socket: net.Socket): UserBufferHandle | null {
  return (socket as unknown as { _handle: UserBufferHandle | null })._handle;
}

/** The read callback: `this` is the socket, `buffer` holds `n` new bytes (valid only during the call). */
export type SpliceRead<S extends net.Socket> = (this: S, n: number, buffer: Buffer) => void;

/** `onread` for net.connect(): read into the shared buffer, handing each chunk to `callback`. */
export function spliceReadOption<S extends net.Socket>(callback: SpliceRead<S>): net.OnReadOpts {
  return { buffer: READ_BUFFER, callback: callback as net.OnReadOpts['callback'] };
}

/**
 * Switch an accepted socket that has not read anything yet (pauseOnConnect)
 * to the shared buffer. Returns false when this Node cannot, and the caller
 * keeps 'data' events.
 */
export function spliceReads<S extends net.Socket>(socket: S, callback: SpliceRead<S>): boolean {
  const handle = handleOf(socket);
  if (userBufferKeys === null || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  if (socket.readableLength > 0) return false; // bytes already in the Readable would be overtaken
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[userBufferKeys.buffer] = READ_BUFFER;
  fields[userBufferKeys.callback] = callback;
  handle.useUserBuffer(READ_BUFFER);
  return true;
}

/**
 * Write buffer[start, end) to `to`. `owned`: the bytes belong to the caller
 * for good (a 'data' chunk), so a remainder can be queued without a copy.
 * Returns false when `to` wants the reader paused until its 'drain'.
 */
export function send(to: net.Socket, buffer: Buffer, start: number, end: number, owned: boolean): boolean {
  if (to.destroyed) return true; // the session is closing; the bytes have nowhere to go
  let written = 0;
  const handle = handleOf(to);
  const fd = handle === null ? -1 : (handle.fd ?? -1);
  // Straight to the kernel only when nothing is queued ahead (order) and the socket is connected.
  if (fd >= 0 && to.writableLength === 0 && !to.connecting && !to.writableEnded) {
    try {
      written = fs.writeSync(fd, buffer, start, end - start);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
        to.destroy(err as Error);
        return false;
      }
    }
    if (written === end - start) return true;
  }
  const from = start + written;
  return to.write(owned ? buffer.subarray(from, end) : copyOf(buffer, from, end));
}

const EMPTY = Buffer.alloc(0);

/**
 * A reset the kernel holds for a socket that nothing reads from or writes to
 * (so the event loop does not poll it, and Node never hears of it). A
 * zero-length write(2) sends nothing and reports it (ECONNRESET); a FIN is not
 * an error, so a half-closed peer is not mistaken for a reset one. null: none,
 * or no descriptor to ask. The caller must not ask a socket it has shut down
 * itself (that answers EPIPE).
 */
export function pendingReset(socket: net.Socket): Error | null {
  const handle = handleOf(socket);
  const fd = handle === null ? -1 : (handle.fd ?? -1);
  if (fd < 0) return null;
  try {
    fs.writeSync(fd, EMPTY, 0, 0);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EAGAIN' ? null : (err as Error);
  }
}

function copyOf(buffer: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start);
  buffer.copy(copy, 0, start, end);
  return copy;
}
