import dgram from 'node:dgram';
import net from 'node:net';
import type { ServiceConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import { reusePortSupported } from '../../src/proxy/reuse-port';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';
import { close, connect, echoServer, listen, readAll, sleep, until } from '../helpers/net';

/**
 * The threaded data plane (issue #12). Two or more workers need SO_REUSEPORT
 * listeners (Node 22.12+): on an older Node those tests are skipped and say
 * why; the ones that make sense with one worker thread run everywhere.
 */
const MULTI = reusePortSupported();
const WHY = MULTI ? 'two or more workers' : 'SKIPPED on this Node: two or more workers need SO_REUSEPORT listeners, Node 22.12+';
const multi = MULTI ? test : test.skip;
const N = MULTI ? 2 : 1;

const handles: FulcrumHandle[] = [];
const servers: net.Server[] = [];
const held: net.Socket[] = [];
const holders: Array<{ live: Set<net.Socket> }> = [];
afterEach(async () => {
  for (const s of held.splice(0)) s.destroy();
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  // The holders allow half-open connections: a session fulcrum closed after passing a FIN leaves them open.
  for (const h of holders.splice(0)) for (const s of h.live) s.destroy();
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
});

/** A backend that holds every connection open and counts them (live and ever). */
async function holder() {
  const live = new Set<net.Socket>();
  let total = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    total++;
    live.add(s);
    s.on('error', () => {});
    s.on('close', () => live.delete(s));
    s.on('data', (d) => s.write(d));
  });
  servers.push(server);
  const port = await listen(server);
  const h = { port, live, get total() { return total; } };
  holders.push(h);
  return h;
}

async function run(workers: number, ports: number[], extra: Partial<ServiceConfig> = {}) {
  const h = await start(fulcrumConfig([tcpService(ports.map((p) => backend(p)), extra)], { workers }), { threads: true });
  handles.push(h);
  const svc = h.manager.services[0]!;
  return { h, svc, port: svc.address!.port };
}

/** A client connection that fulcrum closed (refused) or that got through: resolves 'closed' or 'open' within ms. */
async function fate(port: number, ms = 500): Promise<'open' | 'closed'> {
  const s = await connect(port);
  held.push(s);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('open'), ms);
    // The test's sockets allow half-open: fulcrum's close of a refused client arrives as 'end'.
    const closed = () => {
      clearTimeout(t);
      resolve('closed');
    };
    s.once('end', closed);
    s.once('close', closed);
    s.on('error', () => {});
  });
}

multi(`connections land on every worker; status shows one view with per-worker gauges (${WHY})`, async () => {
  const b = await holder();
  const { h, port } = await run(2, [b.port]);
  for (let i = 0; i < 40; i++) held.push(await connect(port));
  await until(() => b.live.size === 40);
  await h.manager.collectStats();
  const report = h.manager.status();
  expect(report.workers).toMatchObject({ count: 2, threads: true, restarts: 0 });
  const perWorker = report.workers!.sessions;
  expect(perWorker.reduce((a, n) => a + n, 0)).toBe(40);
  // The kernel spreads by 4-tuple hash: 40 distinct source ports all on one worker has odds of 2^-39.
  expect(Math.min(...perWorker)).toBeGreaterThan(0);
  expect(report.services[0]!.active).toBe(40);
  expect(report.services[0]!.accepted).toBe(40);
  expect(report.services[0]!.backends[0]!.total).toBe(40);
});

multi(`least-conn over two equal backends with 2 workers and 20 held sessions gives exactly 10/10 (${WHY})`, async () => {
  const [a, b] = [await holder(), await holder()];
  const { port } = await run(2, [a.port, b.port], { balance: 'least-conn' });
  for (let i = 0; i < 20; i++) {
    held.push(await connect(port));
    // One at a time: each pick sees the count the previous one left in shared memory, whichever worker made it.
    await until(() => a.live.size + b.live.size === i + 1);
  }
  expect([a.live.size, b.live.size]).toEqual([10, 10]);
});

multi(`perSource.maxConnections: 5 with 4 workers refuses the 6th (${WHY})`, async () => {
  const b = await holder();
  const { h, port } = await run(4, [b.port], { perSource: { maxConnections: 5, tableSize: 1000 } as ServiceConfig['perSource'] });
  const fates: string[] = [];
  for (let i = 0; i < 6; i++) fates.push(await fate(port, 300));
  expect(fates.filter((f) => f === 'open')).toHaveLength(5);
  expect(fates[5]).toBe('closed');
  expect(b.live.size).toBe(5);
  expect(h.manager.status().services[0]!.rejected.source_max_connections).toBe(1);
});

