import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES, FulcrumError, isFulcrumError } from '../../src/errors';

test('every error code is documented in the README', () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const codes = Object.keys(ERROR_CODES);
  expect(codes.length).toBeGreaterThan(5);
  const missing = codes.filter((code) => !readme.includes(`\`${code}\``));
  expect(missing).toEqual([]);
});

test('codes are ERR_FULCRUM_* and errors carry code and details', () => {
  for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^ERR_FULCRUM_[A-Z_]+$/);
  const err = new FulcrumError('ERR_FULCRUM_CONFIG', 'invalid configuration (1 problem)', ['services[0].listen: is required']);
  expect(isFulcrumError(err, 'ERR_FULCRUM_CONFIG')).toBe(true);
  expect(isFulcrumError(err, 'ERR_FULCRUM_ARGS')).toBe(false);
  expect(err.details).toEqual(['services[0].listen: is required']);
});

test('every code in the table is used outside it (the table lists thrown codes only)', () => {
  const root = path.resolve(__dirname, '../..');
  const files = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const sources = [...files(path.join(root, 'src')), ...files(path.join(root, 'cli'))]
    .filter((f) => f !== path.join(root, 'src/errors.ts'))
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
  const unused = Object.keys(ERROR_CODES).filter((code) => !sources.includes(`'${code}'`));
  expect(unused).toEqual([]);
});
