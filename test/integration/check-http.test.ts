import http from 'node:http';
import net from 'node:net';
import { parseConfigText } from '../../src/config';
import { httpProbe } from '../../src/manager/health/http-probe';
import type { HttpCheckConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import { ep } from '../helpers/config';
import { close, connect, readAll, until } from '../helpers/net';

const servers: net.Server[] = [];
const handles: FulcrumHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  // A hung route holds its connection open: close it so the server can close.
  for (const s of servers) if (s instanceof http.Server) s.closeAllConnections();
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
});

/** An HTTP server whose answer the test sets: status and body per path; `hang` never answers. */
function httpServer(routes: Record<string, { status: number; body?: string } | 'hang'>) {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    const route = routes[req.url ?? '/'] ?? { status: 404 };
    if (route === 'hang') return;
    res.writeHead(route.status, { 'content-type': 'text/plain' });
    res.end(route.body ?? '');
  });
  servers.push(server);
  return { server, seen, routes };
}

async function listenOn(server: net.Server, host: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return (server.address() as net.AddressInfo).port;
}

const GET: HttpCheckConfig = { method: 'GET', path: '/health', expectStatus: null };

test('http check: 200 passes, 503 fails, a hung server times out, a wrong body fails; the text says which', async () => {
  expect.assertions(8);
  const s = httpServer({ '/health': { status: 200, body: 'role=primary' }, '/down': { status: 503 }, '/hang': 'hang', '/moved': { status: 302 } });
  const port = await listenOn(s.server, '127.0.0.1');
  const probe = (check: Partial<HttpCheckConfig>) => httpProbe(ep(port), undefined, 300, { ...GET, ...check });
  expect(await probe({})).toMatchObject({ ok: true, text: 'http 200' });
  expect(await probe({ path: '/down' })).toEqual({ ok: false, reason: 'http 503' });
  expect(await probe({ path: '/hang' })).toEqual({ ok: false, reason: 'timeout' });
  expect(await probe({ expectBody: 'role=replica' })).toEqual({ ok: false, reason: 'http 200 body mismatch' });
  expect(await probe({ expectBody: 'role=primary' })).toMatchObject({ ok: true, text: 'http 200' });
  // Default: any 2xx or 3xx; an explicit list is exact.
  expect([(await probe({ path: '/moved' })).ok, (await probe({ path: '/moved', expectStatus: [200] })).ok]).toEqual([true, false]);
  await probe({ method: 'HEAD', host: 'db.example' });
  expect([s.seen.at(-1)!.method, s.seen.at(-1)!.headers.host]).toEqual(['HEAD', 'db.example']);
  expect(s.seen[0].headers.host).toBe(`127.0.0.1:${port}`);
});

test('Patroni style: health.port 8008-like endpoint /primary picks the primary; a switchover moves traffic', async () => {
  expect.assertions(5);
  // Two "hosts" on loopback addresses, each with a database port (echo) and a Patroni REST port (the same on both).
  const hosts = ['127.0.0.2', '127.0.0.3'];
  const patroni = hosts.map((_, i) => httpServer({ '/primary': { status: i === 0 ? 200 : 503 } }));
  const restPort = await listenOn(patroni[0].server, hosts[0]);
  await listenOn(patroni[1].server, hosts[1], restPort);
  const db = hosts.map((host) => {
    const server = net.createServer((c) => {
      c.on('error', () => {});
      c.end(host);
    });
    servers.push(server);
    return server;
  });
  const dbPort = await listenOn(db[0], hosts[0]);
  await listenOn(db[1], hosts[1], dbPort);
  const text = `services:
  - name: pg
    listen: 127.0.0.1:0
    backends: [{ address: "${hosts[0]}:${dbPort}" }, { address: "${hosts[1]}:${dbPort}" }]
    health: { type: http, path: /primary, port: ${restPort}, expectStatus: 200, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }
admin: { enabled: false }
log: { level: silent }
`;
  const h = await start(parseConfigText(text));
  handles.push(h);
  const port = h.addresses.get('pg')!.port;
  const servedBy = async () => {
    const c = await connect(port);
    return (await readAll(c)).toString();
  };
  expect(await servedBy()).toBe(hosts[0]);
  expect(h.manager.status().services[0].backends.map((b) => b.health?.result)).toEqual(['http 200', 'http 503']);
  // Switchover: the other node becomes primary.
  patroni[0].routes['/primary'] = { status: 503 };
  patroni[1].routes['/primary'] = { status: 200 };
  const [a, b] = h.manager.services[0].pool.backends;
  await until(() => b.usable && !a.usable, 10_000);
  expect(await servedBy()).toBe(hosts[1]);
  const { renderMetrics } = await import('../../src/admin/metrics');
  const metrics = (await renderMetrics(h.manager.status())).body;
  expect(metrics).toContain(`fulcrum_check_result{service="pg",backend="${hosts[0]}:${dbPort}",type="http"} 0`);
  expect(metrics).toContain(`fulcrum_check_result{service="pg",backend="${hosts[1]}:${dbPort}",type="http"} 1`);
});
