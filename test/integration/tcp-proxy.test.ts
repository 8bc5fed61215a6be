import crypto from 'node:crypto';
import net from 'node:net';
import { start, type FulcrumHandle } from '../../src/index';
import { backend, fulcrumConfig, tcpService, timeouts } from '../helpers/config';
import { close, connect, echoServer, listen, readAll, refusedPort, sleep, until } from '../helpers/net';
import { useDataPlaneMode } from '../helpers/dataplane-mode';
import { useSpliceMode } from '../helpers/splice-mode';

const handles: FulcrumHandle[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all(servers.splice(0).map((s) => close(s)));
});

async function run(service: Parameters<typeof tcpService>[0], extra: Parameters<typeof tcpService>[1] = {}) {
  const h = await start(fulcrumConfig([tcpService(service, extra)]));
  handles.push(h);
  const svc = h.manager.services[0];
  return { h, svc, port: h.addresses.get('svc')!.port };
}

async function echo() {
  const e = await echoServer();
  servers.push(e.server);
  return e;
}

function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

// The byte path runs three times: libuv handles (the default where the probe passes), and net.Socket
// with its shared-buffer splice and with 'data' events (FULCRUM_SPLICE=off).
describe.each([
  ['handle', 'on'],
  ['net', 'on'],
  ['net', 'off'],
])('data plane %s, splice %s', (mode, splice) => {
  useDataPlaneMode(mode);
  useSpliceMode(splice);

  test('the session uses the path asked for, and /status says which', async () => {
    const e = await echo();
    const { h, port, svc } = await run([backend(e.port)]);
    const client = await connect(port);
    client.write('x');
    await new Promise((r) => client.once('data', r));
    const session = [...svc.tcp!.sessions][0];
    expect(session.client.kind).toBe(mode);
    expect(session.upstream!.kind).toBe(mode);
    expect(h.manager.status().dataPlane).toBe(mode);
    client.destroy();
  });

  test('64 MiB each way arrive byte-exact (echo through the proxy, checked by hash)', async () => {
    const e = await echo();
    const { port, svc } = await run([backend(e.port)]);
    const payload = crypto.randomBytes(64 * 1024 * 1024);
    const client = await connect(port);
    const received = readAll(client);
    client.end(payload);
    const got = await received;
    expect(got.length).toBe(payload.length);
    expect(sha256(got)).toBe(sha256(payload));
    await until(() => svc.proxy.sessions.size === 0);
    const b = svc.pool.backends[0];
    expect(b.bytesIn).toBe(payload.length);
    expect(b.bytesOut).toBe(payload.length);
    expect(b.total).toBe(1);
    expect(b.active).toBe(0);
  });

  test('half-close: a client that shuts its write side still gets a late reply', async () => {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      const chunks: Buffer[] = [];
      s.on('data', (c) => chunks.push(c));
      // Reply only after the request is complete (FIN seen), and late.
      s.on('end', () => setTimeout(() => s.end(Buffer.concat([Buffer.from('reply to '), ...chunks])), 150));
    });
    servers.push(server);
    const bport = await listen(server);
    const { port } = await run([backend(bport)]);
    const client = await connect(port);
    const reply = readAll(client);
    client.end('request');
    expect((await reply).toString()).toBe('reply to request');
  });

  test('a reset from the client reaches the backend as a reset', async () => {
    expect.assertions(1);
    let backendErr!: (code: string) => void;
    const seen = new Promise<string>((r) => (backendErr = r));
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', (err: NodeJS.ErrnoException) => backendErr(err.code ?? 'none'));
      s.on('end', () => backendErr('FIN'));
      s.on('data', () => {});
    });
    servers.push(server);
    const { port } = await run([backend(await listen(server))]);
    const client = await connect(port);
    client.write('hello');
    await sleep(50);
    client.resetAndDestroy();
    expect(await seen).toBe('ECONNRESET');
  });

  test('a reset from the backend reaches the client as a reset', async () => {
    expect.assertions(1);
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.once('data', () => s.resetAndDestroy());
    });
    servers.push(server);
    const { port } = await run([backend(await listen(server))]);
    const client = await connect(port);
    const outcome = new Promise<string>((resolve) => {
      client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'none'));
      client.on('end', () => resolve('FIN'));
      client.on('data', () => {});
    });
    client.write('trigger');
    expect(await outcome).toBe('ECONNRESET');
  });

  test('a client that sends and resets at once: the backend gets a reset, not a FIN', async () => {
    expect.assertions(2);
    const endings: string[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      let code: string | null = null;
      s.on('error', (err: NodeJS.ErrnoException) => (code ??= err.code ?? 'error'));
      s.on('data', () => {});
      // This backend's own 'end' may hide a reset that came right behind data (libuv reports it as
      // EOF), so it writes: a half-closed peer takes the byte, a reset one answers with an error.
      s.on('end', () => {
        s.write('?');
        setTimeout(() => endings.push(code ?? 'FIN'), 200);
      });
      s.on('close', () => code !== null && !s.readableEnded && endings.push(code));
    });
    servers.push(server);
    const { port, svc } = await run([backend(await listen(server))]);
    // Data and RST arrive before fulcrum reads anything (the client waits, paused, for its backend).
    for (let i = 0; i < 5; i++) {
      const client = await connect(port);
      client.on('error', () => {});
      client.write('a request cut short');
      client.resetAndDestroy();
    }
    await until(() => endings.length === 5);
    expect(endings.map((e) => (e === 'EPIPE' ? 'ECONNRESET' : e))).toEqual(Array(5).fill('ECONNRESET'));
    await until(() => svc.proxy.sessions.size === 0);
    expect(svc.pool.backends[0].active).toBe(0);
  });

  test('a slow reader pauses the backend: fulcrum buffers a bounded amount', async () => {
    let backendWritten = 0;
    let backendSocket!: net.Socket;
    const chunk = Buffer.alloc(64 * 1024, 7);
    const limit = 512 * 1024 * 1024;
    const server = net.createServer((s) => {
      backendSocket = s;
      s.on('error', () => {});
      // Stream up to 512 MiB honouring backpressure; stops when fulcrum stops reading.
      const pump = () => {
        while (backendWritten < limit) {
          backendWritten += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
      };
      pump();
    });
    servers.push(server);
    const { port, svc } = await run([backend(await listen(server))]);
    const client = await connect(port);
    client.pause(); // reads nothing
    await sleep(1500);
    const session = [...svc.tcp!.sessions][0];
    // Whatever fulcrum holds in user space is bounded by one socket's high-water mark plus a chunk.
    expect(session.client.queued).toBeLessThan(1024 * 1024);
    expect(session.upstream!.paused).toBe(true);
    // The backend itself is held back: far less than the 512 MiB it wanted to send has left it.
    expect(backendWritten - backendSocket.writableLength).toBeLessThan(64 * 1024 * 1024);
    client.destroy();
  });

  test('a backend that reads nothing pauses the client: fulcrum buffers a bounded amount', async () => {
    let backendSocket!: net.Socket;
    const server = net.createServer((s) => {
      backendSocket = s;
      s.on('error', () => {});
      s.pause(); // never reads
    });
    servers.push(server);
    const { port, svc } = await run([backend(await listen(server))]);
    const client = await connect(port);
    client.on('error', () => {});
    const chunk = Buffer.alloc(64 * 1024, 9);
    const limit = 512 * 1024 * 1024;
    let clientWritten = 0;
    // Upload up to 512 MiB honouring backpressure; stops when fulcrum stops reading.
    const pump = () => {
      while (clientWritten < limit) {
        clientWritten += chunk.length;
        if (!client.write(chunk)) return void client.once('drain', pump);
      }
    };
    pump();
    await sleep(1500);
    const session = [...svc.tcp!.sessions][0];
    expect(session.upstream!.queued).toBeLessThan(1024 * 1024);
    expect(session.client.paused).toBe(true);
    expect(clientWritten - client.writableLength).toBeLessThan(64 * 1024 * 1024);
    // Once the backend reads again, the client is resumed and the upload moves on.
    const before = backendSocket.bytesRead;
    backendSocket.on('data', () => {});
    backendSocket.resume();
    await until(() => backendSocket.bytesRead > before + 8 * 1024 * 1024);
    client.destroy();
  });

  test('both FINs in while bytes are still queued for a slow client: all of them arrive, then a FIN', async () => {
    const reply = crypto.randomBytes(8 * 1024 * 1024);
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.resume();
      // Reply in full and close once the client's FIN has come through the proxy.
      s.on('end', () => s.end(reply));
    });
    servers.push(server);
    const { port, svc } = await run([backend(await listen(server))]);
    const client = await connect(port);
    let error: string | null = null;
    client.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    client.end('request');
    client.pause(); // let the reply pile up in fulcrum and the kernel before reading it
    await sleep(300);
    const received = readAll(client);
    client.resume(); // after an explicit pause(), a 'data' listener alone does not resume
    const got = await received;
    expect(error).toBeNull();
    expect(sha256(got)).toBe(sha256(reply));
    await until(() => svc.proxy.sessions.size === 0);
  });

  test('a client that resets while a backend that reads nothing has paused it: the session closes at once, not at idle', async () => {
    expect.assertions(3);
    let backendSocket!: net.Socket;
    const server = net.createServer((s) => {
      backendSocket = s;
      s.on('error', () => {});
      s.pause(); // never reads (so it does not notice fulcrum's reset either: closed at the end)
    });
    servers.push(server);
    const { port, svc } = await run([backend(await listen(server))]); // timeouts.idle: the default hour
    const client = await connect(port);
    client.on('error', () => {});
    const chunk = Buffer.alloc(64 * 1024, 3);
    const pump = () => {
      while (client.write(chunk));
      client.once('drain', pump);
    };
    pump();
    // Paused by backpressure (an accepted client is also paused until its backend is connected).
    await until(() => {
      const s = [...svc.tcp!.sessions][0];
      return s !== undefined && s.isOpen && s.client.paused && s.upstream!.queued > 0;
    });
    const session = [...svc.tcp!.sessions][0];
    client.removeAllListeners('drain');
    client.resetAndDestroy();
    await until(() => svc.proxy.sessions.size === 0, 10_000);
    expect(session.reason).toBe('client_error');
    expect(session.upstream!.closed).toBe(true);
    expect(svc.pool.backends[0].active).toBe(0);
    backendSocket.destroy();
  });

  test('a backend that resets while a client that reads nothing has paused it: the session closes at once, not at idle', async () => {
    expect.assertions(4);
    let backendSocket!: net.Socket;
    const chunk = Buffer.alloc(64 * 1024, 4);
    const server = net.createServer((s) => {
      backendSocket = s;
      s.on('error', () => {});
      const pump = () => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
    });
    servers.push(server);
    const { port, svc } = await run([backend(await listen(server))]);
    const client = await connect(port);
    client.on('error', () => {});
    client.pause(); // reads nothing
    await until(() => [...svc.tcp!.sessions][0]?.upstream?.paused === true);
    expect([...svc.tcp!.sessions][0].isOpen).toBe(true);
    const session = [...svc.tcp!.sessions][0];
    // Let fulcrum's queue for the client drain into the kernel, so only the probe can notice.
    await sleep(200);
    backendSocket.removeAllListeners('drain');
    backendSocket.resetAndDestroy();
    await until(() => svc.proxy.sessions.size === 0, 10_000);
    expect(session.reason).toBe('backend_error');
    expect(session.client.closed).toBe(true);
    expect(svc.pool.backends[0].active).toBe(0);
    client.destroy();
  });

  test('a session busy one way only is not idle: a backend streaming to a silent client', async () => {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      let sent = 0;
      const tick = setInterval(() => {
        s.write('t');
        if (++sent === 8) {
          clearInterval(tick);
          s.end();
        }
      }, 60);
      s.on('close', () => clearInterval(tick));
    });
    servers.push(server);
    const { port } = await run([backend(await listen(server))], { timeouts: timeouts({ connect: 1000, idle: 200 }) });
    const client = await connect(port);
    // 8 bytes over ~480 ms, more than twice the idle timeout: all arrive, then the backend's FIN.
    expect((await readAll(client)).toString()).toBe('tttttttt');
  });
});

