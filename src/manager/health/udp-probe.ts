import dgram from 'node:dgram';
import type { Endpoint } from '../../config/types';
import { guarded } from '../../timers';
import { reasonOf } from './exchange';
import type { ProbeResult } from './tcp-probe';

/**
 * One UDP check: send `send` from a fresh socket connected to the backend and
 * wait for a reply within `timeoutMs`. With `expect: 'any'` any reply is ok;
 * with a Buffer the reply must start with those bytes ('unexpected reply'
 * otherwise).
 *
 * UDP has no handshake, so silence is only ever a timeout; but a connected
 * socket is told of ICMP port-unreachable, which arrives as an 'error' with
 * ECONNREFUSED and fails the check at once. The connected socket also makes
 * the kernel drop datagrams from anyone but the backend. The socket is closed
 * on every path and the promise never rejects: every failure is a result with
 * a short reason, as tcpProbe.
 */
export function udpProbe(address: Endpoint, send: Buffer, expect: 'any' | Buffer, timeoutMs: number): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const started = performance.now();
    let socket: dgram.Socket | null = null;
    let timer: NodeJS.Timeout | null = null;
    let done = false;

    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      if (timer !== null) clearTimeout(timer);
      try {
        socket?.close();
      } catch {
        // already closed
      }
      resolve(result);
    };

    try {
      socket = dgram.createSocket(address.family === 6 ? 'udp6' : 'udp4');
      // Kept for the socket's whole life: an 'error' without a listener would crash the process.
      socket.on('error', (err) => finish({ ok: false, reason: reasonOf(err) }));
      socket.on('message', (msg: Buffer) => {
        const ok = expect === 'any' || (msg.length >= expect.length && msg.subarray(0, expect.length).equals(expect));
        finish(ok ? { ok: true, ms: performance.now() - started } : { ok: false, reason: 'unexpected reply' });
      });
      timer = setTimeout(guarded('health probe timeout', () => finish({ ok: false, reason: 'timeout' })), timeoutMs);
      const s = socket;
      s.connect(address.port, address.host, () => {
        if (done) return;
        s.send(send, (err) => {
          if (err) finish({ ok: false, reason: reasonOf(err) });
        });
      });
    } catch (err) {
      // Synchronous throws (e.g. ERR_SOCKET_BAD_PORT) are results too.
      finish({ ok: false, reason: reasonOf(err) });
    }
  });
}
