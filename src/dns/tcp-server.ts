/**
 * DNS over TCP (RFC 7766): each message is prefixed by its two-byte length;
 * a client may send several queries on one connection and gets the replies
 * in order. Idle connections are closed after tcp.idleTimeout; at most
 * tcp.maxConnections are open (excess ones are closed at accept, counted).
 */
import net from 'node:net';
import type { Endpoint } from '../config/types';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import type { Respond } from './udp-server';

export class DnsTcpServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  failures = 0;
  refused = 0;

  constructor(
    private respond: Respond,
    public idleTimeout: number,
    public maxConnections: number,
    private readonly log: Logger,
  ) {}

  setResponder(respond: Respond): void {
    this.respond = respond;
  }

  get connections(): number {
    return this.sockets.size;
  }

  listen(endpoint: Endpoint, reusePort = false): Promise<Endpoint> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    server.maxConnections = this.maxConnections;
    server.on('drop', () => this.refused++);
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        this.server = null;
        reject(new FulcrumError('ERR_FULCRUM_LISTEN', `cannot listen on ${endpoint.text}/tcp: ${(err as NodeJS.ErrnoException).code ?? err.message}`, [], { cause: err }));
      });
      server.listen({ port: endpoint.port, host: endpoint.host, ipv6Only: endpoint.family === 6, ...(reusePort && { reusePort }) }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.error({ err }, 'dns tcp listener error'));
        resolve(endpoint);
      });
    });
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.idleTimeout, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    // A client that sends queries but does not read the replies stops being read.
    socket.on('drain', () => socket.resume());
    const client = socket.remoteAddress ?? '';
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (pending.length - at >= 2) {
        const size = pending.readUInt16BE(at);
        if (pending.length - at - 2 < size) break;
        this.answer(socket, pending.subarray(at + 2, at + 2 + size), client);
        at += 2 + size;
      }
      // Bounded: what stays is less than one message (at most 64 KiB + 2).
      pending = at === 0 ? pending : pending.subarray(at);
    });
  }

  private answer(socket: net.Socket, msg: Buffer, client: string): void {
    let reply: Buffer | null;
    try {
      reply = this.respond(msg, client, false);
    } catch (err) {
      this.failures++;
      this.log.error({ err, client }, 'dns query failed');
      return;
    }
    if (reply === null) return;
    const framed = Buffer.allocUnsafe(reply.length + 2);
    framed.writeUInt16BE(reply.length, 0);
    reply.copy(framed, 2);
    if (!socket.write(framed)) socket.pause();
  }

  get listening(): boolean {
    return this.server !== null;
  }

  /** Stop accepting; open connections finish their queries until idle or `closeAll`. */
  close(): void {
    this.server?.close();
    this.server = null;
  }

  closeAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
