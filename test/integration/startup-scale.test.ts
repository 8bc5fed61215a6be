/**
 * Startup work must grow linearly with the number of backends (issue 11,
 * item 4: 16k backends took 3.3 s, 53k a minute). Timing belongs in
 * benchmarks/, so these tests count work instead: reads of the backend
 * configs while a Service is built, and the backends handed to the balancer
 * while the first round of health checks brings every backend up. Only
 * 127.0.0.1 is ever contacted (health checks go to health.port, one local
 * server).
 */
import net from 'node:net';
import { LeastConnBalancer } from '../../src/balancer';
import type { BackendConfig } from '../../src/config/types';
import { rootLogger } from '../../src/log';
import { Service } from '../../src/manager/service';
import { backend, tcpService } from '../helpers/config';
import { close, echoServer } from '../helpers/net';

afterEach(() => jest.restoreAllMocks());

test('building a service reads each backend config a bounded number of times', () => {
  expect.assertions(2);
  const n = 4000;
  let reads = 0;
  const configs = Array.from({ length: n }, (_, i) =>
    new Proxy(backend(1 + i), {
      get(target, key, receiver) {
        reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    }),
  );
  const service = new Service(tcpService(configs, { balance: 'least-conn' }), { logConnections: false, log: rootLogger });
  service.stop();
  expect(service.pool.backends).toHaveLength(n);
  // A lookup by name per backend read ~n²/2 = 8,000,000 names; linear is a few dozen per backend.
  expect(reads).toBeLessThan(50 * n);
});

test('the first round of health checks rebuilds the balancer a bounded number of times', async () => {
  expect.assertions(3);
  const n = 1000;
  const checked = await echoServer();
  let rebuilt = 0;
  const rebuild = LeastConnBalancer.prototype.rebuild;
  jest.spyOn(LeastConnBalancer.prototype, 'rebuild').mockImplementation(function (this: LeastConnBalancer, backends) {
    rebuilt += backends.length;
    rebuild.call(this, backends);
  });
  // Distinct backend ports that nobody dials: every check goes to health.port.
  const backends: BackendConfig[] = Array.from({ length: n }, (_, i) => backend(1 + i));
  const health = { enabled: true, interval: 60_000, timeout: 5000, rise: 1, fall: 1, passiveFailures: 3, proxyProtocol: false, port: checked.port };
  const service = new Service(tcpService(backends, { balance: 'least-conn', health }), { logConnections: false, log: rootLogger });
  try {
    await service.startChecks();
    expect(service.pool.usable).toHaveLength(n);
    // One rebuild per verdict (or per flip to "unknown" at construction) handed the balancer ~n²/2 backends.
    expect(rebuilt).toBeLessThan(5 * n);
    expect(rebuilt).toBeGreaterThanOrEqual(n);
  } finally {
    service.stop();
    for (const s of checked.sockets) s.destroy();
    await close(checked.server as net.Server);
  }
});
