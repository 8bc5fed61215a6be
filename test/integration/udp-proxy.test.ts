import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Balancer } from '../../src/balancer/balancer';
import { MaglevBalancer, RoundRobinBalancer } from '../../src/balancer';
import type { Endpoint } from '../../src/config/types';
import { udpProbe } from '../../src/manager/health/udp-probe';
import { Backend, HealthFlag } from '../../src/pool/backend';
import { MAX_PENDING, UdpProxy, udpSettings, type UdpSettings } from '../../src/proxy/udp-proxy';
import type { Logger } from '../../src/log';
import { fdCount, until } from '../helpers/net';

const silent = pino({ level: 'silent' });
const at = (port: number, host = '127.0.0.1'): Endpoint => ({ host, port, family: 4, text: `${host}:${port}` });

const sockets: dgram.Socket[] = [];
const proxies: UdpProxy[] = [];

afterEach(async () => {
  for (const p of proxies.splice(0)) p.stopAccepting();
  await Promise.all(sockets.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

type Handler = (msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket) => void;

/** A UDP server on 127.0.0.1:0 answering with `handler`. */
async function udpServer(handler: Handler): Promise<{ socket: dgram.Socket; port: number }> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  socket.on('error', () => {});
  socket.on('message', (msg, rinfo) => handler(msg, rinfo, socket));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { socket, port: socket.address().port };
}

const echo: Handler = (msg, rinfo, s) => s.send(msg, rinfo.port, rinfo.address);
/** Echo prefixed with the backend's tag, so a client can tell which backend answered. */
const tagged =
  (tag: string): Handler =>
  (msg, rinfo, s) =>
    s.send(Buffer.concat([Buffer.from(`${tag}|`), msg]), rinfo.port, rinfo.address);

/** A port on which nothing listens: a connected socket gets ICMP port unreachable → ECONNREFUSED. */
async function refusedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function mkBackend(port: number, name: string): Backend {
  return new Backend({ address: at(port), name, weight: 1, backup: false, maxConnections: 0 });
}

/** Backends from handlers (named b0, b1, ...). */
async function backends(...handlers: Handler[]): Promise<Backend[]> {
  const out: Backend[] = [];
  for (let i = 0; i < handlers.length; i++) out.push(mkBackend((await udpServer(handlers[i])).port, `b${i}`));
  return out;
}

type Options = Partial<UdpSettings> & { log?: Logger; sweepInterval?: number; onBackendFailure?: (b: Backend) => void };

/** A proxy with the default settings but those given. */
function udpProxy(name: string, balancer: Balancer, options: Options = {}): UdpProxy {
  const { log, sweepInterval, onBackendFailure, ...settings } = options;
  return new UdpProxy(name, udpSettings(settings), { balancer, log: log ?? silent, sweepInterval, hooks: { backendFailed: onBackendFailure ?? (() => {}) } });
}

async function proxyFor(bs: Backend[], options: Options = {}, balancer: Balancer = new RoundRobinBalancer()) {
  balancer.rebuild(bs);
  const proxy = udpProxy('u', balancer, options);
  proxies.push(proxy);
  const bound = await proxy.listen(at(0));
  return { proxy, port: bound.port, balancer };
}

/** A client socket with an inbox; `request` sends and waits for the next datagram. */
class Client {
  readonly inbox: Buffer[] = [];
  private waiter: ((b: Buffer) => void) | null = null;
  private constructor(
    readonly socket: dgram.Socket,
    readonly target: number,
  ) {
    socket.on('message', (msg) => {
      const w = this.waiter;
      this.waiter = null;
      if (w !== null) w(msg);
      else this.inbox.push(msg);
    });
  }

  static async open(target: number, host = '127.0.0.1'): Promise<Client> {
    const socket = dgram.createSocket('udp4');
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.bind(0, host, () => r()));
    return new Client(socket, target);
  }

  send(payload: Buffer | string): void {
    this.socket.send(typeof payload === 'string' ? Buffer.from(payload) : payload, this.target, '127.0.0.1');
  }

  next(timeoutMs = 3000): Promise<Buffer> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error('no reply in time'));
      }, timeoutMs);
      this.waiter = (b) => {
        clearTimeout(timer);
        resolve(b);
      };
    });
  }

  async request(payload: Buffer | string): Promise<string> {
    this.send(payload);
    return (await this.next()).toString();
  }
}

