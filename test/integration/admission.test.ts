import net from 'node:net';
import { parseCidr } from '../../src/admission/cidr';
import { MaglevBalancer } from '../../src/balancer/source-hash';
import { hashSource } from '../../src/balancer/hash';
import type { ServiceConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import { Backend } from '../../src/pool/backend';
import { backend, ep, fulcrumConfig, tcpService, timeouts } from '../helpers/config';
import { close, echoServer, listen, readAll, until } from '../helpers/net';
import { DATAPLANE_MODES, useDataPlaneMode } from '../helpers/dataplane-mode';
import { decodeProxy } from '../helpers/proxy-decoder';

const handles: FulcrumHandle[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
});

async function run(ports: number[], extra: Partial<ServiceConfig> = {}) {
  const h = await start(fulcrumConfig([tcpService(ports.map((p) => backend(p)), extra)]));
  handles.push(h);
  const svc = h.manager.services[0];
  return { h, svc, port: svc.address!.port, host: svc.address!.host };
}

async function echo() {
  const e = await echoServer();
  servers.push(e.server);
  return e;
}

/** A backend that records the first bytes of every connection. */
async function recorder() {
  const firsts: Buffer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => {
      firsts.push(Buffer.concat(chunks));
      s.end('ok');
    });
  });
  servers.push(server);
  return { firsts, port: await listen(server) };
}

/** Connect from a chosen loopback source address. */
function connectFrom(port: number, localAddress: string, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, localAddress, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the data received, or the error code if the connection was reset. */
function outcome(s: net.Socket): Promise<string> {
  return readAll(s).then((b) => b.toString(), (err: NodeJS.ErrnoException) => err.code ?? 'error');
}

async function roundTripFrom(port: number, local: string, payload = 'hi'): Promise<string> {
  const s = await connectFrom(port, local);
  const r = outcome(s);
  s.end(payload);
  return r;
}

test('deny and allow lists: denied clients are closed before any backend connect, counted as acl', async () => {
  const e = await echo();
  let backendConnections = 0;
  e.server.on('connection', () => backendConnections++);
  const { svc, port } = await run([e.port], { allow: [parseCidr('127.0.0.0/8')], deny: [parseCidr('127.0.0.9')] });
  expect(await roundTripFrom(port, '127.0.0.2')).toBe('hi');
  expect(await roundTripFrom(port, '127.0.0.9')).not.toBe('hi');
  expect(svc.tcp!.rejects.acl).toBe(1);
  expect(backendConnections).toBe(1);
  const only = await run([e.port], { allow: [parseCidr('127.0.0.3/32')] });
  expect(await roundTripFrom(only.port, '127.0.0.3')).toBe('hi');
  expect(await roundTripFrom(only.port, '127.0.0.4')).not.toBe('hi');
  expect(only.svc.tcp!.rejects.acl).toBe(1);
});

test('IPv6 clients are matched by IPv6 rules', async () => {
  const e = await echo();
  const h = await start(fulcrumConfig([tcpService([backend(e.port)], { listen: ep(0, '::1'), deny: [parseCidr('::1/128')] })]));
  handles.push(h);
  const svc = h.manager.services[0];
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect({ port: svc.address!.port, host: '::1', allowHalfOpen: true }, () => resolve(c));
    c.once('error', reject);
  });
  const r = outcome(s);
  s.end('x');
  expect(await r).not.toBe('x');
  expect(svc.tcp!.rejects.acl).toBe(1);
});

test('an IPv4-mapped IPv6 client (from a trusted TCP6 PROXY header) is matched by IPv4 rules', async () => {
  const e = await echo();
  const { svc, port } = await run([e.port], { acceptProxy: [parseCidr('127.0.0.1/32')], deny: [parseCidr('10.1.2.0/24')] });
  const mapped = await connectFrom(port, '127.0.0.1');
  const r1 = outcome(mapped);
  mapped.end('PROXY TCP6 ::ffff:10.1.2.3 ::1 4000 5432\r\nx');
  expect(await r1).not.toBe('x');
  expect(svc.tcp!.rejects.acl).toBe(1);
  const other = await connectFrom(port, '127.0.0.1');
  const r2 = outcome(other);
  other.end('PROXY TCP6 ::ffff:10.9.9.9 ::1 4000 5432\r\ny');
  expect(await r2).toBe('y');
});