test('a backend that never answers the SYN times out and the next backend serves', async () => {
  const { blackhole } = await import('../helpers/net');
  const hole = await blackhole();
  try {
    const e = await echo();
    const { port, svc } = await run([backend(hole.port), backend(e.port)], { timeouts: timeouts({ connect: 200, idle: 60000 }) });
    for (let i = 0; i < 4; i++) {
      const client = await connect(port);
      const reply = readAll(client);
      client.end(`ping ${i}`);
      expect((await reply).toString()).toBe(`ping ${i}`);
    }
    const [dead, live] = svc.pool.backends;
    expect(dead.connectFailures).toBeGreaterThanOrEqual(1);
    expect(dead.total).toBe(0);
    expect(live.total).toBe(4);
  } finally {
    hole.stop();
  }
});

test('all backends refusing: the client is closed promptly, every attempt counted', async () => {
  const ports = [await refusedPort(), await refusedPort(), await refusedPort()];
  const { port, svc } = await run(ports.map((p) => backend(p)), { retries: 2 });
  const client = await connect(port);
  const t0 = Date.now();
  await readAll(client);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(svc.tcp!.rejects.connect_failed).toBe(1);
  expect(svc.pool.backends.map((b) => b.connectFailures)).toEqual([1, 1, 1]);
});

