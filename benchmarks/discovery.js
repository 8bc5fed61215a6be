'use strict';
// How many names can one fulcrum follow, at what lookup rate? Starts a local
// dnsmasq serving N names (one A record each, long TTL so the interval rules),
// runs fulcrum's own discovery registry (dist/, the code `run` uses) following
// all of them, and reports for each N: the first round (all N at once), the
// lookups per second kept up over the run, failures, CPU of fulcrum's process
// and of dnsmasq, and event-loop delay (what the data plane on the same
// thread would feel). A hostname lookup is two queries (A and AAAA). "oldest
// set" is the largest age of any entry's set during the run: about the
// interval (+10 % jitter) when discovery keeps up, growing when it does not.
//   npm run build && node benchmarks/discovery.js [--names 1000,5000,10000,20000] [--interval 10] [--duration 30]

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { HOST, makeTempDir, freePort, cpuSeconds, stopChild, which } = require('./proc');
const { Discovery } = require('../dist/src/discovery');
const { parseEndpoint } = require('../dist/src/config/address');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const NAMES = (args.names ?? '1000,5000,10000,20000').split(',').map(Number);
const INTERVAL_S = Number(args.interval ?? 10);
const DURATION_S = Number(args.duration ?? 30);
const silent = { child: () => silent, warn() {}, info() {}, debug() {}, error() {} };

async function startDnsmasq(dir, count) {
  const hosts = path.join(dir, 'hosts');
  const lines = ['127.0.0.1 ready.bench.test'];
  for (let i = 0; i < count; i++) lines.push(`127.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) || 1} n${i}.bench.test`);
  fs.writeFileSync(hosts, `${lines.join('\n')}\n`);
  const port = await freePort('udp');
  const child = spawn('dnsmasq', ['--no-daemon', `--port=${port}`, `--listen-address=${HOST}`, '--bind-interfaces', '--no-resolv', '--no-hosts',
    '--conf-file=/dev/null', `--addn-hosts=${hosts}`, '--local=/bench.test/', '--local-ttl=3600', '--user=root', '--cache-size=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.exited = new Promise((r) => child.once('exit', r));
  const { promises: dns } = require('node:dns');
  const r = new dns.Resolver({ timeout: 200, tries: 1 });
  r.setServers([`${HOST}:${port}`]);
  for (let i = 0; i < 100; i++) {
    if (await r.resolve4('ready.bench.test').then(() => true, () => false)) return { child, port };
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('dnsmasq did not answer');
}

async function measure(count, dnsPort, dnsPid) {
  const settings = { interval: INTERVAL_S * 1000, minTtl: 1000, maxTtl: INTERVAL_S * 1000, timeout: 2000, resolvers: [parseEndpoint(`${HOST}:${dnsPort}`)] };
  const entries = Array.from({ length: count }, (_, i) => ({ kind: 'dns', target: `n${i}.bench.test:5432`, source: `dns:n${i}.bench.test:5432`, optional: true, backup: false, maxConnections: 0 }));
  const discovery = new Discovery(settings, silent, () => {});
  const config = { discovery: settings, services: [{ name: 'bench', discovery: entries }] };
  const t0 = performance.now();
  (await discovery.prepare(config)).commit();
  const firstMs = performance.now() - t0;
  const firstFailed = entries.filter((e) => discovery.status(e.source).lookups.ok === 0).length;

  const total = () => entries.reduce((acc, e) => {
    const l = discovery.status(e.source).lookups;
    acc.ok += l.ok;
    acc.failed += Object.values(l).reduce((a, b) => a + b, 0) - l.ok;
    return acc;
  }, { ok: 0, failed: 0 });
  const before = total();
  const cpu0 = process.cpuUsage();
  const dns0 = cpuSeconds(dnsPid);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  // Kept up? The oldest set in force (time since its last good lookup), sampled every second.
  let maxAgeMs = 0;
  const sampler = setInterval(() => {
    for (const e of entries) maxAgeMs = Math.max(maxAgeMs, discovery.status(e.source).lastSuccessAgoMs ?? Infinity);
  }, 1000);
  await new Promise((r) => setTimeout(r, DURATION_S * 1000));
  clearInterval(sampler);
  loop.disable();
  const cpu = process.cpuUsage(cpu0);
  const after = total();
  const dnsCpu = cpuSeconds(dnsPid) - dns0;
  discovery.stop();
  const lookups = after.ok - before.ok;
  return {
    names: count,
    firstRoundMs: Math.round(firstMs),
    firstRoundFailed: firstFailed,
    expectedPerSec: count / INTERVAL_S,
    lookupsPerSec: Math.round(lookups / DURATION_S),
    failed: after.failed - before.failed,
    oldestSetS: Math.round(maxAgeMs / 100) / 10,
    fulcrumCpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / DURATION_S) * 1000) / 10,
    dnsmasqCpuPct: Math.round((dnsCpu / DURATION_S) * 1000) / 10,
    loopDelayP99Ms: Math.round(loop.percentile(99) / 1e4) / 100,
    loopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
  };
}

async function main() {
  if (which('dnsmasq') === null) throw new Error('dnsmasq is not installed (apt-get install dnsmasq-base)');
  const tmp = makeTempDir('fulcrum-bench-discovery-');
  const max = Math.max(...NAMES);
  const dns = await startDnsmasq(tmp.dir, max);
  const rows = [];
  try {
    for (const n of NAMES) {
      const row = await measure(n, dns.port, dns.child.pid);
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    await stopChild(dns.child);
    tmp.remove();
  }
  console.log(`\ninterval ${INTERVAL_S} s, ${DURATION_S} s per row, Node ${process.version}; a lookup = A + AAAA queries`);
  console.log('| names | first round (all at once) | lookups/s needed | lookups/s done | failed | oldest set | fulcrum CPU | dnsmasq CPU | event-loop delay p99 / max |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.names} | ${r.firstRoundMs} ms${r.firstRoundFailed ? ` (${r.firstRoundFailed} failed)` : ''} | ${r.expectedPerSec} | ${r.lookupsPerSec} | ${r.failed} | ${r.oldestSetS} s | ${r.fulcrumCpuPct} % | ${r.dnsmasqCpuPct} % | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} ms |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