const tagOf = (reply: string): string => reply.slice(0, reply.indexOf('|'));
const zeroDrops = { no_backend: 0, max_sessions: 0, max_sessions_per_source: 0, oversize: 0, send_error: 0, reply_ratio: 0, amplification: 0, queue_full: 0, acl: 0, privileged_source: 0 };

describe('UdpProxy', () => {
  test('two clients behind one backend each get only their own replies', async () => {
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b]);
    const [x, y] = [await Client.open(port), await Client.open(port)];
    for (let i = 0; i < 20; i++) {
      x.send(`x-${i}`);
      y.send(`y-${i}`);
    }
    const gotX: string[] = [];
    const gotY: string[] = [];
    for (let i = 0; i < 20; i++) gotX.push((await x.next()).toString());
    for (let i = 0; i < 20; i++) gotY.push((await y.next()).toString());
    expect(gotX.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `x-${i}`).sort());
    expect(gotY.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `y-${i}`).sort());
    expect(proxy.sessions.size).toBe(2);
    expect(b.active).toBe(2);
    expect(b.total).toBe(2);
  });

  test('10,000 request/replies across 50 concurrent clients arrive byte-exact, counts exact', async () => {
    const bs = await backends(echo, echo);
    const { proxy, port } = await proxyFor(bs);
    const clients = await Promise.all(Array.from({ length: 50 }, () => Client.open(port)));
    let bytes = 0;
    let mismatches = 0;
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 200; j++) {
          const payload = Buffer.concat([Buffer.from(`c${i}-r${j}-`), crypto.randomBytes(1 + ((i * 200 + j) % 700))]);
          bytes += payload.length;
          c.send(payload);
          if (!(await c.next()).equals(payload)) mismatches++;
        }
      }),
    );
    expect(mismatches).toBe(0);
    expect(proxy.datagramsIn).toBe(10_000);
    expect(proxy.datagramsOut).toBe(10_000);
    expect(proxy.bytesIn).toBe(bytes);
    expect(proxy.bytesOut).toBe(bytes);
    expect(proxy.dropped).toEqual(zeroDrops);
    expect(proxy.sessions.size).toBe(50);
    expect(proxy.sessionsTotal).toBe(50);
    expect(bs[0].total + bs[1].total).toBe(50);
    expect(bs[0].active + bs[1].active).toBe(50);
    expect(bs[0].bytesIn + bs[1].bytesIn).toBe(bytes);
    expect(bs[0].bytesOut + bs[1].bytesOut).toBe(bytes);
    expect(clients.every((c) => c.inbox.length === 0)).toBe(true);
  }, 30_000);

  test('idle expiry closes the upstream socket and frees the session', async () => {
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b], { idleTimeout: 200, sweepInterval: 50 });
    const clients = await Promise.all(Array.from({ length: 5 }, () => Client.open(port)));
    const baseline = fdCount();
    for (const c of clients) expect(await c.request('hello')).toBe('hello');
    expect(proxy.sessions.size).toBe(5);
    expect(b.active).toBe(5);
    expect(fdCount()).toBeGreaterThanOrEqual(baseline + 5);
    await until(() => proxy.sessions.size === 0);
    expect(b.active).toBe(0);
    expect(b.total).toBe(5);
    expect(proxy.sessionTime.count).toBe(5);
    await until(() => fdCount() === baseline);
    expect(fdCount()).toBe(baseline);
    // The client comes back: a new session.
    expect(await clients[0].request('again')).toBe('again');
    expect(b.total).toBe(6);
  });

  test('maxSessions: a new client beyond the cap is dropped and counted; live sessions go on', async () => {
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b], { maxSessions: 2 });
    const [x, y, z] = [await Client.open(port), await Client.open(port), await Client.open(port)];
    expect(await x.request('x1')).toBe('x1');
    expect(await y.request('y1')).toBe('y1');
    z.send('z1');
    await until(() => proxy.dropped.max_sessions === 1);
    expect(await x.request('x2')).toBe('x2');
    expect(await y.request('y2')).toBe('y2');
    expect(z.inbox).toHaveLength(0);
    expect(proxy.sessions.size).toBe(2);
    expect(b.total).toBe(2);
  });

  test('maxSessionsPerSource: a third port of one IP is dropped; another IP is served', async () => {
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b], { maxSessionsPerSource: 2 });
    const [a1, a2, a3] = [await Client.open(port), await Client.open(port), await Client.open(port)];
    const other = await Client.open(port, '127.0.0.2');
    expect(await a1.request('a1')).toBe('a1');
    expect(await a2.request('a2')).toBe('a2');
    a3.send('a3');
    await until(() => proxy.dropped.max_sessions_per_source === 1);
    expect(await other.request('other')).toBe('other');
    expect(await a1.request('a1 again')).toBe('a1 again');
    expect(a3.inbox).toHaveLength(0);
    expect(proxy.sessions.size).toBe(3);
    expect(proxy.dropped.max_sessions).toBe(0);
  });

  test('oversize datagrams are dropped and counted in both directions', async () => {
    const triple: Handler = (msg, rinfo, s) => s.send(Buffer.concat([msg, msg, msg]), rinfo.port, rinfo.address);
    const [e, t] = await backends(echo, triple);
    const { proxy, port } = await proxyFor([e], { maxDatagram: 100 });
    const c = await Client.open(port);
    c.send(Buffer.alloc(200, 1));
    const small = crypto.randomBytes(50);
    c.send(small);
    // FIFO on loopback: the first reply is the small one, so the 200 bytes were not forwarded.
    expect((await c.next()).equals(small)).toBe(true);
    expect(proxy.dropped.oversize).toBe(1);
    expect(proxy.datagramsIn).toBe(2);
    expect(e.bytesIn).toBe(50);

    const out = await proxyFor([t], { maxDatagram: 100 });
    const d = await Client.open(out.port);
    d.send(Buffer.alloc(50, 2)); // 150-byte reply: dropped
    expect(await d.request('0123456789')).toBe('012345678901234567890123456789');
    expect(out.proxy.dropped.oversize).toBe(1);
    expect(out.proxy.datagramsOut).toBe(1);
  });

  test('responses: 1 frees the session after one reply', async () => {
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b], { responses: 1 });
    const c = await Client.open(port);
    expect(await c.request('q1')).toBe('q1');
    await until(() => proxy.sessions.size === 0);
    expect(b.active).toBe(0);
    expect(b.total).toBe(1);
    expect(proxy.sessionTime.count).toBe(1);
    expect(await c.request('q2')).toBe('q2');
    await until(() => proxy.sessions.size === 0);
    expect(b.total).toBe(2);
    expect(b.active).toBe(0);
  });

  test('maxReplyRatio drops replies beyond ratio x request bytes, and counts them', async () => {
    const tenfold: Handler = (msg, rinfo, s) => s.send(Buffer.alloc(msg.length * 10, 7), rinfo.port, rinfo.address);
    const tenReplies: Handler = (msg, rinfo, s) => {
      for (let i = 0; i < 10; i++) s.send(Buffer.from(`${i}`.padStart(msg.length, '.')), rinfo.port, rinfo.address);
    };
    const [big, many] = await backends(tenfold, tenReplies);

    const one = await proxyFor([big], { maxReplyRatio: 2 });
    const c = await Client.open(one.port);
    c.send(Buffer.alloc(10));
    await until(() => one.proxy.dropped.reply_ratio === 1);
    expect(one.proxy.datagramsOut).toBe(0);
    expect(big.bytesOut).toBe(0);

    const two = await proxyFor([many], { maxReplyRatio: 2 });
    const d = await Client.open(two.port);
    d.send('abcd');
    await until(() => two.proxy.dropped.reply_ratio === 8);
    await until(() => d.inbox.length === 2);
    expect(two.proxy.datagramsOut).toBe(2);
    expect(two.proxy.bytesOut).toBe(8);
    expect(c.inbox).toHaveLength(0);
  });

  test('by default a client that sent one datagram gets at most 3x its bytes back; a second datagram proves its address', async () => {
    expect.assertions(5);
    // One request draws ten 100-byte replies (a 40-byte query drew 93 KB in issue 11 item 5).
    const burst: Handler = (msg, rinfo, s) => {
      for (let i = 0; i < 10; i++) s.send(Buffer.alloc(100, i), rinfo.port, rinfo.address);
    };
    const [b] = await backends(burst);
    const { proxy, port } = await proxyFor([b]);
    const c = await Client.open(port);
    c.send(Buffer.alloc(40));
    await until(() => proxy.dropped.amplification === 9);
    expect(c.inbox).toHaveLength(1); // 100 bytes fit in 3 x 40; a second would not
    c.send(Buffer.alloc(40));
    await until(() => c.inbox.length === 11);
    expect(proxy.dropped.amplification).toBe(9);
    expect(proxy.bytesOut).toBe(1100);

    const off = await proxyFor([b], { amplificationLimit: 0 });
    const d = await Client.open(off.port);
    d.send(Buffer.alloc(40));
    await until(() => d.inbox.length === 10);
    expect(off.proxy.dropped.amplification).toBe(0);
    expect(off.proxy.bytesOut).toBe(1000);
  });

  test('reassign: a backend marked down moves its clients on their next datagram', async () => {
    const bs = await backends(tagged('b0'), tagged('b1'));
    const { proxy, port, balancer } = await proxyFor(bs);
    const c = await Client.open(port);
    const first = tagOf(await c.request('one'));
    const down = bs.find((b) => b.name === first)!;
    const up = bs.find((b) => b !== down)!;

    down.health |= HealthFlag.FailedActiveCheck;
    balancer.rebuild([up]);
    expect(proxy.backendDown(down)).toBe(1);
    expect(proxy.sessions.size).toBe(1); // nothing closed yet
    expect(await c.request('two')).toBe(`${up.name}|two`);
    expect(down.active).toBe(0);
    expect(up.active).toBe(1);
    expect(up.total).toBe(1);
    expect(proxy.sessionsTotal).toBe(1);

    // Marked down by its health flags alone (no backendDown call): detected on the next datagram.
    down.health = 0;
    up.health |= HealthFlag.FailedPassiveCheck;
    balancer.rebuild([down]);
    expect(await c.request('three')).toBe(`${down.name}|three`);
    expect(up.active).toBe(0);
    expect(down.active).toBe(1);
    expect(proxy.sessions.size).toBe(1);
  });

  test('a draining backend keeps its sessions (only new ones go elsewhere)', async () => {
    const bs = await backends(tagged('b0'), tagged('b1'));
    const { port, balancer } = await proxyFor(bs);
    const c = await Client.open(port);
    const first = tagOf(await c.request('one'));
    const draining = bs.find((b) => b.name === first)!;
    draining.health |= HealthFlag.Draining;
    balancer.rebuild(bs.filter((b) => b !== draining));
    expect(await c.request('two')).toBe(`${first}|two`);
    const d = await Client.open(port);
    expect(tagOf(await d.request('new'))).not.toBe(first);
  });

  test("onBackendDown 'drop': the sessions of a down backend are closed at once", async () => {
    const bs = await backends(tagged('b0'), tagged('b1'));
    const { proxy, port, balancer } = await proxyFor(bs, { onBackendDown: 'drop' });
    const c = await Client.open(port);
    const first = tagOf(await c.request('one'));
    const down = bs.find((b) => b.name === first)!;
    const up = bs.find((b) => b !== down)!;
    down.health |= HealthFlag.FailedActiveCheck;
    balancer.rebuild([up]);
    expect(proxy.backendDown(down)).toBe(1);
    expect(proxy.sessions.size).toBe(0);
    expect(down.active).toBe(0);
    expect(proxy.sessionTime.count).toBe(1);
    expect(await c.request('two')).toBe(`${up.name}|two`);
    expect(proxy.sessionsTotal).toBe(2);
  });

  test('no usable backend: the datagram is dropped and counted', async () => {
    const { proxy, port } = await proxyFor([]);
    const c = await Client.open(port);
    c.send('anyone?');
    await until(() => proxy.dropped.no_backend === 1);
    expect(proxy.sessions.size).toBe(0);
  });

  test('source-hash: after expiry every client returns to the same backend', async () => {
    const bs = await backends(tagged('b0'), tagged('b1'), tagged('b2'));
    const { proxy, port } = await proxyFor(bs, { idleTimeout: 200, sweepInterval: 50 }, new MaglevBalancer());
    const ips = Array.from({ length: 12 }, (_, i) => `127.0.0.${10 + i}`);
    const before: string[] = [];
    for (const ip of ips) before.push(tagOf(await (await Client.open(port, ip)).request('hi')));
    expect(new Set(before).size).toBeGreaterThan(1);
    await until(() => proxy.sessions.size === 0);
    const after: string[] = [];
    for (const ip of ips) after.push(tagOf(await (await Client.open(port, ip)).request('hi again')));
    expect(after).toEqual(before);
    expect(proxy.sessionsTotal).toBe(24);
  });

  test('an unreachable backend port (ICMP) counts failures on the backend; the table stays', async () => {
    expect.assertions(4);
    const dead = mkBackend(await refusedUdpPort(), 'dead');
    const failures: Backend[] = [];
    const { proxy, port } = await proxyFor([dead], { onBackendFailure: (b) => failures.push(b) });
    const c = await Client.open(port);
    c.send('ping');
    await until(() => dead.connectFailures >= 1);
    c.send('ping again');
    await until(() => dead.connectFailures >= 2);
    expect(dead.consecutiveFailures).toBe(dead.connectFailures);
    expect(failures.length).toBe(dead.connectFailures);
    expect(new Set(failures)).toEqual(new Set([dead]));
    expect(proxy.sessions.size).toBe(1);
  });

  test('a backend whose connect fails at once (bad port) closes the session and counts the datagram', async () => {
    const bad = mkBackend(0, 'bad');
    const { proxy, port } = await proxyFor([bad]);
    const c = await Client.open(port);
    c.send('x');
    await until(() => proxy.dropped.send_error === 1);
    expect(proxy.sessions.size).toBe(0);
    expect(bad.active).toBe(0);
    expect(bad.connectFailures).toBe(1);
    expect(await proxy.whenIdle()).toBeUndefined();
  });

  test('datagrams that arrive before the upstream socket connects are queued (bounded) or counted', async () => {
    // A host name makes dgram's connect wait for a threadpool lookup, so the burst (already in the
    // kernel buffer, read in one batch) arrives while the session is still connecting.
    const { port: ep } = await udpServer(echo);
    const b = new Backend({ address: { host: 'localhost', port: ep, family: 4, text: `localhost:${ep}` }, name: 'b', weight: 1, backup: false, maxConnections: 0 });
    const { proxy, port } = await proxyFor([b]);
    const c = await Client.open(port);
    for (let i = 0; i < 40; i++) c.send(`m${i}`);
    await until(() => proxy.datagramsOut + proxy.dropped.queue_full === 40);
    expect(proxy.datagramsIn).toBe(40);
    expect(proxy.datagramsOut).toBeGreaterThanOrEqual(MAX_PENDING);
    expect(proxy.dropped.queue_full).toBeGreaterThan(0);
    await until(() => c.inbox.length === proxy.datagramsOut);
    // The queued ones went first and in order.
    expect(c.inbox.slice(0, MAX_PENDING).map(String)).toEqual(Array.from({ length: MAX_PENDING }, (_, i) => `m${i}`));
  });

  test('whenIdle, abortAll and stopAccepting close sessions and free the backend', async () => {
    expect.assertions(9);
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b]);
    const clients = await Promise.all(Array.from({ length: 3 }, () => Client.open(port)));
    for (const c of clients) await c.request('x');
    let idle = false;
    const waited = proxy.whenIdle().then(() => (idle = true));
    expect(idle).toBe(false);
    proxy.abortAll();
    await waited;
    expect(idle).toBe(true);
    expect(b.active).toBe(0);
    expect(proxy.listening).toBe(true);
    expect(await clients[0].request('y')).toBe('y');
    proxy.stopAccepting();
    expect(proxy.listening).toBe(false);
    expect(proxy.sessions.size).toBe(0);
    expect(b.active).toBe(0);
    await expect(proxy.whenIdle()).resolves.toBeUndefined();
  });

  test('closeBackendSessions closes only that backend\'s sessions', async () => {
    const bs = await backends(echo, echo);
    const { proxy, port } = await proxyFor(bs);
    for (let i = 0; i < 4; i++) await (await Client.open(port)).request('x');
    expect(bs[0].active).toBe(2);
    expect(proxy.closeBackendSessions(bs[0], 'backend_disabled')).toBe(2);
    expect(bs[0].active).toBe(0);
    expect(bs[1].active).toBe(2);
    expect(proxy.sessions.size).toBe(2);
  });

  test('an IPv6 listener ([::1]) fronts an IPv4 backend', async () => {
    const [b] = await backends(echo);
    const balancer = new RoundRobinBalancer();
    balancer.rebuild([b]);
    const proxy = udpProxy('v6', balancer);
    proxies.push(proxy);
    const bound = await proxy.listen({ host: '::1', port: 0, family: 6, text: '[::1]:0' });
    expect(bound.text).toBe(`[::1]:${bound.port}`);
    const c = dgram.createSocket('udp6');
    sockets.push(c);
    await new Promise<void>((r) => c.bind(0, '::1', () => r()));
    const reply = new Promise<Buffer>((r) => c.once('message', r));
    c.send('over v6', bound.port, '::1');
    expect((await reply).toString()).toBe('over v6');
    expect([...proxy.sessions.keys()]).toEqual([`::1:${c.address().port}`]);
  });

  test('listen on a taken port fails with ERR_FULCRUM_LISTEN', async () => {
    const { port } = await proxyFor([]);
    const second = udpProxy('dup', new RoundRobinBalancer());
    await expect(second.listen(at(port))).rejects.toMatchObject({ code: 'ERR_FULCRUM_LISTEN' });
  });

  test('the access log counts replies whether or not udp.responses is set', async () => {
    expect.assertions(1);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const [b] = await backends(echo);
    const { proxy, port } = await proxyFor([b], { log: pino({ level: 'info' }, sink), logConnections: true });
    const c = await Client.open(port);
    for (const q of ['a', 'b', 'c']) await c.request(q);
    proxy.abortAll();
    await until(() => lines.some((l) => l.includes('udp session closed')));
    const line = JSON.parse(lines.find((l) => l.includes('udp session closed'))!);
    expect(line).toMatchObject({ result: 'aborted', bytesIn: 3, bytesOut: 3, replies: 3 });
  });

  test('socket buffer sizes are read back; a capped request logs a warning', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = pino({ level: 'warn' }, sink);
    const { proxy } = await proxyFor([], { recvBufferSize: 1 << 30, sendBufferSize: 64 * 1024, log });
    expect(proxy.recvBufferSize).toBeGreaterThan(0);
    expect(proxy.recvBufferSize!).toBeLessThan(1 << 30);
    expect(proxy.sendBufferSize!).toBeGreaterThanOrEqual(64 * 1024);
    await until(() => lines.length > 0);
    expect(lines.some((l) => l.includes('receive buffer smaller than requested'))).toBe(true);
    expect(lines.some((l) => l.includes('send buffer'))).toBe(false);
  });
});

