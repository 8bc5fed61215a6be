/**
 * GET /metrics from a real fulcrum passes `promtool check metrics` (issue 11,
 * item 20): latency quantiles are proper summaries (_sum, _count), histograms
 * with fixed buckets sit beside them, and no value carries float noise.
 * promtool comes from the Debian package `prometheus` (.ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { LATENCY_BUCKETS_SECONDS } from '../../src/stats/latency-histogram';
import { start, type FulcrumHandle } from '../../src/index';
import { ep, fulcrumConfig, backend, tcpService } from '../helpers/config';
import { close, connect, echoServer, readAll, refusedPort } from '../helpers/net';

function findPromtool(): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin']) {
    const candidate = path.join(dir, 'promtool');
    if (dir !== '' && fs.existsSync(candidate)) return candidate;
  }
  throw new Error('promtool not found: install the Debian package "prometheus" (.ci/run does)');
}

function get(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

let handle: FulcrumHandle | null = null;
afterEach(async () => {
  await handle?.stop(0);
  handle = null;
});

test('a real /metrics body passes promtool check metrics, with summaries, histograms and rounded values', async () => {
  expect.assertions(7);
  const promtool = findPromtool();
  const echo = await echoServer();
  try {
    const udpBackend = await refusedPort(); // the UDP service only needs to exist: its families are checked too
    handle = await start(
      fulcrumConfig(
        [
          tcpService([backend(echo.port)], { name: 'web' }),
          tcpService([backend(await refusedPort())], { name: 'idle' }),
          tcpService([backend(udpBackend)], { name: 'dns', protocol: 'udp', balance: 'source-hash' }),
        ],
        { admin: { listen: ep(0) } },
      ),
    );
    const port = handle.addresses.get('web')!.port;
    for (let i = 0; i < 20; i++) {
      const c = await connect(port);
      const reply = readAll(c);
      c.end(`hello ${i}`);
      await reply;
    }
    const body = await get(handle.admin!.port, '/metrics');

    const check = spawnSync(promtool, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect({ status: check.status, out: check.stdout + check.stderr }).toEqual({ status: 0, out: '' });

    const line = (re: RegExp) => body.split('\n').filter((l) => re.test(l));
    expect(line(/^# TYPE fulcrum_(connect|session)_seconds /)).toEqual(['# TYPE fulcrum_connect_seconds summary', '# TYPE fulcrum_session_seconds summary']);
    expect(line(/^fulcrum_connect_seconds_count\{service="web"\}/)).toEqual(['fulcrum_connect_seconds_count{service="web"} 20']);
    const buckets = line(/^fulcrum_connect_duration_seconds_bucket\{service="web",/);
    expect(buckets).toHaveLength(LATENCY_BUCKETS_SECONDS.length + 1);
    expect(buckets.at(-1)).toBe('fulcrum_connect_duration_seconds_bucket{service="web",le="+Inf"} 20');
    expect(line(/^fulcrum_session_duration_seconds_count\{service="web"\} 20$/)).toHaveLength(1);
    // Every value is an integer or a decimal with at most 6 places (microseconds), never 0.0020459999999999996.
    const noisy = body.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !/ (-?\d+(\.\d{1,6})?|\+Inf|NaN)$/.test(l));
    expect(noisy).toEqual([]);
  } finally {
    for (const s of echo.sockets) s.destroy();
    await close(echo.server);
  }
});
