'use strict';
// Micro-benchmark: ns per acquire()+release() pair, one thread, SourceLimiter vs SharedSourceLimiter.
// Needs dist/ (npm run build). Usage: node benchmarks/source-limiter.js [--ops 2000000]
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src', 'admission');
const { SourceLimiter } = require(path.join(dist, 'source-limiter.js'));
const { SharedSourceLimiter } = require(path.join(dist, 'shared-source-limiter.js'));

const argOps = process.argv.indexOf('--ops');
const OPS = argOps === -1 ? 2_000_000 : Number(process.argv[argOps + 1]);

const v4 = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const v6 = Array.from({ length: 100_000 }, (_, i) => `2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`);
const mapped = v4.map((ip) => `::ffff:${ip}`);

const cases = [
  // Entry made on acquire, dropped on release (no rate limit: an idle IP carries no state).
  { name: 'cap only, 1 IP', options: { maxConnections: 10 }, ips: ['192.0.2.1'], hold: 0 },
  // Entry kept (bucket never full again): acquire unlinks from the idle LRU, release appends.
  { name: 'cap+rate, 1 IP', options: { maxConnections: 10, ratePerSecond: 1e9, burst: 1e12 }, ips: ['192.0.2.1'], hold: 0 },
  { name: 'cap only, 100k IPv4 cycled', options: { maxConnections: 10 }, ips: v4, hold: 0 },
  { name: 'cap only, 100k ::ffff:IPv4 cycled', options: { maxConnections: 10 }, ips: mapped, hold: 0 },
  { name: 'cap only, 100k IPv6 cycled', options: { maxConnections: 10 }, ips: v6, hold: 0 },
  // 90,000 IPs hold a connection throughout; the others churn through the rest of the table.
  { name: 'cap only, table 90% live', options: { maxConnections: 10 }, ips: v4.slice(90_000), hold: 90_000 },
];

function run(lim, ips, ops) {
  const n = ips.length;
  const t0 = process.hrtime.bigint();
  for (let i = 0, k = 0; i < ops; i++) {
    const ip = ips[k];
    if (lim.acquire(ip) !== 'ok') throw new Error('refused');
    lim.release(ip);
    if (++k === n) k = 0;
  }
  return Number(process.hrtime.bigint() - t0) / ops;
}

console.log(`node ${process.version}, ${OPS} acquire+release pairs per run, best of 5 (ns per pair)`);
console.log('case'.padEnd(36), 'SourceLimiter'.padStart(14), 'Shared'.padStart(10));
for (const c of cases) {
  const row = [];
  for (const make of [(o) => new SourceLimiter(o), (o) => SharedSourceLimiter.create(o)]) {
    const lim = make(c.options);
    for (let i = 0; i < c.hold; i++) lim.acquire(v4[i]);
    run(lim, c.ips, OPS / 4); // warm up
    let best = Infinity;
    for (let r = 0; r < 5; r++) best = Math.min(best, run(lim, c.ips, OPS));
    row.push(best.toFixed(0));
  }
  console.log(c.name.padEnd(36), row[0].padStart(14), row[1].padStart(10));
}