describe('udpProbe', () => {
  test('an echo socket answers: ok, with a latency', async () => {
    expect.assertions(3);
    const { port } = await udpServer(echo);
    const before = fdCount();
    const result = await udpProbe(at(port), Buffer.from('ping'), 'any', 1000);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.ms).toBeGreaterThanOrEqual(0);
    expect(await udpProbe(at(port), Buffer.from('ping'), Buffer.from('pi'), 1000)).toMatchObject({ ok: true });
    await until(() => fdCount() === before);
  });

  test('a reply that does not start with the expected bytes is not ok', async () => {
    const { port } = await udpServer(echo);
    expect(await udpProbe(at(port), Buffer.from('ping'), Buffer.from('pong'), 1000)).toEqual({ ok: false, reason: 'unexpected reply' });
    expect(await udpProbe(at(port), Buffer.from('p'), Buffer.from('ping'), 1000)).toEqual({ ok: false, reason: 'unexpected reply' });
  });

  test('a port with nothing listening is not ok (ECONNREFUSED or timeout)', async () => {
    expect.assertions(2);
    const before = fdCount();
    const result = await udpProbe(at(await refusedUdpPort()), Buffer.from('ping'), 'any', 500);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(['ECONNREFUSED', 'timeout']).toContain(result.reason);
    await until(() => fdCount() === before);
  });

  test('a silent backend times out', async () => {
    const { port } = await udpServer(() => {});
    expect(await udpProbe(at(port), Buffer.from('ping'), 'any', 100)).toEqual({ ok: false, reason: 'timeout' });
  });
});