test('per-backend maxConnections: a full backend is skipped; all full refuses as backends_full', async () => {
  const a = await echo();
  const b = await echo();
  const h = await start(fulcrumConfig([tcpService([backend(a.port, { maxConnections: 1 }), backend(b.port, { maxConnections: 1 })], { balance: 'least-conn' })]));
  handles.push(h);
  const svc = h.manager.services[0];
  const port = svc.address!.port;
  const s1 = await connectFrom(port, '127.0.0.1');
  const s2 = await connectFrom(port, '127.0.0.1');
  await until(() => svc.pool.backends.every((x) => x.active === 1));
  expect(await roundTripFrom(port, '127.0.0.1')).not.toBe('hi');
  expect(svc.tcp!.rejects.backends_full).toBe(1);
  s1.destroy();
  await until(() => svc.pool.backends.some((x) => x.active === 0));
  expect(await roundTripFrom(port, '127.0.0.1')).toBe('hi');
  s2.destroy();
});

test('per-source limits: concurrent cap, rate limit, and a full table fails closed', async () => {
  const e = await echo();
  const cap = await run([e.port], { perSource: { maxConnections: 2, tableSize: 100 } });
  const held = [await connectFrom(cap.port, '127.0.0.5'), await connectFrom(cap.port, '127.0.0.5')];
  await until(() => cap.svc.pool.backends[0].active === 2);
  expect(await roundTripFrom(cap.port, '127.0.0.5')).not.toBe('hi');
  expect(await roundTripFrom(cap.port, '127.0.0.6')).toBe('hi');
  expect(cap.svc.tcp!.rejects.source_max_connections).toBe(1);
  held.forEach((s) => s.destroy());

  const rate = await run([e.port], { perSource: { ratePerSecond: 1, burst: 2, tableSize: 100 } });
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await roundTripFrom(rate.port, '127.0.0.7'));
  expect(results.slice(0, 2)).toEqual(['hi', 'hi']);
  expect(results[2]).not.toBe('hi');
  expect(rate.svc.tcp!.rejects.rate_limit).toBe(1);

  const table = await run([e.port], { perSource: { maxConnections: 10, tableSize: 1 } });
  const holder = await connectFrom(table.port, '127.0.0.8');
  await until(() => table.svc.pool.backends[0].active === 1);
  expect(await roundTripFrom(table.port, '127.0.0.10')).not.toBe('hi');
  expect(table.svc.tcp!.rejects.source_table_full).toBe(1);
  holder.destroy();
});

test('timeouts: a silent client is closed at idle; half-close and max lifetime are enforced', async () => {
  const e = await echo();
  const idle = await run([e.port], { timeouts: timeouts({ idle: 200 }) });
  const silent = await connectFrom(idle.port, '127.0.0.1');
  const t0 = Date.now();
  await outcome(silent);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(150);

  // A backend that never sends FIN back: the session must not stay half-closed forever.
  const muted: net.Socket[] = [];
  const mute = net.createServer({ allowHalfOpen: true }, (s) => muted.push(s.on('error', () => {}).resume()));
  servers.push(mute);
  const hc = await run([await listen(mute)], { timeouts: timeouts({ halfClose: 200 }) });
  const c = await connectFrom(hc.port, '127.0.0.1');
  c.end('bye');
  const t1 = Date.now();
  await outcome(c);
  expect(Date.now() - t1).toBeGreaterThanOrEqual(150);
  await until(() => hc.svc.proxy.sessions.size === 0);
  muted.forEach((m) => m.destroy()); // it never ends its side: let its server close

  const life = await run([e.port], { timeouts: timeouts({ maxLifetime: 300 }) });
  const chatty = await connectFrom(life.port, '127.0.0.1');
  chatty.on('data', () => {});
  const closed = outcome(chatty);
  const ticker = setInterval(() => chatty.writable && chatty.write('tick'), 50);
  await closed;
  clearInterval(ticker);
  await until(() => life.svc.proxy.sessions.size === 0);
});

