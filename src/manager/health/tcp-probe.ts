import net from 'node:net';
import { guarded } from '../../timers';
import type { Endpoint } from '../../config/types';
import { reasonOf } from './exchange';

/** A check's outcome; `text` / `reason` is the short result shown in status (`redis role:master`, `http 503`). */
export type ProbeResult = { ok: true; ms: number; text?: string } | { ok: false; reason: string };

/**
 * One TCP-connect check: ok when the handshake completes within `timeoutMs`.
 *
 * Node has no connect timeout of its own, so a timer bounds the attempt. The
 * socket is destroyed on every path (connected, error, timeout) so a backend
 * that is down for hours does not leak a descriptor per check, and the
 * promise never rejects: every failure is a result with a short reason
 * (an errno code such as ECONNREFUSED, or "timeout"). `greeting`, if given,
 * is written once connected (a PROXY v2 LOCAL header for health.proxyProtocol).
 */
export function tcpProbe(address: Endpoint, port: number | undefined, timeoutMs: number, greeting?: Buffer): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const started = performance.now();
    let socket: net.Socket | null = null;
    let timer: NodeJS.Timeout | null = null;
    let done = false;

    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      if (timer !== null) clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };

    try {
      socket = net.connect({ host: address.host, port: port ?? address.port });
    } catch (err) {
      // Synchronous throws (e.g. ERR_SOCKET_BAD_PORT) are results too.
      finish({ ok: false, reason: reasonOf(err) });
      return;
    }
    // Kept (not `once`) for the socket's whole life: an 'error' without a
    // listener would crash the process.
    socket.on('error', (err) => finish({ ok: false, reason: reasonOf(err) }));
    socket.once('connect', () => {
      const ms = performance.now() - started;
      // health.proxyProtocol: a backend that requires a PROXY header gets one (LOCAL) before the close.
      if (greeting === undefined) finish({ ok: true, ms });
      else socket!.end(greeting, () => finish({ ok: true, ms }));
    });
    timer = setTimeout(guarded('health probe timeout', () => finish({ ok: false, reason: 'timeout' })), timeoutMs);
  });
}
