import { reusePortSupported } from '../../src/proxy/reuse-port';

test('reusePort is used where Node has it (22.12+, 23.1+) and on Linux only', () => {
  const versions = ['20.20.2', '22.11.0', '22.12.0', '23.0.0', '23.1.0', '24.0.0', '25.2.1'];
  expect(versions.map((v) => reusePortSupported(v, 'linux'))).toEqual([false, false, true, false, true, true, true]);
  expect(reusePortSupported('24.0.0', 'darwin')).toBe(false);
});
