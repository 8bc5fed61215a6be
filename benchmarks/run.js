'use strict';
// fulcrum benchmark harness: runs each scenario against each contender, prints a
// table and writes benchmarks/out/results.json. See benchmarks/README.md.
//   node benchmarks/run.js [--duration SECONDS] [--runs N] [--only NAME[,NAME...]]
// NAME is a scenario (rr, connrate, bulk, udp, failover) or a contender (direct, fulcrum, nginx).
// failover (failover.js) is not a load run: it times a fulcrum active/standby pair's takeover.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const proc = require('./proc');
const { CONTENDERS, BASELINE, SUBJECT, PEERS } = require('./contenders');
const failover = require('./failover');

const LOAD_CORE = 0; // backend + load generator
const PROXY_CORE = 1; // the proxy under test
const OUT_DIR = path.join(__dirname, 'out');

const SCENARIOS = [
  { name: 'rr', protocol: 'tcp', backend: 'rr', unit: 'req/s', what: '50 keepalive conns, 64 B request → 64 B reply' },
  { name: 'connrate', protocol: 'tcp', backend: 'rr', unit: 'conn/s', what: '50 loops: connect, 64 B → 64 B, close' },
  { name: 'bulk', protocol: 'tcp', backend: 'sink', unit: 'MiB/s', what: '1 conn, 64 KiB writes with backpressure to a sink' },
  { name: 'udp', protocol: 'udp', backend: 'udp', unit: 'dgram/s', what: '32 UDP sockets × 2 outstanding 64 B datagrams → 64 B echo' },
  // Not a load run over the contenders: a fulcrum pair only (failover.js), --duration does not apply.
  { name: 'failover', protocol: 'tcp', kind: 'failover', unit: 'ms', what: 'fulcrum pair (A 150 / B 100, default 100 ms adverts) on one port: kill -9 / SIGTERM of master A → first connect+echo' },
];
const isLoad = (s) => !s.kind;

function parseArgs(argv) {
  const opts = { duration: 5, runs: 10, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--duration') opts.duration = Number(value());
    else if (a.startsWith('--duration=')) opts.duration = Number(a.slice(11));
    else if (a === '--runs') opts.runs = Number(value());
    else if (a.startsWith('--runs=')) opts.runs = Number(a.slice(7));
    else if (a === '--only') opts.only = value().split(',');
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',');
    else if (a === '-h' || a === '--help') usage(null);
    else usage(`unknown argument ${a}`);
  }
  if (!(opts.duration > 0 && opts.duration <= 600)) usage('--duration must be a number of seconds in (0, 600]');
  if (!(Number.isInteger(opts.runs) && opts.runs >= 1 && opts.runs <= 100)) usage('--runs must be an integer in [1, 100]');
  const names = new Set([...SCENARIOS.map((s) => s.name), ...CONTENDERS.map((c) => c.name)]);
  for (const n of opts.only || []) if (!names.has(n)) usage(`--only: unknown name ${n} (known: ${[...names].join(', ')})`);
  return opts;
}

function usage(problem) {
  const text = 'usage: node benchmarks/run.js [--duration SECONDS] [--runs N] [--only NAME[,NAME...]]\n' +
    '  --duration: seconds per load run (default 5); --runs: failover runs per case (default 10)\n' +
    `  scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}; contenders: ${CONTENDERS.map((c) => c.name).join(', ')}\n`;
  if (problem) process.stderr.write(`run.js: ${problem}\n${text}`);
  else process.stdout.write(text);
  process.exit(problem ? 2 : 0);
}

/** Call onLine(obj) for every JSON line on `stream`. */
function jsonLines(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { onLine(JSON.parse(line)); } catch { /* not ours */ }
    }
  });
}

/** Run load.js for one scenario against `port`, sampling the proxy's CPU over the measured window. */
async function runLoad(scenario, port, durationMs, proxyPid) {
  const child = proc.spawnPinned(LOAD_CORE, process.execPath, [path.join(__dirname, 'load.js'), JSON.stringify({ scenario, port, durationMs })]);
  let cpuStart = null;
  let cpuEnd = null;
  let result = null;
  jsonLines(child.stdout, (msg) => {
    if (msg.event === 'measure-start' && proxyPid) cpuStart = proc.cpuSeconds(proxyPid);
    else if (msg.event === 'measure-end' && proxyPid) cpuEnd = proc.cpuSeconds(proxyPid);
    else if (msg.event === 'result') result = msg;
  });
  const { code, signal } = await child.exited;
  if (!result) throw new Error(`load generator failed (code ${code}, signal ${signal}): ${child.stderrText.trim()}`);
  delete result.event;
  const proxyCpuSeconds = cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null;
  return { ...result, proxyCpuSeconds };
}

