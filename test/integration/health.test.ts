import net from 'node:net';
import type { HealthConfig, ServiceConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';
import { close, connect, echoServer, readAll, refusedPort, sleep, until } from '../helpers/net';

const handles: FulcrumHandle[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
});

const FAST: HealthConfig = { enabled: true, interval: 100, timeout: 100, rise: 2, fall: 3, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false };

async function run(ports: number[], extra: Partial<ServiceConfig> = {}) {
  const h = await start(fulcrumConfig([tcpService(ports.map((p) => backend(p)), { health: FAST, ...extra })]));
  handles.push(h);
  return { h, svc: h.manager.services[0], port: h.addresses.get('svc')!.port };
}

async function echo() {
  const e = await echoServer();
  servers.push(e.server);
  return e;
}

/** One request/response; resolves with the backend's port as seen by the echo server's accept counter. */
async function roundTrip(port: number): Promise<void> {
  const c = await connect(port);
  const r = readAll(c);
  c.end('x');
  expect((await r).toString()).toBe('x');
}

/** One echoed byte: the session is open end to end (active alone also counts connects in flight). */
async function echoOnce(s: net.Socket): Promise<void> {
  const got = new Promise((r) => s.once('data', r));
  s.write('.');
  await got;
}

/** Restart an echo server on the same port (SO_REUSEADDR is on by default in Node). */
async function relisten(e: { server: net.Server; port: number }): Promise<net.Server> {
  const s = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {});
    sock.pipe(sock);
  });
  await new Promise<void>((resolve) => s.listen(e.port, '127.0.0.1', resolve));
  servers.push(s);
  return s;
}

test('at start a dead backend receives no connection: the first checks run before the listener opens', async () => {
  const live = await echo();
  const { svc, port } = await run([await refusedPort(), live.port], { balance: 'round-robin' });
  const [dead, up] = svc.pool.backends;
  expect(dead.usable).toBe(false);
  for (let i = 0; i < 10; i++) await roundTrip(port);
  expect(dead.connectFailures).toBe(0);
  expect(up.total).toBe(10);
});

test('a killed backend is marked down within interval x fall (+ one interval), traffic moves, and it comes back with a slow-start ramp', async () => {
  const a = await echo();
  const b = await echo();
  const { h, svc, port } = await run([a.port, b.port], { balance: 'round-robin', slowStart: 1000 });
  const [ba, bb] = svc.pool.backends;
  expect(ba.usable && bb.usable).toBe(true);
  // Kill b: stop listening so health checks are refused.
  await close(b.server);
  const t0 = Date.now();
  await until(() => !bb.usable, 2000, 5);
  // interval 100 ms × fall 3 + one interval, with jitter and timer slack.
  expect(Date.now() - t0).toBeLessThan(100 * 3 + 100 + 200);
  const status = h.manager.status().services[0].backends[1];
  expect(status.state).toBe('down');
  expect(status.reasons).toEqual(['failed_active_check']);
  const { renderMetrics } = await import('../../src/admin/metrics');
  const metrics = (await renderMetrics(h.manager.status())).body;
  expect(metrics).toMatch(new RegExp(`fulcrum_backend_up\\{service="svc",backend="127.0.0.1:${b.port}"\\} 0`));
  const before = ba.total;
  for (let i = 0; i < 10; i++) await roundTrip(port);
  expect(ba.total - before).toBe(10);

  // Back: up after `rise` good checks, then ramped in.
  await relisten(b);
  await until(() => bb.usable, 2000, 5);
  expect(bb.rampFactor).toBeLessThan(0.5);
  // Batches of 20 sessions across the 1 s ramp: b's share grows from ~0 towards one half.
  const shares: number[] = [];
  while (bb.rampFactor < 1) {
    const before = bb.total;
    for (let i = 0; i < 20; i++) await roundTrip(port);
    shares.push((bb.total - before) / 20);
    await sleep(50);
  }
  expect(shares.length).toBeGreaterThanOrEqual(4);
  expect(shares[0]).toBeLessThan(0.2);
  expect(shares[0]).toBeLessThan(shares[shares.length - 1]);
  expect(shares.reduce((a, b) => a + b, 0) / shares.length).toBeLessThan(0.4);
  await until(() => bb.rampFactor === 1, 4000, 20);
  const late = bb.total;
  for (let i = 0; i < 40; i++) await roundTrip(port);
  expect(bb.total - late).toBe(20);
}, 20_000);

