import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { uvError, type ConnectionEvents, type ConnectionListener, type ListenOptions, type ListenerEvents } from './connection';
import { bindings, HandleConnection, type TcpHandle } from './handle-connection';

/**
 * A listening libuv TCP handle: accepted connections arrive through its
 * `onconnection` as bare handles and become HandleConnections (not reading
 * until readStart, like net's pauseOnConnect). Binds as net.Server does:
 * IPv6 addresses dual-stack, SO_REUSEPORT where this Node's libuv has the
 * flag (Node 22.12+; older ones ignore it, as net does).
 */
export class HandleListener implements ConnectionListener {
  private handle: TcpHandle | null = null;

  constructor(
    readonly events: ListenerEvents,
    readonly connectionEvents: ConnectionEvents,
  ) {}

  get listening(): boolean {
    return this.handle !== null;
  }

  listen(options: ListenOptions): Promise<{ address: string; port: number; family: string }> {
    const b = bindings();
    if (this.handle !== null) return Promise.reject(new Error('already listening'));
    const family = net.isIP(options.host);
    if (family === 0) return Promise.reject(uvError(-22, 'listen', 'EINVAL'));
    const handle = new b.TCP(b.constants.SERVER);
    let flags = options.reusePort === true ? (b.constants.UV_TCP_REUSEPORT ?? 0) : 0;
    if (family === 6 && options.ipv6Only === true) flags |= b.constants.UV_TCP_IPV6ONLY ?? 0;
    let err = family === 6 ? handle.bind6(options.host, options.port, flags) : handle.bind(options.host, options.port, flags);
    if (err === 0) err = handle.listen(options.backlog ?? 511);
    if (err !== 0) {
      handle.close(noop);
      const e = uvError(err, 'listen', getSystemErrorName(err));
      (e as NodeJS.ErrnoException & { address?: string; port?: number }).address = options.host;
      (e as NodeJS.ErrnoException & { address?: string; port?: number }).port = options.port;
      e.message = `listen ${e.code} ${options.host}:${options.port}`;
      return Promise.reject(e);
    }
    handle.fulcrumOwner = this;
    handle.onconnection = onConnection;
    this.handle = handle;
    const out: Record<string, unknown> = {};
    handle.getsockname(out);
    return Promise.resolve({ address: String(out.address), port: Number(out.port), family: String(out.family) });
  }

  accepted(status: number, client: TcpHandle | undefined): void {
    if (status !== 0 || client === undefined) {
      this.events.error(uvError(status, 'accept', getSystemErrorName(status)));
      return;
    }
    this.events.connection(new HandleConnection(client, this.connectionEvents, false));
  }

  close(): Promise<void> {
    const handle = this.handle;
    if (handle === null) return Promise.resolve();
    this.handle = null;
    handle.onconnection = null;
    return new Promise((resolve) => handle.close(() => resolve()));
  }
}

function onConnection(this: TcpHandle, status: number, client?: TcpHandle): void {
  const listener = this.fulcrumOwner as HandleListener | undefined;
  if (listener === undefined) {
    client?.close(noop);
    return;
  }
  listener.accepted(status, client);
}

function noop(): void {}