test('PROXY v1 and v2 headers are written first to backends (service default, backend override)', async () => {
  const rec = await recorder();
  const h = await start(
    fulcrumConfig([
      tcpService([backend(rec.port)], { name: 'v1', proxyProtocol: 'v1' }),
      tcpService([backend(rec.port, { proxyProtocol: 'v2' })], { name: 'v2', proxyProtocol: 'v1' }),
      tcpService([backend(rec.port)], { name: 'v6', proxyProtocol: 'v2', listen: ep(0, '::1') }),
    ]),
  );
  handles.push(h);
  const [s1, s2, s6] = h.manager.services;
  expect(await roundTripFrom(s1.address!.port, '127.0.0.11', 'payload')).toBe('ok');
  expect(await roundTripFrom(s2.address!.port, '127.0.0.12', 'payload')).toBe('ok');
  const v6 = await new Promise<net.Socket>((resolve) => {
    const c = net.connect({ port: s6.address!.port, host: '::1', allowHalfOpen: true }, () => resolve(c));
  });
  const r6 = outcome(v6);
  v6.end('payload');
  expect(await r6).toBe('ok');
  await until(() => rec.firsts.length === 3);
  const [d1, d2, d6] = rec.firsts.map((b) => ({ d: decodeProxy(b), b }));
  expect(d1.d).toMatchObject({ version: 1, proto: 'TCP4', src: '127.0.0.11', dst: '127.0.0.1', dstPort: s1.address!.port });
  expect(d2.d).toMatchObject({ version: 2, command: 'PROXY', proto: 'TCP4', src: '127.0.0.12', dst: '127.0.0.1', dstPort: s2.address!.port });
  expect(d6.d).toMatchObject({ version: 2, proto: 'TCP6', src: '0:0:0:0:0:0:0:1', dstPort: s6.address!.port });
  for (const { d, b } of [d1, d2, d6]) expect(b.subarray(d.length).toString()).toBe('payload');
});

test('acceptProxy: a trusted front LB header sets the client address for source-hash and the header sent on', async () => {
  const rec = await recorder();
  const others = [await recorder(), await recorder(), await recorder()];
  const ports = [rec.port, ...others.map((o) => o.port)];
  const { svc, port } = await run(ports, { balance: 'source-hash', acceptProxy: [parseCidr('127.0.0.1/32')], proxyProtocol: 'v2' });
  // Which backend Maglev gives 203.0.113.7, computed independently from the same list.
  const ref = new MaglevBalancer();
  const refBackends = ports.map((p) => new Backend(backend(p)));
  ref.rebuild(refBackends);
  const expected = ref.pick({ sourceHash: hashSource('203.0.113.7'), tried: [] })!.address.port;
  for (let i = 0; i < 5; i++) {
    const s = await connectFrom(port, '127.0.0.1');
    const r = outcome(s);
    s.end(`PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\nquery ${i}`);
    expect(await r).toBe('ok');
  }
  const all = [rec, ...others];
  const target = all[ports.indexOf(expected)];
  expect(target.firsts).toHaveLength(5);
  const d = decodeProxy(target.firsts[0]);
  expect(d).toMatchObject({ version: 2, proto: 'TCP4', src: '203.0.113.7', srcPort: 40000, dst: '198.51.100.1', dstPort: 5432 });
  expect(target.firsts[0].subarray(d.length).toString()).toBe('query 0');
  expect(svc.tcp!.rejects.proxy_header).toBe(0);
});

test('acceptProxy: malformed, slow and untrusted headers are closed and counted', async () => {
  const e = await echo();
  const { svc, port } = await run([e.port], { acceptProxy: [parseCidr('127.0.0.1/32')], timeouts: timeouts({ proxyHeader: 200 }) });
  expect(await roundTripFrom(port, '127.0.0.1', 'PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\nx')).not.toBe('x');
  expect(await roundTripFrom(port, '127.0.0.1', 'GET / HTTP/1.0\r\n\r\n')).not.toContain('GET');
  const slow = await connectFrom(port, '127.0.0.1');
  slow.write('PROXY TCP4 ');
  await outcome(slow);
  expect(svc.tcp!.rejects.proxy_header).toBe(3);
  // Not a trusted source: its data is passed through, but a PROXY header from it is a spoof.
  expect(await roundTripFrom(port, '127.0.0.2', 'plain')).toBe('plain');
  expect(await roundTripFrom(port, '127.0.0.2', 'PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n')).not.toContain('PROXY');
  expect(svc.tcp!.rejects.proxy_untrusted).toBe(1);
  // A short first chunk that only looks like the start of a header is held, not refused...
  const ping = await connectFrom(port, '127.0.0.2');
  const pong = outcome(ping);
  ping.write('P');
  await new Promise((r) => setTimeout(r, 30));
  ping.end('ING');
  expect(await pong).toBe('PING');
  const crlf = await connectFrom(port, '127.0.0.2');
  const echoed = outcome(crlf);
  crlf.end('\r\n');
  expect(await echoed).toBe('\r\n');
  // ...and a header split across segments is still caught.
  const split = await connectFrom(port, '127.0.0.2');
  const splitOutcome = outcome(split);
  split.write('PRO');
  await new Promise((r) => setTimeout(r, 30));
  split.end('XY TCP4 10.0.0.1 10.0.0.2 1 2\r\n');
  expect(await splitOutcome).not.toContain('PROXY');
  expect(svc.tcp!.rejects.proxy_untrusted).toBe(2);
});

