import net from 'node:net';
import pino from 'pino';
import { RoundRobinBalancer } from '../../src/balancer';
import { Backend } from '../../src/pool/backend';
import { tcpSettings, udpSettingsOf } from '../../src/proxy/settings';
import { TcpProxy, type SourceLimiterLike } from '../../src/proxy/tcp-proxy';
import { backend, ep, tcpService, timeouts } from '../helpers/config';
import { close, connect, listen } from '../helpers/net';
import { until } from '../helpers/dns';

const silent = pino({ level: 'silent' });

function proxyOf(settings = tcpSettings(tcpService([]), false), createLimiter?: (ps: NonNullable<typeof settings.perSource>) => SourceLimiterLike) {
  const balancer = new RoundRobinBalancer();
  const hooks = { connectFailed: () => {}, hasUsableBackend: () => true, pickBackup: () => null };
  return { proxy: new TcpProxy('t', settings, { balancer, log: silent, hooks, createLimiter }), balancer };
}

test('settings are plain data: a structured clone is equal', () => {
  const config = tcpService([], { perSource: { maxConnections: 3, tableSize: 100 }, acceptProxy: [{ family: 4, address: '10.0.0.0', prefix: 8, text: '10.0.0.0/8' }] });
  const tcp = tcpSettings(config, true);
  expect(structuredClone(tcp)).toEqual(tcp);
  const udp = udpSettingsOf({ ...config, protocol: 'udp' }, false);
  expect(structuredClone(udp)).toEqual(udp);
});

test('a live session keeps the settings it started with; applySettings() applies to new sessions', async () => {
  // A backend that never ends its side: a client's FIN leaves the session half-closed, bounded by halfClose.
  const held = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    held.add(s);
    s.on('error', () => {});
  });
  const backendPort = await listen(server);
  const { proxy, balancer } = proxyOf(tcpSettings(tcpService([], { timeouts: timeouts({ halfClose: 300 }) }), false));
  balancer.rebuild([new Backend(backend(backendPort))]);
  const { port } = await proxy.listen(ep(0));
  try {
    const before = await connect(port);
    before.on('error', () => {});
    await until(() => held.size === 1);
    // halfClose is read when a FIN arrives, after this: the session must still use its own 300 ms.
    proxy.applySettings(tcpSettings(tcpService([], { timeouts: timeouts({ halfClose: 0 }) }), false));
    const after = await connect(port);
    after.on('error', () => {});
    await until(() => held.size === 2);
    before.end();
    after.end();
    expect(await until(() => before.destroyed, 3000)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(after.destroyed).toBe(false);
    expect(proxy.stats().sessions).toBe(1);
    after.destroy();
    for (const s of held) s.destroy(); // the backend side ends the half-open session
    await proxy.whenIdle();
    const stats = proxy.stats();
    expect(structuredClone(stats)).toEqual(stats);
    expect(stats).toMatchObject({ accepted: 2, sessions: 0, udp: null });
    expect(stats.sessionTime.counts?.reduce((a, b) => a + b, 0)).toBe(2);
  } finally {
    proxy.stopAccepting();
    for (const s of held) s.destroy();
    await close(server);
  }
});

test('the per-source limiter is built by deps.createLimiter and replaced only when perSource changed', () => {
  const built: SourceLimiterLike[] = [];
  const make = () => {
    const l: SourceLimiterLike = { acquire: () => 'ok', release: () => {} };
    built.push(l);
    return l;
  };
  const config = tcpService([], { perSource: { maxConnections: 3, tableSize: 100 } });
  const { proxy } = proxyOf(tcpSettings(config, false), make);
  expect(built).toHaveLength(1);
  expect(proxy.admission.limiter).toBe(built[0]);
  proxy.applySettings(tcpSettings({ ...config, retries: 5, perSource: { maxConnections: 3, tableSize: 100 } }, false));
  expect(proxy.admission.limiter).toBe(built[0]);
  expect(proxy.settings.retries).toBe(5);
  proxy.applySettings(tcpSettings({ ...config, perSource: { maxConnections: 4, tableSize: 100 } }, false));
  expect(built).toHaveLength(2);
  expect(proxy.admission.limiter).toBe(built[1]);
  proxy.applySettings(tcpSettings({ ...config, perSource: null }, false));
  expect(proxy.admission.limiter).toBeNull();
});