test('a backend failing every third check does not flap (rise 2 / fall 3)', async () => {
  const e = await echo();
  let checks = 0;
  // A front that refuses every third connection and passes the rest to the echo server.
  const flaky = net.createServer((s) => {
    s.on('error', () => {});
    if (++checks % 3 === 0) return void s.resetAndDestroy();
    s.destroy();
  });
  servers.push(flaky);
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  const { svc } = await run([e.port], { health: { ...FAST, port: (flaky.address() as net.AddressInfo).port } });
  const b = svc.pool.backends[0];
  let flips = 0;
  let last = b.usable;
  const started = checks;
  while (checks - started < 15) {
    await sleep(20);
    if (b.usable !== last) flips++;
    last = b.usable;
  }
  expect(flips).toBe(0);
  expect(b.usable).toBe(true);
}, 10_000);

test('passive checks: consecutive refused connects mark a backend down at once', async () => {
  const a = await echo();
  const b = await echo();
  const { h, svc, port } = await run([a.port, b.port], { balance: 'round-robin', health: { ...FAST, interval: 60_000 } });
  const bb = svc.pool.backends[1];
  await close(b.server);
  // Every client still succeeds (retries go to a), until b has failed 3 times in a row.
  for (let i = 0; i < 12; i++) await roundTrip(port);
  expect(bb.connectFailures).toBe(3);
  expect(h.manager.status().services[0].backends[1].reasons).toEqual(['failed_passive_check']);
});

test('drain: live sessions go on, no new ones, reset at drainTimeout', async () => {
  const a = await echo();
  const b = await echo();
  const { h, svc, port } = await run([a.port, b.port], { balance: 'round-robin', drainTimeout: 400 });
  const [ba] = svc.pool.backends;
  const live = await connect(port); // first round-robin pick: a
  await echoOnce(live);
  const st = h.manager.backendAction('svc', `127.0.0.1:${a.port}`, 'drain');
  expect(st.state).toBe('draining');
  for (let i = 0; i < 6; i++) await roundTrip(port);
  expect(ba.total).toBe(1);
  live.write('still');
  expect(String(await new Promise((r) => live.once('data', r)))).toBe('still');
  const t0 = Date.now();
  await expect(readAll(live)).rejects.toMatchObject({ code: 'ECONNRESET' });
  expect(Date.now() - t0).toBeLessThan(1500);
  await until(() => ba.active === 0);
  h.manager.backendAction('svc', `127.0.0.1:${a.port}`, 'enable');
  for (let i = 0; i < 4; i++) await roundTrip(port);
  expect(ba.total).toBe(3);
});

test('disable resets live sessions; onBackendDown: close resets them when checks fail', async () => {
  const a = await echo();
  const { h, svc, port } = await run([a.port], { onBackendDown: 'close' });
  const ba = svc.pool.backends[0];
  const s1 = await connect(port);
  await echoOnce(s1);
  h.manager.backendAction('svc', ba.name, 'disable');
  await expect(readAll(s1)).rejects.toMatchObject({ code: 'ECONNRESET' });
  await until(() => ba.active === 0);
  h.manager.backendAction('svc', ba.name, 'enable');
  const s2 = await connect(port);
  await echoOnce(s2);
  a.server.close(); // stop accepting: checks fail; the live session itself is healthy
  await expect(readAll(s2)).rejects.toMatchObject({ code: 'ECONNRESET' });
  expect(ba.usable).toBe(false);
  await until(() => ba.active === 0);
});

test('weights set at runtime apply to new sessions', async () => {
  const a = await echo();
  const b = await echo();
  const { h, svc, port } = await run([a.port, b.port], { balance: 'round-robin' });
  h.manager.setWeight('svc', `127.0.0.1:${b.port}`, 3);
  const [ba, bb] = svc.pool.backends;
  for (let i = 0; i < 8; i++) await roundTrip(port);
  expect([ba.total, bb.total]).toEqual([2, 6]);
  expect(() => h.manager.setWeight('svc', 'nope', 1)).toThrow(expect.objectContaining({ code: 'ERR_FULCRUM_NOT_FOUND' }));
  expect(() => h.manager.setWeight('svc', ba.name, 1.5)).toThrow(expect.objectContaining({ code: 'ERR_FULCRUM_BAD_REQUEST' }));
});
