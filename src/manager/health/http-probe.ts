import http from 'node:http';
import type { Endpoint, HttpCheckConfig } from '../../config/types';
import { reasonOf } from './exchange';
import type { ProbeResult } from './tcp-probe';
import { guarded } from '../../timers';

/** Bytes of body read when looking for expectBody; a health page is small. */
const MAX_BODY = 64 * 1024;

/**
 * One HTTP check on a fresh connection (no keep-alive agent: a check must see
 * a connect fail, as a client would). Passes on an expected status (default
 * any 2xx or 3xx) and, if `expectBody` is set, a body containing it. Results
 * read `http 200`, `http 503`, `http 200 body mismatch`; the request is
 * destroyed on every path and the promise never rejects.
 */
export function httpProbe(address: Endpoint, port: number | undefined, timeoutMs: number, check: HttpCheckConfig): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const started = performance.now();
    let done = false;
    let req: http.ClientRequest | null = null;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req?.destroy();
      resolve(result);
    };
    const timer = setTimeout(guarded('health probe timeout', () => finish({ ok: false, reason: 'timeout' })), timeoutMs);
    const p = port ?? address.port;
    const host = check.host ?? (address.family === 6 ? `[${address.host}]:${p}` : `${address.host}:${p}`);
    try {
      req = http.request({
        host: address.host,
        port: p,
        method: check.method,
        path: check.path,
        agent: false,
        headers: { host, 'user-agent': 'fulcrum-health-check', connection: 'close' },
      });
    } catch (err) {
      finish({ ok: false, reason: reasonOf(err) });
      return;
    }
    req.on('error', (err) => finish({ ok: false, reason: reasonOf(err) }));
    req.on('response', (res) => {
      res.on('error', (err) => finish({ ok: false, reason: reasonOf(err) }));
      const status = res.statusCode ?? 0;
      const text = `http ${status}`;
      const statusOk = check.expectStatus === null ? status >= 200 && status < 400 : check.expectStatus.includes(status);
      const expectBody = check.expectBody;
      if (!statusOk || expectBody === undefined) {
        finish(statusOk ? { ok: true, ms: performance.now() - started, text } : { ok: false, reason: text });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.includes(expectBody)) finish({ ok: true, ms: performance.now() - started, text });
        else if (body.length > MAX_BODY) finish({ ok: false, reason: `${text} body mismatch` });
      });
      res.on('end', () => finish({ ok: false, reason: `${text} body mismatch` }));
    });
    req.end();
  });
}
