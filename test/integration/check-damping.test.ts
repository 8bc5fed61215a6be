import http from 'node:http';
import pino from 'pino';
import { Service } from '../../src/manager/service';
import { backendStatus } from '../../src/manager/status-report';
import { formatStatus } from '../../cli/status';
import { FakeClock } from '../helpers/fake-clock';
import { backend, tcpService } from '../helpers/config';
import { close, listen, until } from '../helpers/net';

/** Flap damping end to end: a Service on a fake clock, checking a real HTTP backend. */
const CONFIG = { changes: 4, window: 60_000, hold: 30_000, maxHold: 100_000 };

test('a real backend failing every third check is damped (status: damped, time left), then released when it settles', async () => {
  expect.assertions(8);
  // An HTTP health endpoint that answers 503 to every third request, until told to be steady.
  let n = 0;
  let steady = false;
  const server = http.createServer((_req, res) => {
    const fail = !steady && n++ % 3 === 2;
    res.writeHead(fail ? 503 : 200).end();
  });
  const port = await listen(server);
  const clock = new FakeClock();
  const config = tcpService([backend(port)], {
    health: { enabled: true, interval: 1000, timeout: 500, rise: 1, fall: 1, passiveFailures: 0, passiveHold: 10_000, proxyProtocol: false, type: 'http', http: { method: 'GET', path: '/', expectStatus: null }, damping: CONFIG },
  });
  const svc = new Service(config, { logConnections: false, log: pino({ level: 'silent' }), clock });
  const b = svc.pool.backends[0];
  await svc.startChecks();
  const checks = () => svc.healthInfo(b)!.checks;
  /** One interval of fake time, then wait (real time) for that check's real HTTP answer. */
  const tick = async () => {
    const before = checks();
    await clock.advance(1100);
    await until(() => checks() > before, 10_000);
  };
  try {
    // ok ok FAIL: with rise 1 / fall 1 every third check flips the verdict down and the next one up.
    let ticks = 0;
    while (backendStatus(svc, b).state !== 'damped' && ticks++ < 30) await tick();
    const damped = backendStatus(svc, b);
    expect(damped).toMatchObject({ state: 'damped', reasons: expect.arrayContaining(['damped']) });
    expect(damped.dampedMs).toBeGreaterThan(25_000);
    expect(b.usable).toBe(false);
    const table = formatStatus({ version: 'x', pid: 1, uptimeSeconds: 1, configFile: null, peer: null, timerErrors: 0, services: [{ ...serviceStub(), backends: [damped] }] });
    expect(table).toMatch(/damped \(\d+s left\)/);
    // It settles; checks pass, but the hold keeps it out until the hold ends.
    steady = true;
    for (let i = 0; i < 5; i++) await tick();
    expect(b.usable).toBe(false);
    while (backendStatus(svc, b).state === 'damped' && ticks++ < 80) await tick();
    expect(backendStatus(svc, b)).toMatchObject({ state: 'up', dampedMs: null });
    expect(b.usable).toBe(true);
    expect(backendStatus(svc, b).health?.result).toBe('http 200');
  } finally {
    svc.stop();
    await close(server);
  }
});

function serviceStub() {
  const none = { count: 0, p50: null, p90: null, p99: null, p999: null, max: null };
  return { name: 'svc', protocol: 'tcp' as const, listen: '127.0.0.1:1', balance: 'round-robin', active: 0, accepted: 0, rejected: {}, connectTime: none, sessionTime: none, udp: null };
}