async function runOne(scenario, contender, backendPorts, durationMs) {
  const row = { scenario: scenario.name, contender: contender.name, unit: scenario.unit };
  const why = contender.unavailable(scenario.protocol);
  if (why) return { ...row, skipped: why };
  const target = await contender.start({ backendPort: backendPorts[scenario.backend], core: PROXY_CORE, protocol: scenario.protocol });
  try {
    const res = await runLoad(scenario.name, target.port, durationMs, target.pid);
    const proxy = target.pid ? { proxyPid: target.pid, proxyRssMiB: proc.rssMiB(target.pid) } : {};
    const ops = scenario.name === 'bulk' ? res.bytes / 1024 ** 2 : res.ops; // per MiB for bulk, per round trip for udp
    if (res.proxyCpuSeconds !== null && ops > 0) proxy.proxyCpuUsPerOp = (res.proxyCpuSeconds * 1e6) / ops;
    return { ...row, ...res, ...proxy };
  } finally {
    await target.stop();
  }
}

const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

function figure(r) {
  return r.scenario === 'bulk' ? r.mibPerSec : r.perSec;
}

const ok = (r) => r && !r.skipped && !r.error;

/**
 * r.vs[NAME] = { throughput, p99 } ratios: every contender against BASELINE,
 * and SUBJECT (fulcrum) against each of PEERS that ran the same scenario.
 * Throughput ratio > 1 is better, p99 ratio < 1 is better.
 */
function addRatios(rows) {
  for (const r of rows) {
    if (!ok(r) || r.contender === BASELINE) continue;
    const against = [BASELINE, ...(r.contender === SUBJECT ? PEERS : [])];
    for (const name of against) {
      const other = rows.find((o) => o.scenario === r.scenario && o.contender === name && ok(o));
      if (!other) continue;
      r.vs = r.vs || {};
      r.vs[name] = {
        throughput: figure(other) > 0 ? figure(r) / figure(other) : null,
        p99: r.p99Us && other.p99Us ? r.p99Us / other.p99Us : null,
      };
    }
  }
}

