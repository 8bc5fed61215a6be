'use strict';
// Startup cost against the number of backends (issue 11, item 4): validate a
// config with N backends, then start and stop fulcrum with it. Health checks
// are off and every address is 127.x, so nothing is sent anywhere.
//   npm run build && node benchmarks/startup.js [N ...]     (default 16000 50000)
// Each size runs in its own process so RSS is that size's alone.

const { execFileSync } = require('node:child_process');
const path = require('node:path');

const INDEX = path.join(__dirname, '..', 'dist', 'src', 'index.js');

function one(n) {
  const { validateConfig, start } = require(INDEX);
  const backends = Array.from({ length: n }, (_, i) => ({ address: `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${1024 + (i % 1000)}`, name: `b${i}` }));
  const raw = { log: { level: 'silent' }, admin: { enabled: false }, services: [{ name: 'big', listen: '127.0.0.1:0', health: { enabled: false }, backends }] };
  let t = performance.now();
  const config = validateConfig(raw, {});
  const validateMs = performance.now() - t;
  t = performance.now();
  return start(config).then(async (handle) => {
    const startMs = performance.now() - t;
    const rssMb = process.memoryUsage().rss / 1e6;
    await handle.stop(0);
    process.stdout.write(JSON.stringify({ backends: n, validateMs: Math.round(validateMs), startMs: Math.round(startMs), rssMb: Math.round(rssMb) }) + '\n');
  });
}

if (process.argv[2] === '--one') {
  one(Number(process.argv[3])).then(() => process.exit(0));
} else {
  const sizes = process.argv.slice(2).map(Number);
  console.log('backends  validate ms  start ms  RSS MB');
  for (const n of sizes.length > 0 ? sizes : [16000, 50000]) {
    const r = JSON.parse(execFileSync(process.execPath, [__filename, '--one', String(n)], { encoding: 'utf8' }));
    console.log(`${String(r.backends).padStart(8)}  ${String(r.validateMs).padStart(11)}  ${String(r.startMs).padStart(8)}  ${String(r.rssMb).padStart(6)}`);
  }
}
