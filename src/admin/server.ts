/**
 * The HTTP admin API (DESIGN.md "Admin API") on node:http. It only translates
 * HTTP to ControlPlane calls: state lives in the manager. Every failure is a
 * JSON body {"error":{code,message,details}}; nothing a client sends can throw
 * past the request handler.
 */
import http from 'node:http';
import type net from 'node:net';
import type { AdminConfig, Endpoint } from '../config/types';
import { FulcrumError, isFulcrumError, type ErrorCode } from '../errors';
import type { Logger } from '../log';
import type { BackendAction, BackendStatus, ControlPlane } from '../manager/status';
import { bearerAuthorized, isLoopback } from './auth';
import { ADMIN_MAX_CONNECTIONS } from '../manager/fd-budget';
import { renderMetrics } from './metrics';

/** Admin connection timeouts (ms): generous for a human with curl, short for a socket that says nothing. */
export const ADMIN_TIMEOUTS = {
  /** Whole request headers must arrive within this of the connection (or of the previous request). */
  headers: 5_000,
  request: 10_000,
  keepAlive: 5_000,
  /** How often node:http checks headers/request timeouts (its default, 30 s, let silent sockets sit ~35 s). */
  checkEvery: 1_000,
  /** After an error reply, a client that does not read it is cut off anyway. */
  lingerAfterError: 1_000,
} as const;

/** Request bodies are tiny ({"weight": N}); anything larger is refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

const ACTIONS: readonly BackendAction[] = ['drain', 'enable', 'disable'];

/** HTTP status of each error code a ControlPlane (or this file) throws; anything else is a 500. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  ERR_FULCRUM_BAD_REQUEST: 400,
  ERR_FULCRUM_CONFIG: 400,
  ERR_FULCRUM_CONFIG_READ: 400,
  // A reload whose new listener cannot bind (address in use): the request conflicts with the machine's state.
  ERR_FULCRUM_LISTEN: 409,
  ERR_FULCRUM_DISCOVERY: 400,
  ERR_FULCRUM_UNAUTHORIZED: 401,
  ERR_FULCRUM_NOT_FOUND: 404,
  ERR_FULCRUM_RELOAD_UNAVAILABLE: 409,
  ERR_FULCRUM_STOPPING: 409,
};

/** Statuses node:http itself would send for these parser errors (a clientError listener replaces its defaults). */
const CLIENT_ERROR_STATUS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/** An error that carries its own HTTP status (route, method and body problems). */
class HttpError extends FulcrumError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    readonly headers: http.OutgoingHttpHeaders = {},
  ) {
    super(code, message);
  }
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

type Handler = (readBody: () => Promise<string>) => Promise<Reply>;

export class AdminServer {
  private readonly server: http.Server;
  /** An empty token counts as none: it could never be sent as "Bearer ". */
  private token: string | undefined;

