import { fdBudgetWarning, openFilesLimit } from '../../src/manager/fd-budget';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';

test('warns when the caps could need more descriptors than the open-files limit', () => {
  const tcp = tcpService([backend(1), backend(2)], { maxConnections: 10_000 });
  const udp = tcpService([backend(3)], { protocol: 'udp', name: 'u' });
  const config = fulcrumConfig([tcp, udp]);
  // 64 + (2 × 10,000 + 1 + 2) + (65,536 + 1 + 1) = 85,605
  expect(fdBudgetWarning(config, 100_000)).toBeNull();
  expect(fdBudgetWarning(config, 20_000)).toBe(
    'the configured caps (maxConnections, udp.maxSessions) could need 85605 file descriptors but the open-files limit is 20000: raise it (ulimit -n, LimitNOFILE=) or lower the caps',
  );
  expect(fdBudgetWarning(config, null)).toBeNull();
});

test('reads this process limit on Linux', () => {
  const limit = openFilesLimit();
  expect(limit).not.toBeNull(); // /proc/self/limits exists on the Linux machines this runs on
  expect(Number.isInteger(limit) && limit! > 0).toBe(true);
});
