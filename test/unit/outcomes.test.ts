import fs from 'node:fs';
import path from 'node:path';
import { REJECT_REASONS, UDP_DROP_REASONS } from '../../src/proxy/outcomes';

const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
const row = (metric: string) => readme.split('\n').find((l) => l.startsWith(`| \`${metric}\``)) ?? '';

test.each([
  ['fulcrum_rejected_total', REJECT_REASONS],
  ['fulcrum_udp_dropped_total', UDP_DROP_REASONS],
] as const)('README lists every reason of %s', (metric, reasons) => {
  const line = row(metric);
  expect(line).not.toBe('');
  expect(reasons.filter((r) => !line.includes(`\`${r}\``))).toEqual([]);
});