  constructor(
    private readonly control: ControlPlane,
    private readonly config: AdminConfig,
    private readonly log: Logger,
  ) {
    this.token = config.token || undefined;
    // Slow, stuck or silent clients must not pin descriptors on a control
    // endpoint: bounded time to send headers and the request, a short
    // keep-alive, and a cap on connections (the rest are closed at accept),
    // so the admin API can never take the data plane's fds. No idle timeout
    // while a request is handled: a reload may wait for its health checks.
    this.server = http.createServer({ connectionsCheckingInterval: ADMIN_TIMEOUTS.checkEvery }, (req, res) => void this.handle(req, res));
    this.server.headersTimeout = ADMIN_TIMEOUTS.headers;
    this.server.requestTimeout = ADMIN_TIMEOUTS.request;
    this.server.keepAliveTimeout = ADMIN_TIMEOUTS.keepAlive;
    this.server.maxConnections = config.maxConnections ?? ADMIN_MAX_CONNECTIONS;
    this.server.on('drop', () => this.log.debug('admin connection refused: admin.maxConnections reached'));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      // Malformed HTTP, a timeout or a reset mid-request: answer if we still can, never throw.
      this.log.debug({ err: err.code ?? err.message }, 'admin client error');
      if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
      const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
      // Then close for good: end() alone leaves a half-open socket while a silent client never closes its side.
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
      setTimeout(() => socket.destroy(), ADMIN_TIMEOUTS.lingerAfterError).unref();
    });
    // A failed bind is listen()'s to report (once, as ERR_FULCRUM_LISTEN); this logs errors of a listening socket.
    this.server.on('error', (err) => {
      if (this.server.listening) this.log.error({ err }, 'admin listener error');
    });
  }

  /** Binds config.listen; refuses a non-loopback address without a token before binding anything. */
  listen(): Promise<Endpoint> {
    const endpoint = this.config.listen;
    if (this.token === undefined && !isLoopback(endpoint)) {
      return Promise.reject(
        new FulcrumError('ERR_FULCRUM_CONFIG', 'invalid configuration (1 problem)', [
          `admin.listen: ${endpoint.text} is not a loopback address; set admin.token to expose the admin API`,
        ]),
      );
    }
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new FulcrumError('ERR_FULCRUM_LISTEN', `admin API: cannot listen on ${endpoint.text}: ${err.code ?? err.message}`, [], { cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen({ host: endpoint.host, port: endpoint.port, ipv6Only: endpoint.family === 6 }, () => {
        this.server.removeListener('error', onError);
        const bound = this.server.address() as net.AddressInfo;
        const text = endpoint.family === 6 ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
        resolve({ host: bound.address, port: bound.port, family: endpoint.family, text });
      });
    });
  }

  /**
   * A reload may change admin.token; it takes effect for the next request.
   * Removing the token of an API bound to a non-loopback address would open
   * it to the network, so that change is refused (old token kept, logged).
   */
  setToken(token: string | undefined): void {
    if (!token && !isLoopback(this.config.listen)) {
      this.log.error({ listen: this.config.listen.text }, 'admin.token removed but admin.listen is not loopback: keeping the old token');
      return;
    }
    this.token = token || undefined;
  }

  /** Stops listening and closes every connection, idle keep-alive ones included, so close() is prompt. */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const rawPath = (req.url ?? '/').split(/[?#]/, 1)[0];
    req.on('error', () => res.destroy());
    res.on('error', () => {});
    let reply: Reply;
    let headers: http.OutgoingHttpHeaders = {};
    try {
      if (this.token !== undefined && !bearerAuthorized(req.headers.authorization, this.token)) {
        throw new HttpError(401, 'ERR_FULCRUM_UNAUTHORIZED', 'missing or wrong bearer token (send "Authorization: Bearer TOKEN")', {
          'www-authenticate': 'Bearer realm="fulcrum"',
        });
      }
      const handlers = this.route(splitPath(rawPath));
      if (handlers === undefined) throw new HttpError(404, 'ERR_FULCRUM_BAD_REQUEST', `no such route: ${method} ${rawPath}`);
      // HEAD is GET without a body; node:http drops the body for us.
      const handler = Object.hasOwn(handlers, method) ? handlers[method] : method === 'HEAD' ? handlers.GET : undefined;
      if (handler === undefined) {
        const allow = Object.keys(handlers).join(', ');
        throw new HttpError(405, 'ERR_FULCRUM_BAD_REQUEST', `${method} is not allowed on ${rawPath}; use ${allow}`, { allow });
      }
      reply = await handler(() => readBody(req));
    } catch (err) {
      if (err instanceof HttpError) headers = err.headers;
      reply = this.errorReply(err, method, rawPath);
    }
    if (res.headersSent || res.destroyed) return;
    res.writeHead(reply.status, { ...headers, 'content-type': reply.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(reply.body) });
    res.end(reply.body);
    if (method !== 'GET' && method !== 'HEAD') {
      // Operator actions are an audit trail: who, what, and how it went.
      this.log.info({ remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`, method, path: rawPath, status: reply.status }, 'admin request');
    }
  }

  /** The handlers of a path by method, or undefined for an unknown route. */
  private route(segments: string[]): Record<string, Handler> | undefined {
    const control = this.control;
    const [first, service, second, backend, action] = segments;
    if (segments.length === 1 && first === 'status') return { GET: async () => (await control.collectStats?.(), json(200, control.status())) };
    if (segments.length === 1 && first === 'metrics') {
      return { GET: async () => (await control.collectStats?.(), { status: 200, ...(await renderMetrics(control.status())) }) };
    }
    if (segments.length === 1 && first === 'reload') return { POST: async () => json(200, await control.reload()) };
    if (segments.length === 5 && first === 'services' && second === 'backends') {
      if (action === 'weight') {
        // The reply waits for every worker, so a connection opened after it sees the change.
        return { PUT: async (read) => settled(control, control.setWeight(service, backend, parseWeight(await read()))) };
      }
      if ((ACTIONS as readonly string[]).includes(action)) {
        return { POST: async () => settled(control, control.backendAction(service, backend, action as BackendAction)) };
      }
    }
    return undefined;
  }

  private errorReply(err: unknown, method: string, path: string): Reply {
    if (err instanceof HttpError) return errorJson(err.status, err.code, err.message, err.details);
    if (isFulcrumError(err) && STATUS_BY_CODE[err.code] !== undefined) {
      return errorJson(STATUS_BY_CODE[err.code]!, err.code, err.message, err.details);
    }
    // A bug or an unexpected failure in the control plane: log it, answer 500, keep serving.
    this.log.error({ err, method, path }, 'admin request failed');
    const message = err instanceof Error ? err.message : String(err);
    return errorJson(500, isFulcrumError(err) ? err.code : 'ERR_FULCRUM_ADMIN', `internal error: ${message}`, []);
  }
}

/** Path segments, each URL-decoded after splitting so that %2F stays inside a name. One trailing slash is tolerated. */
function splitPath(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed
    .replace(/^\//, '')
    .split('/')
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new HttpError(400, 'ERR_FULCRUM_BAD_REQUEST', `bad percent-encoding in path segment "${segment}"`);
      }
    });
}

/** The request body as text, refused with 413 past MAX_BODY_BYTES (declared or actual). */
function readBody(req: http.IncomingMessage): Promise<string> {
  const tooLarge = () => new HttpError(413, 'ERR_FULCRUM_BAD_REQUEST', `request body is larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      // Keep reading into the void until the connection closes, so the
      // client is not reset before it reads the 413.
      req.removeListener('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function parseWeight(body: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new HttpError(400, 'ERR_FULCRUM_BAD_REQUEST', `request body is not valid JSON: ${(err as Error).message}`);
  }
  const weight = typeof parsed === 'object' && parsed !== null ? (parsed as { weight?: unknown }).weight : undefined;
  // Only the shape is checked here; the range is the ControlPlane's rule.
  if (typeof weight !== 'number' || !Number.isFinite(weight)) {
    throw new HttpError(400, 'ERR_FULCRUM_BAD_REQUEST', 'expected a JSON body {"weight": N} with a number N');
  }
  return weight;
}

function json(status: number, value: unknown): Reply {
  return { status, contentType: 'application/json; charset=utf-8', body: `${JSON.stringify(value, null, 2)}\n` };
}

function errorJson(status: number, code: string, message: string, details: readonly string[]): Reply {
  return json(status, { error: { code, message, details } });
}

/** A 200 with the backend's status once every worker has applied the action. */
async function settled(control: ControlPlane, status: BackendStatus): Promise<Reply> {
  await control.applied?.();
  return json(200, status);
}
