import net from 'node:net';
import { start } from '../../src/index';
import { backend, fulcrumConfig, tcpService, timeouts } from '../helpers/config';
import { blackhole, fdCount, refusedPort, until } from '../helpers/net';

/** Open `total` client connections, `concurrency` at a time, each waiting for fulcrum to close it. */
async function hammer(port: number, total: number, concurrency: number): Promise<number> {
  let started = 0;
  let closed = 0;
  await new Promise<void>((resolve) => {
    const next = () => {
      if (started >= total) return;
      started++;
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => {
        closed++;
        if (closed === total) resolve();
        else next();
      });
    };
    for (let i = 0; i < concurrency; i++) next();
  });
  return closed;
}

test('descriptors return to baseline after 10,000 refused connects', async () => {
  const h = await start(fulcrumConfig([tcpService([backend(await refusedPort()), backend(await refusedPort())], { retries: 1 })]));
  try {
    const svc = h.manager.services[0];
    const port = h.addresses.get('svc')!.port;
    const baseline = fdCount();
    expect(await hammer(port, 10_000, 64)).toBe(10_000);
    await until(() => svc.proxy.sessions.size === 0);
    expect(svc.tcp!.rejects.connect_failed).toBe(10_000);
    const failures = svc.pool.backends.reduce((n, b) => n + b.connectFailures, 0);
    expect(failures).toBe(20_000);
    await until(() => fdCount() <= baseline, 5000);
    expect(fdCount()).toBeLessThanOrEqual(baseline);
  } finally {
    await h.stop(0);
  }
}, 120_000);

test('descriptors return to baseline after timed-out connects', async () => {
  const hole = await blackhole();
  const h = await start(fulcrumConfig([tcpService([backend(hole.port)], { retries: 0, timeouts: timeouts({ connect: 50, idle: 60000 }) })]));
  try {
    const svc = h.manager.services[0];
    const port = h.addresses.get('svc')!.port;
    const baseline = fdCount();
    expect(await hammer(port, 1000, 100)).toBe(1000);
    await until(() => svc.proxy.sessions.size === 0);
    expect(svc.pool.backends[0].connectFailures).toBe(1000);
    await until(() => fdCount() <= baseline, 5000);
    expect(fdCount()).toBeLessThanOrEqual(baseline);
  } finally {
    await h.stop(0);
    hole.stop();
  }
}, 120_000);
