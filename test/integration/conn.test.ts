import crypto from 'node:crypto';
import net from 'node:net';
import type { Connection, ConnectionEvents, ConnectionListener, DataPlaneFactory } from '../../src/proxy/conn/connection';
import { chooseDataPlane, currentDataPlane, handleDataPlane, netDataPlane, probeBehaviour } from '../../src/proxy/conn/probe';
import { loadBindings, useBindings } from '../../src/proxy/conn/handle-connection';
import { close, fdCount, listen, refusedPort } from '../helpers/net';

/**
 * The connection interface, the same tests for both implementations, with
 * real sockets on loopback: one side is the implementation under test, the
 * other a plain net.Socket (or the implementation itself).
 */

const bindings = loadBindings();
if (bindings !== null) useBindings(bindings);

/** What happened on one connection, in order. */
class Rec {
  chunks: Buffer[] = [];
  log: string[] = [];
  error: NodeJS.ErrnoException | null = null;
  drains = 0;
  private waiters: Array<{ what: string; resolve: () => void }> = [];
  onRead: ((conn: Connection, n: number, buffer: Buffer) => void) | null = null;
  onEnd: ((conn: Connection) => void) | null = null;
  onDrain: ((conn: Connection) => void) | null = null;

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  note(what: string): void {
    this.log.push(what);
    this.waiters = this.waiters.filter((w) => (w.what === what ? (w.resolve(), false) : true));
  }
  when(what: string): Promise<void> {
    if (this.log.includes(what)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ what, resolve }));
  }
}

const rec = (conn: Connection): Rec => conn.owner as Rec;

const events: ConnectionEvents = {
  connect: (c) => rec(c).note('connect'),
  end: (c) => {
    rec(c).note('end');
    rec(c).onEnd?.(c);
  },
  error: (c, err) => {
    rec(c).error = err;
    rec(c).note('error');
  },
  drain: (c) => {
    rec(c).drains++;
    rec(c).note('drain');
    rec(c).onDrain?.(c);
  },
  close: (c) => rec(c).note('close'),
};

function collect(conn: Connection, n: number, buffer: Buffer): void {
  const r = rec(conn);
  r.chunks.push(Buffer.from(buffer.subarray(0, n)));
  r.note('data');
  r.onRead?.(conn, n, buffer);
}

/** A listener of `plane` whose accepted connections are recorded (not reading until told). */
async function server(plane: DataPlaneFactory): Promise<{ listener: ConnectionListener; port: number; accepted: () => Promise<Connection> }> {
  const queue: Connection[] = [];
  const waiting: Array<(c: Connection) => void> = [];
  const listener = plane.listener(
    {
      connection(conn) {
        conn.owner = new Rec();
        const w = waiting.shift();
        if (w !== undefined) w(conn);
        else queue.push(conn);
      },
      error(err) {
        throw err;
      },
    },
    events,
  );
  const bound = await listener.listen({ host: '127.0.0.1', port: 0 });
  const accepted = (): Promise<Connection> => {
    const c = queue.shift();
    return c !== undefined ? Promise.resolve(c) : new Promise((resolve) => waiting.push(resolve));
  };
  return { listener, port: bound.port, accepted };
}

function dial(plane: DataPlaneFactory, port: number): Connection {
  return plane.connect({ host: '127.0.0.1', port }, events, new Rec());
}

function netClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

function socketEnded(s: net.Socket): Promise<void> {
  return new Promise((resolve) => (s.readableEnded ? resolve() : s.once('end', () => resolve())));
}
function socketClosed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
}
function readAll(s: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return socketEnded(s).then(() => Buffer.concat(parts));
}
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function settleFds(baseline: number): Promise<number> {
  for (let i = 0; i < 50 && fdCount() > baseline; i++) await delay(20);
  return fdCount();
}

/** An echo with explicit backpressure: what the session does, on one connection. */
function echo(conn: Connection): void {
  const r = rec(conn);
  r.onDrain = (c) => c.resume();
  r.onEnd = (c) => c.shutdown();
  conn.readStart((c, n, buffer) => {
    collect(c, n, buffer);
    if (!c.write(buffer, 0, n, false)) c.pause();
  });
}