multi(`a service maxConnections holds across workers (${WHY})`, async () => {
  const b = await holder();
  const { h, port } = await run(2, [b.port], { maxConnections: 5 });
  const fates = await Promise.all(Array.from({ length: 8 }, () => fate(port, 500)));
  expect(fates.filter((f) => f === 'open')).toHaveLength(5);
  expect(b.live.size).toBe(5);
  expect(h.manager.status().services[0]!.rejected.max_connections).toBe(3);
});

test(`drain, weight and disable apply in every worker (${N} worker threads)`, async () => {
  const [a, b] = [await holder(), await holder()];
  const { h, port } = await run(N, [a.port, b.port]);
  const names = h.manager.services[0]!.pool.backends.map((x) => x.name);
  // applied(): what the admin API awaits before it replies (every worker has the change).
  h.manager.backendAction('svc', names[0]!, 'drain');
  await h.manager.applied();
  for (let i = 0; i < 20; i++) held.push(await connect(port));
  await until(() => b.live.size === 20);
  expect(a.total).toBe(0);
  h.manager.backendAction('svc', names[0]!, 'enable');
  h.manager.setWeight('svc', names[1]!, 0);
  await h.manager.applied();
  for (let i = 0; i < 20; i++) held.push(await connect(port));
  await until(() => a.live.size === 20);
  expect(b.total).toBe(20);
  // disable closes the backend's live sessions in every worker.
  h.manager.backendAction('svc', names[1]!, 'disable');
  await until(() => b.live.size === 0);
  expect(a.live.size).toBe(20);
});

test(`a worker that dies is logged, counted and replaced; the others keep serving (${N} worker threads)`, async () => {
  const e = await echoServer();
  servers.push(e.server);
  const { h, port } = await run(N, [e.port]);
  const roundTrip = async () => {
    const c = await connect(port);
    const r = readAll(c);
    c.end('ping');
    return (await r).toString();
  };
  expect(await roundTrip()).toBe('ping');
  h.manager.threads!.post(0, { t: 'crash' });
  await until(() => h.manager.threads!.restarts === 1);
  // Meanwhile and after, clients are served (with one worker: once the replacement listens).
  await until(() => h.manager.status().workers!.restarts === 1);
  let ok = 0;
  for (let i = 0; i < 20; i++) {
    try {
      if ((await roundTrip()) === 'ping') ok++;
    } catch {
      await sleep(50); // one worker only: refused until the replacement has bound
    }
  }
  expect(ok).toBeGreaterThan(N === 1 ? 0 : 19);
  const report = h.manager.status();
  expect(report.workers).toMatchObject({ count: N, restarts: 1 });
});

multi(`UDP clients keep their backend and get only their own replies with 2 workers (${WHY})`, async () => {
  // Two UDP backends that answer "<id>:<payload>".
  const backends = await Promise.all(
    ['A', 'B'].map(
      (id) =>
        new Promise<{ sock: dgram.Socket; port: number }>((resolve) => {
          const sock = dgram.createSocket('udp4');
          sock.on('message', (m, r) => sock.send(`${id}:${m}`, r.port, r.address));
          sock.bind(0, '127.0.0.1', () => resolve({ sock, port: sock.address().port }));
        }),
    ),
  );
  try {
    const { port } = await run(2, backends.map((b) => b.port), { protocol: 'udp', balance: 'round-robin' });
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => new Promise<dgram.Socket>((resolve) => {
        const c = dgram.createSocket('udp4');
        c.bind(0, '127.0.0.1', () => resolve(c));
      })),
    );
    const replies = clients.map(() => [] as string[]);
    clients.forEach((c, i) => c.on('message', (m) => replies[i]!.push(m.toString())));
    for (let round = 0; round < 5; round++) {
      clients.forEach((c, i) => c.send(`c${i}r${round}`, port, '127.0.0.1'));
      await sleep(20);
    }
    await until(() => replies.every((r) => r.length === 5), 5000);
    replies.forEach((r, i) => {
      const ids = new Set(r.map((x) => x.split(':')[0]));
      expect(ids.size).toBe(1); // one backend per client
      expect(r.map((x) => x.split(':')[1]).sort()).toEqual([0, 1, 2, 3, 4].map((k) => `c${i}r${k}`));
    });
    for (const c of clients) c.close();
  } finally {
    for (const b of backends) b.sock.close();
  }
});
