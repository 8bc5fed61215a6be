import net from 'node:net';
import type { Endpoint } from '../../config/types';
import type { ProbeResult } from './tcp-probe';
import { guarded } from '../../timers';

/**
 * One short TCP conversation of a check (redis, agent): connect, `greet`
 * the server, feed every received chunk to `read` until it returns a result,
 * all within `timeoutMs`. As tcpProbe: the socket is destroyed on every path
 * and the promise never rejects. A server that closes before `read` decided
 * gets `read(null)` (end of stream) to decide on what it has.
 */
export function exchange(
  address: Endpoint,
  port: number | undefined,
  timeoutMs: number,
  greet: (socket: net.Socket) => void,
  read: (chunk: Buffer | null) => ProbeResult | undefined,
): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    let socket: net.Socket | null = null;
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(guarded('health probe timeout', () => finish({ ok: false, reason: 'timeout' })), timeoutMs);
    const feed = (chunk: Buffer | null) => {
      if (done) return;
      let result: ProbeResult | undefined;
      try {
        result = read(chunk);
      } catch (err) {
        result = { ok: false, reason: reasonOf(err) };
      }
      if (result !== undefined) finish(result);
      else if (chunk === null) finish({ ok: false, reason: 'closed early' });
    };
    try {
      socket = net.connect({ host: address.host, port: port ?? address.port });
    } catch (err) {
      finish({ ok: false, reason: reasonOf(err) });
      return;
    }
    const s = socket;
    s.on('error', (err) => finish({ ok: false, reason: reasonOf(err) }));
    s.once('connect', () => greet(s));
    s.on('data', feed);
    s.once('end', () => feed(null));
  });
}

/** An errno code (ECONNREFUSED) or the message; duck-typed: errors may come from another realm (jest's vm). */
export function reasonOf(err: unknown): string {
  const e = err as Partial<NodeJS.ErrnoException> | null;
  return typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message : String(err);
}