const planes: DataPlaneFactory[] = [netDataPlane, ...(bindings !== null ? [handleDataPlane] : [])];

test('the handle bindings load and pass the behaviour probe on this Node', async () => {
  expect(bindings).not.toBeNull();
  expect(await probeBehaviour(handleDataPlane)).toBeNull();
  expect(await probeBehaviour(netDataPlane)).toBeNull();
});

test('FULCRUM_DATAPLANE=net forces net; otherwise the probe picks handle; /status reads the last choice', async () => {
  const saved = process.env.FULCRUM_DATAPLANE;
  try {
    process.env.FULCRUM_DATAPLANE = 'net';
    const forced = await chooseDataPlane();
    expect(forced.kind).toBe('net');
    expect(forced.reason).toMatch(/FULCRUM_DATAPLANE/);
    expect(currentDataPlane()).toBe('net');
    delete process.env.FULCRUM_DATAPLANE;
    const probed = await chooseDataPlane();
    expect(probed.kind).toBe('handle');
    expect(probed.factory).toBe(handleDataPlane);
    expect(currentDataPlane()).toBe('handle');
  } finally {
    if (saved === undefined) delete process.env.FULCRUM_DATAPLANE;
    else process.env.FULCRUM_DATAPLANE = saved;
  }
});

describe.each(planes.map((p) => [p.kind, p] as const))('data plane %s', (_kind, plane) => {
  let baseline = 0;
  beforeEach(() => {
    baseline = fdCount();
  });
  afterEach(async () => {
    expect(await settleFds(baseline)).toBe(baseline);
  });

  test('echo: accepted and dialled connections carry bytes, FIN and close; addresses, fd and counters are right', async () => {
    const srv = await server(plane);
    const client = dial(plane, srv.port);
    await rec(client).when('connect');
    const accepted = await srv.accepted();
    echo(accepted);
    expect(accepted.remoteAddress).toBe('127.0.0.1');
    expect(accepted.remotePort).toBe(client.localPort);
    expect(accepted.localPort).toBe(srv.port);
    expect(client.remotePort).toBe(srv.port);
    expect(accepted.fd).toBeGreaterThan(2);
    expect(client.fd).toBeGreaterThan(2);
    client.readStart(collect);
    const msg = Buffer.from('hello, fulcrum');
    expect(client.write(msg, 0, msg.length, true)).toBe(true);
    await rec(client).when('data');
    client.shutdown();
    expect(client.ended).toBe(true);
    await rec(client).when('end');
    await Promise.all([rec(client).when('close'), rec(accepted).when('close')]);
    expect(rec(client).bytes.toString()).toBe('hello, fulcrum');
    expect(rec(accepted).bytes.toString()).toBe('hello, fulcrum');
    expect(rec(client).error).toBeNull();
    expect(rec(accepted).error).toBeNull();
    expect(rec(accepted).log.filter((e) => e === 'close')).toHaveLength(1);
    expect(client.bytesWritten).toBe(msg.length);
    expect(client.bytesRead).toBe(msg.length);
    expect(accepted.bytesRead).toBe(msg.length);
    expect(client.closed && accepted.closed).toBe(true);
    await srv.listener.close();
  });

  test('large transfer both ways through an accepted connection, with backpressure: hashes match', async () => {
    const srv = await server(plane);
    const data = crypto.randomBytes(8 * 1024 * 1024 + 123);
    const s = await netClient(srv.port);
    const accepted = await srv.accepted();
    echo(accepted);
    const back = readAll(s);
    s.end(data);
    const got = await back;
    await Promise.all([socketClosed(s), rec(accepted).when('close')]);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    expect(sha(rec(accepted).bytes)).toBe(sha(data));
    expect(accepted.bytesWritten).toBe(data.length);
    await srv.listener.close();
  });

  test('large transfer both ways through a dialled connection (owned writes, drain-paced): hashes match', async () => {
    const peer = net.createServer({ allowHalfOpen: true }, (sock) => {
      sock.on('error', () => {});
      sock.pipe(sock);
    });
    const port = await listen(peer);
    const data = crypto.randomBytes(6 * 1024 * 1024 + 7);
    const client = dial(plane, port);
    await rec(client).when('connect');
    client.readStart(collect);
    let off = 0;
    let queuedSeen = false;
    const pump = (): void => {
      while (off < data.length) {
        const end = Math.min(off + 256 * 1024, data.length);
        const ok = client.write(data, off, end, true);
        off = end;
        if (!ok) {
          queuedSeen = true;
          expect(client.queued).toBeGreaterThan(0);
          return;
        }
      }
      client.shutdown();
    };
    rec(client).onDrain = pump;
    pump();
    await rec(client).when('close');
    expect(rec(client).error).toBeNull();
    expect(queuedSeen).toBe(true);
    expect(sha(rec(client).bytes)).toBe(sha(data));
    await close(peer);
  });

  test('half-close, client first: the server still writes after the client FIN', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    rec(accepted).onEnd = (c) => {
      const late = Buffer.from('late reply');
      c.write(late, 0, late.length, true);
      c.shutdown();
    };
    const back = readAll(s);
    s.end('question');
    expect((await back).toString()).toBe('late reply');
    await Promise.all([socketClosed(s), rec(accepted).when('close')]);
    expect(rec(accepted).bytes.toString()).toBe('question');
    expect(rec(accepted).log).toEqual(['data', 'end', 'close']);
    await srv.listener.close();
  });

  test('half-close, server first: the client still writes after the server FIN', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    const bye = Buffer.from('bye');
    accepted.write(bye, 0, bye.length, true);
    accepted.shutdown();
    const got = await readAll(s);
    expect(got.toString()).toBe('bye');
    s.end('after your FIN');
    await Promise.all([socketClosed(s), rec(accepted).when('close')]);
    expect(rec(accepted).bytes.toString()).toBe('after your FIN');
    expect(rec(accepted).log).toEqual(['data', 'end', 'close']);
    await srv.listener.close();
  });

  test('half-close on a dialled connection both ways', async () => {
    const peer = net.createServer({ allowHalfOpen: true }, (sock) => {
      sock.on('error', () => {});
      const parts: Buffer[] = [];
      sock.on('data', (d: Buffer) => parts.push(d));
      sock.on('end', () => sock.end(Buffer.concat([Buffer.from('got '), ...parts])));
    });
    const port = await listen(peer);
    const client = dial(plane, port);
    client.readStart(collect);
    await rec(client).when('connect');
    const q = Buffer.from('x'.repeat(1000));
    client.write(q, 0, q.length, false);
    client.shutdown();
    await rec(client).when('close');
    expect(rec(client).bytes.toString()).toBe('got ' + 'x'.repeat(1000));
    expect(rec(client).log).toEqual(['connect', 'data', 'end', 'close']);
    await close(peer);
  });

  test('a reset from the peer is an ECONNRESET error, not an end', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    s.on('error', () => {});
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    s.write('some bytes');
    await rec(accepted).when('data');
    s.resetAndDestroy();
    await rec(accepted).when('close');
    expect(rec(accepted).error?.code).toBe('ECONNRESET');
    expect(rec(accepted).log).not.toContain('end');
    await srv.listener.close();
  });

  test('a reset behind unread data (side not reading) is still an error, not an end', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    s.on('error', () => {});
    const accepted = await srv.accepted();
    s.write('data then reset');
    await delay(30);
    s.resetAndDestroy();
    await delay(30);
    accepted.readStart(collect);
    await rec(accepted).when('close');
    expect(rec(accepted).error?.code).toBe('ECONNRESET');
    expect(rec(accepted).log).not.toContain('end');
    await srv.listener.close();
  });

  test('reset() sends RST: the peer sees ECONNRESET', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    const err = new Promise<NodeJS.ErrnoException>((resolve) => s.once('error', resolve));
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    s.write('x');
    await rec(accepted).when('data');
    accepted.reset();
    expect((await err).code).toBe('ECONNRESET');
    await Promise.all([socketClosed(s), rec(accepted).when('close')]);
    expect(rec(accepted).error).toBeNull();
    await srv.listener.close();
  });

  test('probeReset(): a reset on a paused side is found and becomes its error', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    s.on('error', () => {});
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    accepted.pause();
    expect(accepted.paused).toBe(true);
    expect(accepted.probeReset()).toBe(false);
    s.resetAndDestroy();
    await delay(30);
    expect(accepted.probeReset()).toBe(true);
    await rec(accepted).when('close');
    expect(rec(accepted).error?.code).toMatch(/ECONNRESET|EPIPE/);
    await srv.listener.close();
  });

  test('backpressure: a peer that does not read makes write() report queued; drain comes once it reads', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    s.pause();
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    const chunk = crypto.randomBytes(64 * 1024);
    let sent = 0;
    let ok = true;
    for (let i = 0; i < 1000 && ok; i++) {
      ok = accepted.write(chunk, 0, chunk.length, true);
      sent += chunk.length;
    }
    expect(ok).toBe(false);
    expect(accepted.queued).toBeGreaterThan(0);
    expect(rec(accepted).drains).toBe(0);
    await delay(50);
    expect(rec(accepted).drains).toBe(0);
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    s.resume();
    await rec(accepted).when('drain');
    expect(rec(accepted).drains).toBe(1);
    expect(accepted.queued).toBe(0);
    accepted.shutdown();
    await socketEnded(s);
    expect(received).toBe(sent);
    s.end();
    await rec(accepted).when('close');
    await srv.listener.close();
  });

  test('pause() stops reads until resume()', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    accepted.pause();
    s.write('while paused');
    await delay(50);
    expect(rec(accepted).chunks).toHaveLength(0);
    accepted.resume();
    await rec(accepted).when('data');
    expect(rec(accepted).bytes.toString()).toBe('while paused');
    s.end();
    await rec(accepted).when('end');
    accepted.close();
    await Promise.all([socketClosed(s), rec(accepted).when('close')]);
    await srv.listener.close();
  });

  test('a host name is resolved (the handle plane hands it to net)', async () => {
    const peer = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.end('hi');
    });
    const port = await listen(peer);
    const client = plane.connect({ host: 'localhost', port, family: 4 }, events, new Rec());
    client.readStart(collect);
    await rec(client).when('end');
    expect(rec(client).bytes.toString()).toBe('hi');
    client.close();
    await rec(client).when('close');
    await close(peer);
  });

  test('connect refused: an ECONNREFUSED error, no connect, one close', async () => {
    const port = await refusedPort();
    const client = dial(plane, port);
    expect(client.connecting).toBe(true);
    await rec(client).when('close');
    expect(rec(client).error?.code).toBe('ECONNREFUSED');
    expect(rec(client).log).toEqual(['error', 'close']);
  });

  test('close() and reset() while connecting: one close, no error, no connect', async () => {
    const peer = net.createServer((sock) => sock.on('error', () => {}));
    const port = await listen(peer);
    const a = dial(plane, port);
    const b = dial(plane, port);
    a.close();
    b.reset();
    await Promise.all([rec(a).when('close'), rec(b).when('close')]);
    await delay(20);
    expect(rec(a).log).toEqual(['close']);
    expect(rec(b).log).toEqual(['close']);
    await close(peer);
  });

  test('reset() while a shutdown waits behind queued bytes (libuv refuses the reset): one close, descriptors released', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    s.pause();
    s.on('error', () => {});
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    const chunk = Buffer.alloc(256 * 1024, 1);
    while (accepted.write(chunk, 0, chunk.length, false));
    accepted.shutdown(); // in flight until the queue drains, which it cannot: the peer does not read
    accepted.reset();
    await rec(accepted).when('close');
    expect(rec(accepted).log.filter((e) => e === 'close')).toHaveLength(1);
    s.destroy();
    await socketClosed(s);
    await srv.listener.close();
  });

  test('close() with bytes queued: one close, descriptors released', async () => {
    const srv = await server(plane);
    const s = await netClient(srv.port);
    s.pause();
    s.on('error', () => {});
    const accepted = await srv.accepted();
    accepted.readStart(collect);
    const chunk = Buffer.alloc(256 * 1024, 1);
    while (accepted.write(chunk, 0, chunk.length, false));
    accepted.close();
    await rec(accepted).when('close');
    expect(rec(accepted).log.filter((e) => e === 'close')).toHaveLength(1);
    s.destroy();
    await socketClosed(s);
    await srv.listener.close();
  });
});
