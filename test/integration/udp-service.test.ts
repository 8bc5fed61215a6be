import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { parseCidr } from '../../src/admission/cidr';
import type { ServiceConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import { HealthFlag } from '../../src/pool/backend';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';
import { until } from '../helpers/net';
import { decodeProxy } from '../helpers/proxy-decoder';

/**
 * UDP services end to end through start(): config → manager → UdpProxy. The
 * data plane's own edge cases (caps, expiry, reply ratio...) are in
 * udp-proxy.test.ts; this file checks the wiring, admission, PROXY v2 per
 * datagram, health and a real DNS exchange (dnsmasq + dig, installed by .ci/run).
 */

const handles: FulcrumHandle[] = [];
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  for (const s of sockets.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed by the test
    }
  }
});

function udpService(ports: number[], extra: Partial<ServiceConfig> = {}): ServiceConfig {
  return tcpService(
    ports.map((p) => backend(p)),
    { protocol: 'udp', balance: 'source-hash', ...extra },
  );
}

/** An echo backend that prefixes its name, and records raw datagrams. */
async function udpEcho(name: string): Promise<{ port: number; seen: Buffer[] }> {
  const seen: Buffer[] = [];
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.on('message', (m, r) => {
    seen.push(m);
    s.send(Buffer.concat([Buffer.from(`${name}:`), m]), r.port, r.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, seen };
}

async function client(bindAddress = '127.0.0.1', port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(port, bindAddress, r));
  return s;
}

function ask(s: dgram.Socket, port: number, text: string, timeoutMs = 1000): Promise<string | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => (s.removeListener('message', on), resolve(null)), timeoutMs);
    const on = (m: Buffer) => (clearTimeout(t), s.removeListener('message', on), resolve(m.toString()));
    s.on('message', on);
    s.send(text, port, '127.0.0.1');
  });
}

test('a udp service proxies datagrams both ways and counts them', async () => {
  const a = await udpEcho('a');
  const h = await start(fulcrumConfig([udpService([a.port])]));
  handles.push(h);
  const port = h.addresses.get('svc')!.port;
  const c = await client();
  expect(await ask(c, port, 'ping')).toBe('a:ping');
  expect(await ask(c, port, 'pong')).toBe('a:pong');
  const st = h.manager.status().services[0];
  expect(st.protocol).toBe('udp');
  expect(st.udp).toMatchObject({ sessions: 1, datagramsIn: 2, datagramsOut: 2 });
  expect(st.backends[0]).toMatchObject({ active: 1, total: 1 });
});

test('denied sources and privileged source ports are dropped and counted', async () => {
  const a = await udpEcho('a');
  const h = await start(fulcrumConfig([udpService([a.port], { deny: [parseCidr('127.0.0.9')] })]));
  handles.push(h);
  const port = h.addresses.get('svc')!.port;
  expect(await ask(await client('127.0.0.9'), port, 'x', 300)).toBeNull();
  // Root may bind a port below 1024: a reflection attack's spoofed source would look like this.
  const low = await client('127.0.0.1', 1000 + Math.floor(Math.random() * 23));
  expect(await ask(low, port, 'x', 300)).toBeNull();
  expect(await ask(await client('127.0.0.2'), port, 'ok')).toBe('a:ok');
  expect(h.manager.status().services[0].udp!.dropped).toMatchObject({ acl: 1, privileged_source: 1 });
  expect(a.seen.map(String)).toEqual(['ok']);
});

test('proxyProtocol v2 prefixes each datagram with a DGRAM header naming the client', async () => {
  const a = await udpEcho('a');
  // The echo sends the PROXY header back too: its first reply is ~10x the 3-byte request (amplificationLimit).
  const udp = { ...tcpService([]).udp, amplificationLimit: 0 };
  const h = await start(fulcrumConfig([udpService([a.port], { proxyProtocol: 'v2', udp })]));
  handles.push(h);
  const port = h.addresses.get('svc')!.port;
  const c = await client('127.0.0.3');
  expect(await ask(c, port, 'one')).not.toBeNull();
  expect(await ask(c, port, 'two')).not.toBeNull();
  expect(a.seen).toHaveLength(2);
  for (const [i, raw] of a.seen.entries()) {
    const d = decodeProxy(raw);
    expect(d).toMatchObject({ version: 2, command: 'PROXY', proto: 'UDP4', src: '127.0.0.3', srcPort: c.address().port, dstPort: port });
    expect(raw.subarray(d.length).toString()).toBe(['one', 'two'][i]);
  }
});

test('udp health: a udpProbe that gets no reply marks the backend down; its clients move', async () => {
  const a = await udpEcho('a');
  const b = await udpEcho('b');
  const health = { enabled: true, interval: 100, timeout: 100, rise: 1, fall: 2, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false, udpProbe: { send: Buffer.from('hi'), expect: 'any' as const } };
  const h = await start(fulcrumConfig([udpService([a.port, b.port], { health, balance: 'round-robin' })]));
  handles.push(h);
  const svc = h.manager.services[0];
  expect(svc.pool.backends.every((x) => x.usable)).toBe(true);
  const port = h.addresses.get('svc')!.port;
  const c1 = await client();
  const first = (await ask(c1, port, 'q'))!;
  const owner = first.startsWith('a:') ? 0 : 1;
  // Silence the owner: close its socket, so probes (and the client's datagrams) get no answer.
  sockets[owner].close();
  await until(() => !svc.pool.backends[owner].usable, 3000);
  expect(await ask(c1, port, 'again')).toBe(`${owner === 0 ? 'b' : 'a'}:again`);
});

