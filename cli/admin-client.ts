/**
 * The CLI's client for the admin API: one JSON request, one JSON answer, and
 * every failure turned into an ERR_FULCRUM_ADMIN error a person can act on.
 */
import http from 'node:http';
import https from 'node:https';
import { FulcrumError } from '../src/errors';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9090';
export const ADMIN_TIMEOUT_MS = 5000;

/** An error answer from the admin API: the server's own code and HTTP status are kept for callers. */
export class AdminRequestError extends FulcrumError {
  constructor(
    message: string,
    details: readonly string[],
    readonly status: number | null,
    readonly serverCode: string | null,
    options?: { cause?: unknown },
  ) {
    super('ERR_FULCRUM_ADMIN', message, details, options);
  }
}

/** `127.0.0.1:9090` is accepted for `http://127.0.0.1:9090` (the form `run --admin` takes). */
export function adminUrl(base: string, path: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(base) ? base : `http://${base}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new FulcrumError('ERR_FULCRUM_ARGS', `--admin: ${JSON.stringify(base)} is not a URL (e.g. ${DEFAULT_ADMIN_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FulcrumError('ERR_FULCRUM_ARGS', `--admin: ${JSON.stringify(base)} must be an http:// or https:// URL`);
  }
  // Keep a path prefix (an admin API behind a reverse proxy) and append ours.
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  return url;
}

/** Sends one request and resolves with the parsed JSON body of a 2xx answer. */
export function adminRequest(baseUrl: string, method: string, path: string, body?: unknown, token?: string): Promise<unknown> {
  const url = adminUrl(baseUrl, path);
  const shown = `${url.protocol}//${url.host}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(payload);
  }
  if (token) headers.authorization = `Bearer ${token}`;
  const transport = url.protocol === 'https:' ? https : http;

  return new Promise((resolve, reject) => {
    // One deadline for the whole exchange (connect, send, answer), not a per-read idle timer.
    const timer = setTimeout(() => {
      req.destroy(new AdminRequestError(`the admin API at ${shown} did not answer within ${ADMIN_TIMEOUT_MS / 1000} s`, [], null, null));
    }, ADMIN_TIMEOUT_MS);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      if (err instanceof FulcrumError) return reject(err);
      const e = err as NodeJS.ErrnoException;
      reject(new AdminRequestError(`cannot reach the admin API at ${shown}: ${e.code ?? e.message}`, [], null, null, { cause: err }));
    };
    const req = transport.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        try {
          resolve(parseAnswer(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), shown));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', fail);
    req.end(payload);
  });
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

function parseAnswer(status: number, text: string, shown: string): unknown {
  let parsed: unknown;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    throw new AdminRequestError(`the admin API at ${shown} answered HTTP ${status} with a body that is not JSON`, [], status, null);
  }
  if (status >= 200 && status < 300) return parsed;
  const error = (parsed as ErrorBody | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : null;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  const details = Array.isArray(error?.details) ? error.details.map(String) : [];
  // e.g. `service "pg" has no backend "x" (ERR_FULCRUM_NOT_FOUND, HTTP 404)`
  throw new AdminRequestError(`${message} (${code ?? 'no error code'}, HTTP ${status})`, details, status, code);
}
