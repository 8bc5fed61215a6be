import net from 'node:net';
import type { Endpoint } from '../../src/config/types';
import { tcpProbe } from '../../src/manager/health/tcp-probe';
import { blackhole, close, fdCount, listen, refusedPort, until } from '../helpers/net';

const at = (port: number): Endpoint => ({ host: '127.0.0.1', port, family: 4, text: `127.0.0.1:${port}` });

describe('tcpProbe (real sockets)', () => {
  let server: net.Server;
  let port: number;
  let accepted = 0;

  beforeAll(async () => {
    server = net.createServer((s) => {
      accepted++;
      s.on('error', () => {});
      s.resume(); // read until the probe closes, so the peer's FIN is seen
    });
    port = await listen(server);
  });
  afterAll(() => close(server));

  test('an open port is ok, with a latency', async () => {
    const before = accepted;
    const result = await tcpProbe(at(port), undefined, 1000);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.ms).toBeGreaterThanOrEqual(0);
    await until(() => accepted === before + 1);
    expect(accepted).toBe(before + 1);
  });

  test('the port override is checked instead of the address port', async () => {
    const refused = await refusedPort();
    expect(await tcpProbe(at(refused), port, 1000)).toMatchObject({ ok: true });
    expect(await tcpProbe(at(port), refused, 1000)).toEqual({ ok: false, reason: 'ECONNREFUSED' });
  });

  test('a refused port is not ok, with the errno code as reason', async () => {
    expect(await tcpProbe(at(await refusedPort()), undefined, 1000)).toEqual({ ok: false, reason: 'ECONNREFUSED' });
  });

  test('an invalid port is a result, not a throw', async () => {
    const result = await tcpProbe(at(70000), undefined, 1000);
    expect(result).toMatchObject({ ok: false, reason: 'ERR_SOCKET_BAD_PORT' });
  });

  test('a connect that hangs ends at the timeout', async () => {
    const hole = await blackhole();
    try {
      const started = Date.now();
      expect(await tcpProbe(at(hole.port), undefined, 200)).toEqual({ ok: false, reason: 'timeout' });
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(2000);
    } finally {
      hole.stop();
    }
  });

  test('descriptors return to baseline after 500 refused and 100 successful probes', async () => {
    const refused = at(await refusedPort());
    const baseline = fdCount();
    let failed = 0;
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(Array.from({ length: 50 }, () => tcpProbe(refused, undefined, 1000)));
      failed += results.filter((r) => !r.ok && r.reason === 'ECONNREFUSED').length;
    }
    expect(failed).toBe(500);
    const oks = await Promise.all(Array.from({ length: 100 }, () => tcpProbe(at(port), undefined, 1000)));
    expect(oks.filter((r) => r.ok)).toHaveLength(100);
    // Accepted server-side sockets close once they see the probe's FIN.
    await until(() => fdCount() <= baseline, 5000);
    expect(fdCount()).toBeLessThanOrEqual(baseline);
  });
});