test('health checks send a PROXY v2 LOCAL header only with health.proxyProtocol', async () => {
  const rec = await recorder();
  const plain = await recorder();
  const h = await start(
    fulcrumConfig([
      tcpService([backend(rec.port)], { name: 'a', health: { enabled: true, interval: 60_000, timeout: 500, rise: 1, fall: 1, passiveFailures: 0, passiveHold: 10_000, proxyProtocol: true } }),
      tcpService([backend(plain.port)], { name: 'b', health: { enabled: true, interval: 60_000, timeout: 500, rise: 1, fall: 1, passiveFailures: 0, passiveHold: 10_000, proxyProtocol: false } }),
    ]),
  );
  handles.push(h);
  await until(() => rec.firsts.length === 1 && plain.firsts.length === 1);
  expect(decodeProxy(rec.firsts[0])).toMatchObject({ version: 2, command: 'LOCAL' });
  expect(plain.firsts[0].length).toBe(0);
});

// On either data plane, the verdict on the first bytes comes before any connect.
describe.each(DATAPLANE_MODES)('acceptProxy on data plane %s', (mode) => {
  useDataPlaneMode(mode);

  /** An echo backend that counts the connections it accepts. */
  async function countingEcho() {
    const e = await echo();
    const counter = { connections: 0 };
    e.server.on('connection', () => counter.connections++);
    return { port: e.port, counter };
  }

  test('an untrusted client’s PROXY header is refused before any backend connect', async () => {
    expect.assertions(6);
    const b = await countingEcho();
    const { svc, port } = await run([b.port], { acceptProxy: [parseCidr('127.0.0.1/32')] });
    const spoofs = [
      ['PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\nhello'],
      [Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 0]), Buffer.from('x')])],
      ['PRO', 'XY TCP4 10.0.0.1 10.0.0.2 1 2\r\n'], // split across segments
    ];
    for (const parts of spoofs) {
      const s = await connectFrom(port, '127.0.0.2');
      const r = outcome(s);
      for (const p of parts) {
        s.write(p);
        await new Promise((res) => setTimeout(res, 30));
      }
      expect(await r).toBe('');
    }
    await until(() => svc.proxy.sessions.size === 0);
    expect(svc.tcp!.rejects.proxy_untrusted).toBe(3);
    // A plain client from the same untrusted address is served, through one backend connection.
    expect(await roundTripFrom(port, '127.0.0.2', 'plain')).toBe('plain');
    // The refused ones never reached the backend, not even as a connect and close.
    expect(b.counter.connections).toBe(1);
  });

  test('an untrusted client that waits for the server to speak first is connected after timeouts.proxyHeader, its first bytes still checked', async () => {
    expect.assertions(4);
    const greeter = net.createServer((s) => {
      s.on('error', () => {});
      s.write('220 ready\r\n');
      s.on('data', () => {});
    });
    servers.push(greeter);
    const { svc, port } = await run([await listen(greeter)], { acceptProxy: [parseCidr('127.0.0.1/32')], timeouts: timeouts({ proxyHeader: 300 }) });
    const s = await connectFrom(port, '127.0.0.2');
    const t0 = Date.now();
    const greeting = await new Promise<string>((resolve) => s.once('data', (d) => resolve(d.toString())));
    expect(greeting).toBe('220 ready\r\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    // A header sent after the greeting is a spoof all the same.
    const r = outcome(s);
    s.write('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n');
    expect(await r).not.toContain('PROXY');
    expect(svc.tcp!.rejects.proxy_untrusted).toBe(1);
  });

  test('an untrusted client that half-closes before its first bytes are decided still reaches the backend', async () => {
    expect.assertions(2);
    const e = await echo();
    const { port } = await run([e.port], { acceptProxy: [parseCidr('127.0.0.1/32')] });
    // "P" could begin a header: held until the FIN settles it, then passed on with the FIN.
    expect(await roundTripFrom(port, '127.0.0.2', 'P')).toBe('P');
    expect(await roundTripFrom(port, '127.0.0.2', '')).toBe('');
  });
});
