import { validateConfig } from '../../src/config';
import { fitToOpenFilesLimit, openFilesLimit } from '../../src/manager/fd-budget';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';

test('warns when explicit caps could need more descriptors than the open-files limit', () => {
  expect.assertions(4);
  const tcp = tcpService([backend(1), backend(2)], { maxConnections: 10_000 });
  const udp = tcpService([backend(3)], { protocol: 'udp', name: 'u' });
  const config = fulcrumConfig([tcp, udp]);
  // 64 + (2 × 10,000 + 1 + 2) + (65,536 + 1 + 1) = 85,605; a config built in code has only explicit caps.
  expect(fitToOpenFilesLimit(config, 100_000).warning).toBeNull();
  const tight = fitToOpenFilesLimit(config, 20_000);
  expect(tight.warning).toBe(
    'the configured caps (maxConnections, udp.maxSessions, admin.maxConnections) and health checks could need 85605 file descriptors but the open-files limit is 20000: raise it (ulimit -n, LimitNOFILE=) or lower the caps',
  );
  expect(tight.config).toBe(config);
  expect(fitToOpenFilesLimit(config, null).warning).toBeNull();
});

test('reads this process limit on Linux', () => {
  expect.assertions(2);
  const limit = openFilesLimit();
  expect(limit).not.toBeNull(); // /proc/self/limits exists on the Linux machines this runs on
  expect(Number.isInteger(limit) && limit! > 0).toBe(true);
});

describe('defaults fit the limit they find (issue 11, items 2 and 19)', () => {
  const raw = (services: unknown[]) => ({ services });
  const svc = (name: string, extra: Record<string, unknown> = {}) => ({ name, listen: '127.0.0.1:0', backends: [{ address: '10.0.0.1:80' }, { address: '10.0.0.2:80' }], ...extra });

  test('a default start fits 20,000 descriptors without a warning, admin API and health checks included', () => {
    expect.assertions(4);
    const plan = fitToOpenFilesLimit(validateConfig(raw([svc('a')]), {}), 20_000);
    expect(plan.warning).toBeNull();
    // 20,000 − 64 reserve − 65 admin (64 connections + listener) − 1 listener − 2 health checks = 19,868 → 9,934 sessions.
    expect(plan.config.services[0]?.maxConnections).toBe(9934);
    expect(plan.lowered).toEqual(['services[0].maxConnections 10000 → 9934']);
    expect(plan.need).toBeLessThanOrEqual(20_000);
  });

  test('what is left is shared among defaulted services; explicit caps are kept and taken first', () => {
    expect.assertions(5);
    const config = validateConfig(raw([svc('a'), svc('b', { maxConnections: 2000 }), svc('u', { protocol: 'udp' })]), {});
    const plan = fitToOpenFilesLimit(config, 20_000);
    expect(plan.config.services.map((s) => [s.maxConnections, s.udp.maxSessions])).toEqual([
      // fixed: 64 + 65 + 3 × (1 + 2) + 4,000 (b) = 4,138; 15,862 left, 7,931 each: a gets 3,965 sessions (2 fds each), u 7,931.
      [3965, 65_536],
      [2000, 65_536],
      [10_000, 7931],
    ]);
    expect(plan.warning).toBeNull();
    expect(plan.need).toBeLessThanOrEqual(20_000);
    // Plenty of descriptors: the defaults stand.
    expect(fitToOpenFilesLimit(config, 1_000_000).config).toBe(config);
    // Explicit caps above the limit still warn; the defaulted ones go to the floor of 1 rather than below.
    const over = fitToOpenFilesLimit(validateConfig(raw([svc('a'), svc('b', { maxConnections: 50_000 })]), {}), 20_000);
    expect([over.config.services[0]?.maxConnections, over.warning !== null]).toEqual([1, true]);
  });

  test('the admin cap counts: admin.maxConnections is part of the budget', () => {
    expect.assertions(1);
    const config = validateConfig({ admin: { listen: '127.0.0.1:0', maxConnections: 1000 }, services: [svc('a')] }, {});
    // 20,000 − 64 − 1,001 − 3 = 18,932 → 9,466 sessions.
    expect(fitToOpenFilesLimit(config, 20_000).config.services[0]?.maxConnections).toBe(9466);
  });
});

describe('dns services in the budget', () => {
  const dnsService = {
    name: 'gslb',
    protocol: 'dns',
    listen: '127.0.0.1:0',
    zones: [{ name: 'gslb.test', ns: [{ name: 'ns1.gslb.test', address: '127.0.0.53' }], records: [{ name: 'www', health: { enabled: false }, members: [{ address: '127.0.0.10' }, { address: '127.0.0.11' }] }] }],
  };
  const web = { name: 'web', listen: '127.0.0.1:0', maxConnections: 50_000, backends: [{ address: '127.0.0.1:80' }] };
  const api = { name: 'api', listen: '127.0.0.1:0', backends: [{ address: '127.0.0.1:81' }] };

  test('a dns service listed first does not shift which caps count as defaulted', () => {
    expect.assertions(3);
    const config = validateConfig({ services: [dnsService, web, api] }, {});
    expect(config.services.map((s) => [s.name, s.defaultedCaps])).toEqual([
      ['web', []],
      ['api', ['maxConnections']],
    ]);
    const plan = fitToOpenFilesLimit(config, 4096);
    expect(plan.config.services.find((s) => s.name === 'web')?.maxConnections).toBe(50_000); // written in the file: kept
    expect(plan.config.services.find((s) => s.name === 'api')!.maxConnections).toBeLessThan(10_000); // defaulted: lowered
  });

  test('its listeners, TCP connections and member checks are counted', () => {
    expect.assertions(1);
    const without = fitToOpenFilesLimit(validateConfig({ services: [web] }, {}), null).need;
    const withDns = fitToOpenFilesLimit(validateConfig({ services: [dnsService, web] }, {}), null).need;
    // 2 listeners + tcp.maxConnections (default 1000) + 2 member addresses.
    expect(withDns - without).toBe(2 + 1000 + 2);
  });
});