test('retries: 0 stops after the first failed backend', async () => {
  const e = await echo();
  const dead = await refusedPort();
  const { port, svc } = await run([backend(dead), backend(e.port)], { retries: 0, balance: 'round-robin' });
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await connect(port);
    const r = readAll(c);
    c.end('x');
    // A rejected client that had sent data sees a reset (its bytes were never read).
    outcomes.push(await r.then((b) => b.toString(), (err) => err.code));
  }
  // Round-robin alternates: half the clients met the dead backend and were not retried.
  expect(outcomes.filter((o) => o === 'x')).toHaveLength(2);
  expect(svc.tcp!.rejects.connect_failed).toBe(2);
});

test('backups take traffic only when no primary is usable', async () => {
  const primary = await echo();
  const spare = await echo();
  const { port, svc } = await run([backend(primary.port), backend(spare.port, { backup: true })]);
  const roundTrip = async () => {
    const c = await connect(port);
    const r = readAll(c);
    c.end('x');
    await r;
  };
  for (let i = 0; i < 3; i++) await roundTrip();
  const [p, b] = svc.pool.backends;
  expect([p.total, b.total]).toEqual([3, 0]);
  const { HealthFlag } = await import('../../src/pool/backend');
  svc.pool.setFlag(p, HealthFlag.DisabledByOperator, true);
  for (let i = 0; i < 2; i++) await roundTrip();
  expect([p.total, b.total]).toEqual([3, 2]);
});

