import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { start, type FulcrumHandle } from '../../src/index';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';

/**
 * Issue 12 item 8: a burst of 9,900 connects took ~10 s to be proxied because the
 * listener had Node's default backlog (511): SYNs beyond a full accept queue are
 * dropped and retried 1 s, 3 s … later. The listener now asks for the service's
 * maxConnections, capped by net.core.somaxconn. `ss -ltn` shows a listener's
 * backlog as Send-Q (inet_diag; /proc/net/tcp does not have it). CI installs ss (iproute2).
 */

let handle: FulcrumHandle | null = null;
afterEach(async () => {
  await handle?.stop(0);
  handle = null;
});

/** Send-Q (the backlog) of the TCP listener on 127.0.0.1:port. */
function listenBacklogOf(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.includes(`127.0.0.1:${port}`));
  if (line === undefined) throw new Error(`no listener on ${port} in ss output: ${out}`);
  return Number(line.trim().split(/\s+/)[2]);
}

const somaxconn = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());

test.each([
  ['maxConnections above somaxconn', somaxconn + 1000, somaxconn],
  ['maxConnections below somaxconn', Math.max(512, Math.min(2000, somaxconn - 1)), Math.max(512, Math.min(2000, somaxconn - 1))],
  ['a small maxConnections keeps Node\'s 511', 10, 511],
])('a TCP service listens with a backlog sized for bursts: %s', async (_what, maxConnections, expected) => {
  handle = await start(fulcrumConfig([tcpService([backend(1)], { maxConnections })]));
  const port = handle.addresses.get('svc')!.port;
  expect(listenBacklogOf(port)).toBe(expected);
});
