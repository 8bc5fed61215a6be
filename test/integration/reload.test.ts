import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../src/config';
import { reusePortSupported } from '../../src/proxy/reuse-port';
import { start, type FulcrumHandle } from '../../src/index';
import { close, connect, echoServer, readAll, refusedPort, sleep } from '../helpers/net';

let dir: string;
const handles: FulcrumHandle[] = [];
const servers: net.Server[] = [];
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-reload-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
});

async function echo() {
  const e = await echoServer();
  servers.push(e.server);
  return e.port;
}

/** A config file with a fixed listen port (so an unchanged listen is recognized), admin off. */
/** Two data-plane workers where Node has reusePort (a reload must reach both), else one. */
const WORKERS = reusePortSupported() ? 2 : 1;

function yaml(listenPort: number, services: string): string {
  return `log: { level: silent }\nadmin: { enabled: false }\nworkers: ${WORKERS}\nservices:\n${services.replace('LISTEN', `127.0.0.1:${listenPort}`)}`;
}

async function startFrom(text: string) {
  const file = path.join(dir, `f${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, text);
  const h = await start(loadConfigFile(file), { configFile: file });
  handles.push(h);
  return { h, file };
}

async function freePort(): Promise<number> {
  return refusedPort();
}

async function roundTrip(port: number): Promise<string> {
  const c = await connect(port);
  const r = readAll(c);
  c.end('ping');
  return (await r).toString();
}

test(`reload under 1,000 connections/s with ${WORKERS} worker(s) refuses none; weights, new and removed backends apply`, async () => {
  const [a, b, c] = [await echo(), await echo(), await echo()];
  const listen = await freePort();
  const svc = (backends: string) => `  - name: web\n    listen: LISTEN\n    balance: round-robin\n    health: { interval: 100ms, timeout: 100ms }\n    backends: [${backends}]\n`;
  const { h, file } = await startFrom(yaml(listen, svc(`{ address: 127.0.0.1:${a} }, { address: 127.0.0.1:${b} }`)));
  let ok = 0;
  let failed = 0;
  const inflight = new Set<Promise<void>>();
  const t0 = Date.now();
  let reloaded = false;
  // One new connection per millisecond (bounded: 3 s, 3,000 connections), each a full echo round trip.
  while (Date.now() - t0 < 3000 && ok + failed + inflight.size < 3000) {
    const p = roundTrip(listen).then(
      (r) => void (r === 'ping' ? ok++ : failed++),
      () => void failed++,
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (!reloaded && Date.now() - t0 > 1000) {
      reloaded = true;
      fs.writeFileSync(file, yaml(listen, svc(`{ address: 127.0.0.1:${b}, weight: 3 }, { address: 127.0.0.1:${c} }`)));
      void h.reload();
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  expect(failed).toBe(0);
  expect(ok).toBeGreaterThan(500);
  const backends = h.manager.status().services[0].backends;
  const byAddr = (port: number) => backends.find((x) => x.address === `127.0.0.1:${port}`);
  expect(byAddr(b)?.weight).toBe(3);
  expect(byAddr(c)?.state).toBe('up');
  // a was removed: it drained (or is draining) and gets nothing new.
  const aTotal = byAddr(a)?.total ?? 0;
  for (let i = 0; i < 8; i++) await roundTrip(listen);
  expect(h.manager.status().services[0].backends.find((x) => x.address === `127.0.0.1:${a}`)?.total ?? aTotal).toBe(aTotal);
}, 30_000);

test('an invalid reload keeps the old config and reports field paths', async () => {
  const a = await echo();
  const listen = await freePort();
  const { h, file } = await startFrom(yaml(listen, `  - name: web\n    listen: LISTEN\n    backends: [{ address: 127.0.0.1:${a} }]\n`));
  fs.writeFileSync(file, yaml(listen, `  - name: web\n    listen: LISTEN\n    balance: fastest\n    backends: [{ address: 127.0.0.1 }]\n`));
  await expect(h.reload()).rejects.toMatchObject({
    code: 'ERR_FULCRUM_CONFIG',
    details: expect.arrayContaining([expect.stringContaining('services[0].balance'), expect.stringContaining('services[0].backends[0].address')]),
  });
  expect(await roundTrip(listen)).toBe('ping');
  expect(h.manager.status().services[0].balance).toBe('least-conn');
});

test('new backends are health-checked before traffic; services added and removed', async () => {
  const a = await echo();
  const dead = await refusedPort();
  const [l1, l2] = [await freePort(), await freePort()];
  const one = `  - name: one\n    listen: LISTEN\n    backends: [{ address: 127.0.0.1:${a} }]\n`;
  const { h, file } = await startFrom(yaml(l1, one));
  const live = await connect(l1); // a session on the service about to be removed
  const two = `  - name: two\n    listen: 127.0.0.1:${l2}\n    balance: round-robin\n    backends: [{ address: 127.0.0.1:${a} }, { address: 127.0.0.1:${dead} }]\n`;
  fs.writeFileSync(file, yaml(l1, two));
  const report = await h.reload();
  expect(report).toEqual({ servicesAdded: ['two'], servicesRemoved: ['one'], servicesChanged: [] });
  // The dead new backend failed its first check before the listener opened: no client meets it.
  for (let i = 0; i < 6; i++) expect(await roundTrip(l2)).toBe('ping');
  const deadStatus = h.manager.status().services[0].backends[1];
  expect(deadStatus.state).toBe('down');
  expect(deadStatus.connectFailures).toBe(0);
  // The removed service no longer accepts, but its live session still works.
  await expect(connect(l1)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  const r = readAll(live);
  live.end('bye');
  expect((await r).toString()).toBe('bye');
});

test('reload without a config file is refused with a clear code', async () => {
  const a = await echo();
  const { validateConfig } = await import('../../src/config');
  const h = await start(validateConfig({ log: { level: 'silent' }, admin: { enabled: false }, services: [{ name: 'q', listen: '127.0.0.1:0', backends: [{ address: `127.0.0.1:${a}` }] }] }, {}));
  handles.push(h);
  await expect(h.reload()).rejects.toMatchObject({ code: 'ERR_FULCRUM_RELOAD_UNAVAILABLE' });
});

test('a reload that changes balance and adds a backend never leaves the service without a balancer; removed backends refuse operator actions; no reload while stopping', async () => {
  const [a, b] = [await echo(), await echo()];
  const listen = await freePort();
  const svc = (balance: string, backends: string) =>
    `  - name: web\n    listen: LISTEN\n    balance: ${balance}\n    health: { interval: 1s, timeout: 300ms }\n    backends: [${backends}]\n`;
  const { h, file } = await startFrom(yaml(listen, svc('round-robin', `{ address: 127.0.0.1:${a}, name: a }`)));
  fs.writeFileSync(file, yaml(listen, svc('least-conn', `{ address: 127.0.0.1:${b}, name: b }`)));
  const reloading = h.reload();
  // While the new backend's first check runs, clients are still served (by a).
  expect(await roundTrip(listen)).toBe('ping');
  await reloading;
  const rejected = h.manager.status().services[0].rejected;
  expect((rejected.backends_full ?? 0) + (rejected.no_backend ?? 0)).toBe(0);
  expect(() => h.manager.backendAction('web', 'a', 'enable')).toThrow(expect.objectContaining({ code: 'ERR_FULCRUM_BAD_REQUEST' }));
  const stopping = h.stop(2000);
  await expect(h.reload()).rejects.toMatchObject({ code: 'ERR_FULCRUM_STOPPING' });
  await stopping;
});