test('no usable backend is a counted rejection', async () => {
  const e = await echo();
  const { port, svc } = await run([backend(e.port)]);
  const { HealthFlag } = await import('../../src/pool/backend');
  svc.pool.setFlag(svc.pool.backends[0], HealthFlag.DisabledByOperator, true);
  const c = await connect(port);
  await readAll(c);
  expect(svc.tcp!.rejects.no_backend).toBe(1);
  expect(svc.pool.backends[0].total).toBe(0);
});

test('idle timeout closes a silent session', async () => {
  const e = await echo();
  const { port, svc } = await run([backend(e.port)], { timeouts: timeouts({ connect: 1000, idle: 200 }) });
  const c = await connect(port);
  c.write('a');
  const t0 = Date.now();
  await readAll(c);
  const elapsed = Date.now() - t0;
  expect(elapsed).toBeGreaterThanOrEqual(150);
  expect(elapsed).toBeLessThan(2000);
  await until(() => svc.proxy.sessions.size === 0);
  expect(svc.pool.backends[0].active).toBe(0);
});

test('maxConnections refuses beyond the cap and counts it, existing sessions untouched', async () => {
  const e = await echo();
  const { port, svc } = await run([backend(e.port)], { maxConnections: 2 });
  const a = await connect(port);
  const b = await connect(port);
  await until(() => svc.pool.backends[0].active === 2);
  const c = await connect(port);
  await readAll(c);
  expect(svc.tcp!.rejects.max_connections).toBe(1);
  const r = readAll(a);
  a.end('still here');
  expect((await r).toString()).toBe('still here');
  b.destroy();
});

test('every primary failing at once: the retry falls through to a usable backup', async () => {
  expect.assertions(4);
  const spare = await echo();
  const dead = [await refusedPort(), await refusedPort()];
  // No health checks: nothing has marked the primaries down, only the retry can find the backup.
  const { port, svc } = await run([backend(dead[0]), backend(dead[1]), backend(spare.port, { backup: true })], { retries: 2 });
  const outcomes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await connect(port);
    const r = readAll(c);
    c.end(`req ${i}`);
    outcomes.push(await r.then((b) => b.toString(), (err: NodeJS.ErrnoException) => err.code ?? 'error'));
  }
  expect(outcomes).toEqual(['req 0', 'req 1', 'req 2']);
  const [p1, p2, b] = svc.pool.backends;
  expect([p1.connectFailures, p2.connectFailures]).toEqual([3, 3]);
  expect(b.total).toBe(3);
  expect(svc.tcp!.rejects.connect_failed).toBe(0);
});

test('connect time is the successful attempt’s, not the failed ones before it', async () => {
  expect.assertions(6);
  const { blackhole } = await import('../helpers/net');
  const hole = await blackhole();
  try {
    const e = await echo();
    const h = await start(
      fulcrumConfig([tcpService([backend(hole.port), backend(e.port)], { timeouts: timeouts({ connect: 400 }), balance: 'round-robin' })], { log: { level: 'silent', connections: true } }),
    );
    handles.push(h);
    const svc = h.manager.services[0];
    const port = svc.address!.port;
    const lines: Array<Record<string, unknown>> = [];
    jest.spyOn(svc.tcp!.log, 'info').mockImplementation(((obj: Record<string, unknown>) => void lines.push(obj)) as never);
    // Round-robin sends the first client to the blackhole: 400 ms lost there, then the echo backend connects.
    const c = await connect(port);
    const r = readAll(c);
    c.end('x');
    expect((await r).toString()).toBe('x');
    await until(() => lines.length === 1);
    const live = svc.pool.backends[1];
    expect(live.total).toBe(1);
    // A loopback connect takes well under the 400 ms the failed attempt took.
    expect(live.connectTime.percentiles().max!).toBeLessThan(300);
    expect(svc.tcp!.connectTime.percentiles().max!).toBeLessThan(300);
    expect(lines[0].connectMs as number).toBeLessThan(300);
    expect(lines[0].timeToBackendMs as number).toBeGreaterThanOrEqual(390);
  } finally {
    hole.stop();
  }
});
