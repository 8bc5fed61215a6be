import net from 'node:net';
import type { BackendConfig, DiscoveryEntry, ServiceConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import { renderMetrics } from '../../src/admin/metrics';
import { DnsFault, Dnsmasq } from '../helpers/dnsmasq';
import { fulcrumConfig, tcpService, ep } from '../helpers/config';
import { until } from '../helpers/net';

/**
 * Hostname and SRV discovery end to end: a real dnsmasq serves A, AAAA and
 * SRV records from files the tests edit, fulcrum's pools follow them, and
 * NXDOMAIN, SERVFAIL and timeouts (a relay in front of dnsmasq that
 * misbehaves on demand) keep the last good set.
 */

const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '::1'];
let dnsmasq: Dnsmasq;
let fault: DnsFault;
/** One listener per address in HOSTS, all on the same port (a name's addresses share the entry's port). */
let port = 0;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
const handles: FulcrumHandle[] = [];

beforeAll(async () => {
  dnsmasq = await Dnsmasq.start('');
  fault = await DnsFault.start(dnsmasq.port);
  port = await listenOnAll(HOSTS);
});
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  fault.mode = 'forward';
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  fault.close();
  await dnsmasq.stop();
});

/** Each server says which address it is, then echoes. */
async function listenOnAll(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const bound: net.Server[] = [];
    let p = 0;
    try {
      for (const host of hosts) {
        const server = net.createServer((s) => {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
          s.write(`${host}\n`);
          s.pipe(s);
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(p, host, () => resolve());
        });
        bound.push(server);
        p = (server.address() as net.AddressInfo).port;
      }
      servers.push(...bound);
      return p;
    } catch {
      await Promise.all(bound.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error('no port free on every loopback address');
}

function entry(kind: DiscoveryEntry['kind'], target: string, extra: Partial<DiscoveryEntry> = {}): DiscoveryEntry {
  return { kind, target, source: `${kind}:${target}`, optional: false, backup: false, maxConnections: 0, ...extra };
}

const health = { enabled: true, interval: 100, timeout: 500, rise: 1, fall: 1, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false };
const discovery = (resolverPort: number) => ({ interval: 300, minTtl: 100, maxTtl: 300, timeout: 500, resolvers: [ep(resolverPort)] });

async function run(entries: DiscoveryEntry[], extra: Partial<ServiceConfig> = {}, resolverPort = dnsmasq.port, statics: BackendConfig[] = []) {
  const h = await start(fulcrumConfig([tcpService(statics, { discovery: entries, health, ...extra })], { discovery: discovery(resolverPort) }));
  handles.push(h);
  return h;
}

const service = (h: FulcrumHandle) => h.manager.services[0];
/** Backends taking new sessions, by address. */
const up = (h: FulcrumHandle) => service(h).pool.backends.filter((b) => b.usable).map((b) => b.address.text).sort();
const states = (h: FulcrumHandle) => Object.fromEntries(h.manager.status().services[0].backends.map((b) => [b.address, b.state]));
const found = (h: FulcrumHandle) => h.manager.status().services[0].discovery![0];

/** Connects through fulcrum and resolves with the socket and the backend address it reached. */
function connectVia(h: FulcrumHandle): Promise<{ socket: net.Socket; backend: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(h.addresses.get('svc')!.port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', (d) => resolve({ socket, backend: String(d).trim() }));
  });
}

test('a hostname: every A and AAAA address is a backend; the pool follows edits; removed ones drain', async () => {
  expect.assertions(8);
  await dnsmasq.setHosts('127.0.0.2 db.fulcrum.test\n127.0.0.3 db.fulcrum.test\n::1 db.fulcrum.test\n');
  const h = await run([entry('dns', `db.fulcrum.test:${port}`)], { drainTimeout: 1500, balance: 'round-robin' });
  await until(() => up(h).length === 3);
  expect(up(h)).toEqual([`127.0.0.2:${port}`, `127.0.0.3:${port}`, `[::1]:${port}`]);
  expect(service(h).pool.backends.every((b) => b.source === `dns:db.fulcrum.test:${port}`)).toBe(true);

  // A live session on 127.0.0.3, which the next edit removes.
  let held: net.Socket | null = null;
  for (let i = 0; i < 6 && held === null; i++) {
    const c = await connectVia(h);
    if (c.backend === '127.0.0.3') held = c.socket;
    else c.socket.destroy();
  }
  expect(held).not.toBeNull();
  const closed = new Promise((r) => held!.once('close', r));

  await dnsmasq.setHosts('127.0.0.2 db.fulcrum.test\n127.0.0.4 db.fulcrum.test\n::1 db.fulcrum.test\n');
  await until(() => up(h).includes(`127.0.0.4:${port}`), 10_000);
  expect(up(h)).toEqual([`127.0.0.2:${port}`, `127.0.0.4:${port}`, `[::1]:${port}`]);
  // Removed, but its session goes on until drainTimeout.
  expect(states(h)[`127.0.0.3:${port}`]).toBe('removed');
  held!.write('still here\n');
  expect(await new Promise((r) => held!.once('data', (d) => r(String(d))))).toBe('still here\n');
  await closed;
  await until(() => states(h)[`127.0.0.3:${port}`] === undefined);
  expect(found(h).found.map((f) => f.address).sort()).toEqual([`127.0.0.2:${port}`, `127.0.0.4:${port}`, `[::1]:${port}`]);
  expect(found(h).lookups.ok).toBeGreaterThanOrEqual(2);
});

test('NXDOMAIN, SERVFAIL and timeouts keep the last good set, counted and shown with its age', async () => {
  expect.assertions(13);
  await dnsmasq.setHosts('127.0.0.2 flaky.fulcrum.test\n');
  const h = await run([entry('dns', `flaky.fulcrum.test:${port}`)], {}, fault.port);
  await until(() => up(h).length === 1);
  const source = `dns:flaky.fulcrum.test:${port}`;
  const failures = (result: string) => found(h).lookups[result];

  fault.mode = 'servfail';
  await until(() => failures('servfail') >= 2, 10_000);
  expect(up(h)).toEqual([`127.0.0.2:${port}`]);
  expect(found(h).failing).toMatchObject({ result: 'servfail' });

  fault.mode = 'drop';
  await until(() => failures('timeout') >= 1, 10_000);
  expect(up(h)).toEqual([`127.0.0.2:${port}`]);
  expect(found(h).failing).toMatchObject({ result: 'timeout' });

  fault.mode = 'forward';
  await dnsmasq.setHosts('');
  await until(() => failures('nxdomain') >= 2, 10_000);
  expect(up(h)).toEqual([`127.0.0.2:${port}`]);
  const status = found(h);
  expect(status.failing).toMatchObject({ result: 'nxdomain' });
  expect(status.found).toHaveLength(1);
  expect(status.lastSuccessAgoMs).toBeGreaterThan(status.failing!.forMs - 1);
  const metrics = (await renderMetrics(h.manager.status())).body;
  expect(metrics).toContain(`fulcrum_discovery_lookups_total{service="svc",source="${source}",result="nxdomain"}`);
  expect(metrics).toContain(`fulcrum_discovery_backends{service="svc",source="${source}"} 1`);
  expect(metrics).toMatch(new RegExp(`fulcrum_discovery_last_change_seconds\\{service="svc",source="${source}"\\} [0-9.]+\n`));

  // The name comes back with another address: followed again.
  await dnsmasq.setHosts('127.0.0.4 flaky.fulcrum.test\n');
  await until(() => up(h).join() === `127.0.0.4:${port}`, 10_000);
  expect(found(h).failing).toBeNull();
  expect(states(h)[`127.0.0.2:${port}`]).toBe('removed');
});

test('SRV: targets with port and weight; the lowest priority is primary, the others backups', async () => {
  expect.assertions(5);
  await dnsmasq.setHosts('127.0.0.2 a.fulcrum.test\n127.0.0.3 b.fulcrum.test\n127.0.0.4 c.fulcrum.test\n');
  await dnsmasq.setSrv([`_pg._tcp.fulcrum.test,a.fulcrum.test,${port},10,30`, `_pg._tcp.fulcrum.test,b.fulcrum.test,${port},10,10`, `_pg._tcp.fulcrum.test,c.fulcrum.test,${port},20,5`]);
  const h = await run([entry('srv', '_pg._tcp.fulcrum.test')], { balance: 'round-robin' });
  await until(() => service(h).pool.backends.filter((b) => b.usable).length === 3);
  const view = () => Object.fromEntries(service(h).pool.backends.map((b) => [b.address.text, { weight: b.weight, backup: b.backup }]));
  expect(view()).toEqual({
    [`127.0.0.2:${port}`]: { weight: 30, backup: false },
    [`127.0.0.3:${port}`]: { weight: 10, backup: false },
    [`127.0.0.4:${port}`]: { weight: 5, backup: true },
  });
  // Backups take sessions only when no primary is usable.
  expect(service(h).pool.usable.map((b) => b.address.text).sort()).toEqual([`127.0.0.2:${port}`, `127.0.0.3:${port}`]);

  // The records change (a restart of dnsmasq: SRV lines are read at its start; lookups fail meanwhile and keep the set).
  // SRV weights past fulcrum's 1000 keep their proportions.
  await dnsmasq.setSrv([`_pg._tcp.fulcrum.test,b.fulcrum.test,${port},5,40000`, `_pg._tcp.fulcrum.test,c.fulcrum.test,${port},7,10000`]);
  await until(() => view()[`127.0.0.4:${port}`]?.backup === true && view()[`127.0.0.3:${port}`]?.backup === false && states(h)[`127.0.0.2:${port}`] === 'removed', 10_000);
  expect(service(h).pool.usable.map((b) => b.address.text)).toEqual([`127.0.0.3:${port}`]);
  expect(view()).toMatchObject({ [`127.0.0.3:${port}`]: { weight: 1000, backup: false }, [`127.0.0.4:${port}`]: { weight: 250, backup: true } });
  expect(h.manager.status().services[0].discovery![0].found).toHaveLength(2);
});

test('a first lookup that fails is a start error, unless the entry is optional', async () => {
  expect.assertions(4);
  await dnsmasq.setHosts('');
  await expect(run([entry('dns', `missing.fulcrum.test:${port}`)])).rejects.toMatchObject({
    code: 'ERR_FULCRUM_DISCOVERY',
    details: [expect.stringContaining(`dns:missing.fulcrum.test:${port} (service svc): nxdomain`)],
  });
  const h = await run([entry('dns', `missing.fulcrum.test:${port}`, { optional: true })]);
  expect(service(h).pool.backends).toHaveLength(0);
  await dnsmasq.setHosts('127.0.0.3 missing.fulcrum.test\n');
  await until(() => up(h).length === 1, 10_000);
  expect(up(h)).toEqual([`127.0.0.3:${port}`]);
  expect(found(h).lookups.nxdomain).toBeGreaterThanOrEqual(1);
});

test('a reload adds a hostname entry after looking it up; one that does not resolve is refused and changes nothing', async () => {
  expect.assertions(4);
  await dnsmasq.setHosts('127.0.0.2 one.fulcrum.test\n127.0.0.4 two.fulcrum.test\n');
  const h = await run([entry('dns', `one.fulcrum.test:${port}`)]);
  await until(() => up(h).length === 1);
  const config = (entries: DiscoveryEntry[]) => fulcrumConfig([tcpService([], { discovery: entries, health })], { discovery: discovery(dnsmasq.port) });
  await expect(h.manager.apply(config([entry('dns', `one.fulcrum.test:${port}`), entry('dns', `nope.fulcrum.test:${port}`)]))).rejects.toMatchObject({ code: 'ERR_FULCRUM_DISCOVERY' });
  expect(h.manager.status().services[0].discovery!.map((d) => d.source)).toEqual([`dns:one.fulcrum.test:${port}`]);
  await h.manager.apply(config([entry('dns', `one.fulcrum.test:${port}`), entry('dns', `two.fulcrum.test:${port}`, { weight: 4 })]));
  await until(() => up(h).length === 2);
  expect(up(h)).toEqual([`127.0.0.2:${port}`, `127.0.0.4:${port}`]);
  expect(service(h).pool.backends.find((b) => b.address.host === '127.0.0.4')!.weight).toBe(4);
});