function printTable(rows) {
  const peers = PEERS.filter((p) => rows.some((r) => r.contender === p && ok(r)));
  const hasUdp = rows.some((r) => r.scenario === 'udp' && ok(r));
  const header = ['scenario', 'contender', 'throughput', 'p50 µs', 'p99 µs', 'proxy CPU s (%core)', 'proxy RSS MiB', 'errors', ...(hasUdp ? ['lost'] : []),
    `÷ ${BASELINE}`, `p99 ÷ ${BASELINE}`, ...peers.flatMap((p) => [`${SUBJECT} ÷ ${p}`, `p99 ÷ ${p}`])];
  const lines = [header];
  for (const r of rows) {
    if (!ok(r)) {
      lines.push([r.scenario, r.contender, r.skipped ? `skipped: ${r.skipped}` : `ERROR: ${r.error}`, ...header.slice(3).map(() => '')]);
      continue;
    }
    const vs = (name) => {
      const v = r.vs && r.vs[name];
      return v ? [fmt(v.throughput, 2), v.p99 === null ? '' : fmt(v.p99, 2)] : ['', ''];
    };
    const cpu = r.proxyCpuSeconds === null || r.proxyCpuSeconds === undefined ? '-' : `${fmt(r.proxyCpuSeconds, 2)} (${fmt((100 * r.proxyCpuSeconds) / r.seconds)}%)`;
    const note = r.scenario === 'bulk' && !r.confirmed ? ' (unconfirmed)' : r.capped ? ' (capped)' : '';
    lines.push([
      r.scenario, r.contender, `${fmt(figure(r), r.scenario === 'bulk' ? 1 : 0)} ${r.unit}${note}`,
      fmt(r.p50Us), fmt(r.p99Us), cpu, fmt(r.proxyRssMiB, 1), fmt(r.errors), ...(hasUdp ? [r.scenario === 'udp' ? fmt(r.lost) : ''] : []),
      ...vs(BASELINE), ...peers.flatMap((p) => vs(p)),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  const out = lines.map((l) => l.map((c, i) => (i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd());
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The failover rows: one per case (kill -9, SIGTERM), or one error/skip row. */
async function runFailoverRows(runs) {
  const row = { scenario: 'failover', contender: SUBJECT, unit: 'ms' };
  const why = failover.unavailable();
  if (why) return [{ ...row, skipped: why }];
  process.stdout.write(`  failover / ${SUBJECT} pair: ${runs} run(s) × ${failover.CASES.map((c) => c.name).join(', ')}\n`);
  try {
    const res = await failover.runFailover({ core: PROXY_CORE, runs, log: (t) => process.stdout.write(t) });
    return res.cases.map((c) => ({ ...row, case: c.name, pair: res.pair, ...c }));
  } catch (err) {
    return [{ ...row, error: err.message.split('\n')[0].slice(0, 2000) }];
  }
}

function printFailoverTable(rows) {
  const header = ['failover', 'runs', 'median ms', 'max ms', 'min ms', 'target ms', 'max ≤ target', 'B master after (median / max ms)', 'takeover reason', 'failed probes', 'runs with an echo from A first'];
  const lines = [header];
  for (const r of rows) {
    if (!ok(r)) {
      lines.push([r.case || 'pair', r.skipped ? `skipped: ${r.skipped}` : `ERROR: ${r.error}`, ...header.slice(2).map(() => '')]);
      continue;
    }
    lines.push([
      r.case, fmt(r.runs), fmt(r.medianMs, 1), fmt(r.maxMs, 1), fmt(r.minMs, 1), `≤ ${fmt(r.targetMs)}`, r.withinTarget ? 'yes' : 'NO',
      `${fmt(r.takeover.medianMs)} / ${fmt(r.takeover.maxMs)}`,
      Object.entries(r.reasons).map(([k, n]) => `${k} ×${n}`).join(', '),
      Object.entries(r.failedProbes).map(([k, n]) => `${k} ${n}`).join(', ') || '0',
      fmt(r.runsWithOkBeforeGap),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  const left = new Set([0, 8, 9]);
  const out = lines.map((l) => l.map((c, i) => (left.has(i) ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd());
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const pick = (list) => (opts.only && list.some((x) => opts.only.includes(x.name)) ? list.filter((x) => opts.only.includes(x.name)) : list);
  const scenarios = pick(SCENARIOS);
  const contenders = pick(CONTENDERS);
  const loadScenarios = scenarios.filter(isLoad);
  // failover runs fulcrum only: when fulcrum is among the contenders, or when asked for by name.
  const withFailover = scenarios.some((s) => s.name === 'failover') &&
    (contenders.some((c) => c.name === SUBJECT) || (opts.only !== null && opts.only.includes('failover')));
  const durationMs = Math.round(opts.duration * 1000);
  const pinned = proc.hasTaskset();
  const pinning = pinned ? `backend+load on core ${LOAD_CORE}, proxy on core ${PROXY_CORE}` : 'taskset not found: NOT pinned';
  if (loadScenarios.length > 0) {
    process.stdout.write(`fulcrum bench: ${loadScenarios.length} scenario(s) × ${contenders.length} contender(s), ${opts.duration}s each (+0.5s warm-up); ${pinning}\n`);
  }
  if (withFailover) {
    process.stdout.write(`fulcrum bench: failover, ${opts.runs} run(s) per case; ${pinned ? `both fulcrum nodes on core ${PROXY_CORE}, probes + echo in the harness` : 'taskset not found: NOT pinned'}\n`);
  }

  const load1 = os.loadavg()[0];
  if (load1 > 0.5) process.stdout.write(`  warning: load average ${load1.toFixed(2)} before start; other work on this host will skew the figures\n`);
  const rows = [];
  if (loadScenarios.length > 0) {
    const backend = proc.spawnPinned(LOAD_CORE, process.execPath, [path.join(__dirname, 'backend.js')]);
    try {
      const ports = await proc.waitForJsonLine(backend, (m) => m.ready, 10_000, 'backend');
      for (const scenario of loadScenarios) {
        for (const contender of contenders) {
          process.stdout.write(`  ${scenario.name} / ${contender.name} ... `);
          let row;
          try {
            row = await runOne(scenario, contender, ports, durationMs);
          } catch (err) {
            row = { scenario: scenario.name, contender: contender.name, unit: scenario.unit, error: err.message.split('\n')[0] };
          }
          rows.push(row);
          process.stdout.write(`${row.skipped ? `skipped (${row.skipped})` : row.error ? `error: ${row.error}` : `${fmt(figure(row), 1)} ${row.unit}`}\n`);
          await new Promise((r) => setTimeout(r, 300)); // let the previous run's sockets settle
        }
      }
    } finally {
      await proc.stopChild(backend);
    }
  }
  const failoverRows = withFailover ? await runFailoverRows(opts.runs) : [];

  const loadRows = rows.filter((r) => r.scenario !== 'failover');
  if (loadRows.length > 0) {
    process.stdout.write('\n');
    addRatios(loadRows);
    printTable(loadRows);
  }
  if (failoverRows.length > 0) {
    process.stdout.write('\n');
    printFailoverTable(failoverRows);
  }
  rows.push(...failoverRows);
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, 'results.json');
  const ran = [...loadScenarios, ...(withFailover ? scenarios.filter((s) => s.name === 'failover') : [])];
  const meta = {
    date: new Date().toISOString(), node: process.version, os: `${os.type()} ${os.release()}`, cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model, pinned, loadAvgAtStart: load1, loadCore: LOAD_CORE, proxyCore: PROXY_CORE, durationSeconds: opts.duration,
    ...(withFailover && { failoverRuns: opts.runs }),
    scenarios: ran.map(({ name, protocol, unit, what }) => ({ name, protocol, unit, what })),
  };
  fs.writeFileSync(file, `${JSON.stringify({ ...meta, results: rows }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), file)}\n`);
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

// No stray processes, whatever the way out.
process.on('exit', proc.killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nrun.js: ${sig}, stopping children\n`);
    proc.killAllSync();
    process.exit(130);
  });
}

main().catch((err) => {
  process.stderr.write(`run.js: ${err.stack || err}\n`);
  process.exitCode = 1;
});
