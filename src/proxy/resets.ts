import type net from 'node:net';
import { pendingReset } from './splice';

/**
 * Resets at the two ends of a TCP session: sending one for a forced close, and
 * noticing one that Node does not report (from a paused side, or behind data).
 */

/**
 * RST instead of FIN; a connect still in flight is simply dropped
 * (resetAndDestroy would wait for it). While our FIN is being sent (end()
 * called, shutdown not complete) libuv refuses the reset (EINVAL) and Node
 * then emits 'error' but never closes the handle: the session hung with its
 * descriptors. Then a plain close: the FIN is on its way anyway.
 */
export function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || (socket.writableEnded && !socket.writableFinished)) socket.destroy();
  else socket.resetAndDestroy();
}

/**
 * A paused side (reads stopped) with nothing queued for it is not polled at
 * all, so a reset from it would wait for the idle timeout: a pending one
 * becomes its error. Not asked: sides we have shut down (EPIPE) or still write
 * to (queued bytes keep them polled).
 */
export function probeForReset(socket: net.Socket): void {
  if (!socket.isPaused() || socket.destroyed || socket.writableEnded || socket.writableLength > 0) return;
  const err = pendingReset(socket);
  if (err !== null) socket.destroy(err); // 'error' → broken(): the other side gets the reset
}

/**
 * An 'end' is not always a FIN: when a reset arrives behind data, libuv reads
 * the data and then reports the hang-up as EOF. Passing that on as a FIN would
 * make a cut stream look complete, so ask the kernel (one zero-length write per
 * FIN) and turn a reset into this side's error; broken() resets the other side.
 * A socket we have shut down ourselves cannot be asked (EPIPE): taken as a FIN.
 */
export function endedByReset(socket: net.Socket): boolean {
  if (socket.writableEnded) return false;
  const err = pendingReset(socket);
  if (err === null) return false;
  socket.destroy(err);
  return true;
}
