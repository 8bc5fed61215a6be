import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FALLBACK_SOMAXCONN, NODE_DEFAULT_BACKLOG, listenBacklog, readSomaxconn } from '../../src/proxy/listen-backlog';

test('the backlog is maxConnections, capped by somaxconn, never below Node\'s 511', () => {
  expect(listenBacklog(10_000, 4096)).toBe(4096);
  expect(listenBacklog(2000, 4096)).toBe(2000);
  expect(listenBacklog(10, 4096)).toBe(NODE_DEFAULT_BACKLOG);
  expect(listenBacklog(10_000, 128)).toBe(NODE_DEFAULT_BACKLOG); // the kernel truncates to 128 anyway
  expect(listenBacklog(Infinity, 4096)).toBe(4096);
});

test('somaxconn is read from the file, with a fallback when it is missing or nonsense', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-somaxconn-'));
  try {
    const file = path.join(dir, 'somaxconn');
    fs.writeFileSync(file, '65535\n');
    expect(readSomaxconn(file)).toBe(65535);
    fs.writeFileSync(file, 'garbage\n');
    expect(readSomaxconn(file)).toBe(FALLBACK_SOMAXCONN);
    expect(readSomaxconn(path.join(dir, 'missing'))).toBe(FALLBACK_SOMAXCONN);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