test('without an active check, ICMP refusals mark a udp backend down; it comes back after health.passiveHold', async () => {
  expect.assertions(5);
  const a = await udpEcho('a');
  const dead = await client(); // bound, then closed: its port answers with ICMP port unreachable
  const deadPort = dead.address().port;
  dead.close();
  const health = { ...tcpService([]).health, enabled: true, passiveFailures: 2, passiveHold: 2000 };
  const h = await start(fulcrumConfig([udpService([a.port, deadPort], { health, balance: 'round-robin' })]));
  handles.push(h);
  const svc = h.manager.services[0];
  const down = svc.pool.backends[1];
  const port = h.addresses.get('svc')!.port;
  // New clients alternate between the two backends; those of the dead one get refusals.
  const clients = await Promise.all(Array.from({ length: 6 }, () => client()));
  for (const c of clients) for (let i = 0; i < 3; i++) c.send('q', port, '127.0.0.1');
  await until(() => !down.usable, 3000);
  expect(down.health & HealthFlag.FailedPassiveCheck).toBe(HealthFlag.FailedPassiveCheck);
  // Every client is served by the live backend now, the dead one's too (reassigned).
  const answers = await Promise.all(clients.map((c) => ask(c, port, 'again', 1500)));
  // (A late reply to a first 'q' may be what a live backend's client reads first.)
  expect(answers.every((x) => x !== null && x.startsWith('a:'))).toBe(true);
  // After the hold the backend gets traffic again, with a fresh failure streak.
  await until(() => down.usable, 5000);
  expect(down.consecutiveFailures).toBe(0);
  // Still dead: the next refusals mark it down once more.
  const late = await Promise.all(Array.from({ length: 4 }, () => client()));
  for (const c of late) for (let i = 0; i < 3; i++) c.send('q', port, '127.0.0.1');
  await until(() => !down.usable, 3000);
  expect(down.usable).toBe(false);
  expect(svc.pool.backends[0].usable).toBe(true);
});

test('quick mode --udp runs a udp service with source-hash', async () => {
  const { spawnCli, listeningPort } = await import('../helpers/cli');
  const a = await udpEcho('a');
  const p = spawnCli(['run', '--udp', '--listen', '127.0.0.1:0', '--backend', `127.0.0.1:${a.port}`]);
  try {
    const line = await p.waitFor((l) => l.includes('"service listening"'));
    expect(JSON.parse(line).balance).toBe('source-hash');
    const port = await listeningPort(p, 'quick');
    expect(await ask(await client(), port, 'hey')).toBe('a:hey');
  } finally {
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  }
});

/** One A query with dig (3 tries, 2 s each), the answer as text. */
function digA(port: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('dig', ['@127.0.0.1', '-p', String(port), 'fulcrum.test', 'A', '+short', '+tries=3', '+time=2'], (err, out) => (err ? reject(err) : resolve(out.trim()))),
  );
}

describe('DNS through fulcrum (dnsmasq + dig)', () => {
  let dnsmasq: ChildProcess | null = null;
  let dnsPort = 0;
  beforeAll(async () => {
    // dnsmasq takes the port for UDP and TCP and cannot report an ephemeral one: pick a free
    // UDP port and retry with another when the TCP side of it is taken (it exits at once).
    let stderr = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const probe = await client();
      dnsPort = probe.address().port;
      probe.close();
      sockets.splice(sockets.indexOf(probe), 1);
      const child = spawn('dnsmasq', ['--no-daemon', '--keep-in-foreground', `--port=${dnsPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--address=/fulcrum.test/192.0.2.53', '--user=root'], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d) => (stderr += d));
      let exited = false;
      child.on('exit', () => (exited = true));
      dnsmasq = child;
      // Ready when it answers directly (bounded): a fixed sleep is not enough on a loaded machine.
      for (let i = 0; i < 50 && !exited; i++) {
        if ((await digA(dnsPort).catch(() => '')) === '192.0.2.53') return;
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGKILL');
    }
    throw new Error(`dnsmasq did not answer: ${stderr}`);
  });
  afterAll(() => dnsmasq?.kill('SIGKILL'));

  test('dig resolves through a udp service with responses: 1', async () => {
    const h = await start(fulcrumConfig([udpService([dnsPort], { udp: { ...tcpService([]).udp, responses: 1 } })]));
    handles.push(h);
    const port = h.addresses.get('svc')!.port;
    expect(await digA(port)).toBe('192.0.2.53');
    // responses: 1 freed the session after its one reply.
    await until(() => h.manager.status().services[0].udp!.sessions === 0);
    // One query, one answer (dig may retry on a loaded machine: then each try is its own session).
    const udp = h.manager.status().services[0].udp!;
    expect(udp.datagramsIn).toBeGreaterThanOrEqual(1);
    expect(udp.datagramsOut).toBe(udp.datagramsIn);
  });
});

