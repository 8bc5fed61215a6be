'use strict';
// fulcrum benchmark harness: runs each scenario against each contender, prints
// tables and writes benchmarks/out/results.json (and, with --write-results,
// benchmarks/RESULTS.md). See benchmarks/README.md.
//   node benchmarks/run.js [--duration SECONDS] [--runs N] [--only NAME[,NAME...]]
//                          [--idle-conns N] [--without TOOL[,TOOL...]] [--workers N]
//                          [--write-results] [--write-scaling]
// NAME is a scenario (rr, keepalive, connrate, bulk, udp, idle, failover, dns) or a
// contender (direct, fulcrum, nginx, haproxy).
// failover (failover.js) is not a load run: it times a fulcrum active/standby pair's takeover.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const proc = require('./proc');
const contendersModule = require('./contenders');
const tools = require('./tools');
const failover = require('./failover');
const dnsBench = require('./dns');

const { CONTENDERS, BASELINE, SUBJECT, PEERS } = contendersModule;
// taskset core lists; with --workers N they become placement(N)'s (set in main()).
let LOAD_CORE = '0'; // backend + load generator
let PROXY_CORE = '1'; // the proxy under test
const OUT_DIR = path.join(__dirname, 'out');
const RESULTS_MD = path.join(__dirname, 'RESULTS.md');
const IDLE_CONNS = 10_000;
const IDLE_OPEN_TIMEOUT_MS = 60_000; // the load child opening all its connections
const IDLE_E2E_TIMEOUT_MS = 30_000; // then the backend seeing them all
const IDLE_SETTLE_MS = 1000; // all established → RSS sample
const IDLE_HOLD_MS = 120_000; // the load child closes its connections by itself after this
const TOOLS = ['wrk', 'iperf3', 'haproxy', 'nginx']; // --without accepts these
const SCALING_JSON = path.join(__dirname, 'scaling.json'); // --write-scaling: every row kept, keyed by workers/scenario/contender

/**
 * Where processes run for N proxy workers: the proxy on cores 1..N and the load on core 0 while
 * that leaves core 0 to the load; otherwise (N ≥ cores, e.g. N = 2 on a 2-core machine) the proxy
 * gets every core and the backends and load generators share them (`shared`).
 */
function placement(workers, cores = os.cpus().length) {
  if (workers === 1) return { load: '0', proxy: '1', shared: false };
  if (workers < cores) return { load: '0', proxy: `1-${workers}`, shared: false };
  return { load: `0-${cores - 1}`, proxy: `0-${cores - 1}`, shared: true };
}

/** CPU per unit of work, in units that give readable numbers: per 1,000 connections or requests, per GB, per 100k datagrams. */
const CPU_UNITS = { conn: { per: 1000, label: '1k conn' }, req: { per: 1000, label: '1k req' }, GiB: { per: 1e9, label: 'GB', bytes: true }, dgram: { per: 100_000, label: '100k dgram' } };

const SCENARIOS = [
  { name: 'rr', protocol: 'tcp', backend: 'rr', unit: 'req/s', work: 'req', what: '50 keepalive conns, 64 B request → 64 B reply' },
  // wrk when installed, else the rr scenario (see resolveScenarios).
  { name: 'keepalive', protocol: 'tcp', backend: 'http', unit: 'req/s', work: 'req', what: 'wrk -t1 -c50 --latency (1 s warm-up first): HTTP/1.1 keep-alive GET → fixed 40 B reply from a raw TCP backend' },
  { name: 'connrate', protocol: 'tcp', backend: 'rr', unit: 'conn/s', work: 'conn', what: '50 loops: connect, 64 B → 64 B, close' },
  // iperf3 when installed, else load.js's bulk writer.
  { name: 'bulk', protocol: 'tcp', backend: 'iperf3', unit: 'Gbit/s', work: 'GiB', what: 'iperf3 -c 127.0.0.1 -p PROXY -t DURATION -J, 1 stream, to iperf3 -s; figure = what the server received' },
  { name: 'udp', protocol: 'udp', backend: 'udp', unit: 'dgram/s', work: 'dgram', what: '32 UDP sockets × 2 outstanding 64 B datagrams → 64 B echo' },
  { name: 'idle', protocol: 'tcp', backend: 'idle', kind: 'idle', unit: 'KiB/conn', what: 'RSS growth of the proxy holding N idle client connections (and N to the backend)' },
  // Not a load run over the contenders: a fulcrum pair only (failover.js), --duration does not apply.
  { name: 'failover', protocol: 'tcp', kind: 'failover', unit: 'ms', what: 'fulcrum pair (A 150 / B 100, default 100 ms adverts) on one port: kill -9 / SIGTERM of master A → first connect+echo' },
  // Not over the contenders either: fulcrum's dns service against PowerDNS and gdnsd (dns.js), dnsperf, 3 rounds.
  { name: 'dns', protocol: 'udp', kind: 'dns', unit: 'q/s', tool: 'dnsperf', what: 'dnsperf → one health-checked A record (2 members): fulcrum protocol: dns vs PowerDNS LUA ifportup vs gdnsd multifo, each alone on the proxy core' },
];
const isLoad = (s) => s.kind !== 'failover' && s.kind !== 'dns';

// The issue's targets: fulcrum against a peer in one scenario.
const TARGETS = [
  { what: 'keepalive requests/s', scenario: 'keepalive', peer: 'haproxy', metric: 'throughput', op: '≥', bound: 1.0 },
  { what: 'keepalive p99 latency at that load', scenario: 'keepalive', peer: 'haproxy', metric: 'p99', op: '≤', bound: 1.2 },
  { what: 'new connections/s', scenario: 'connrate', peer: 'haproxy', metric: 'throughput', op: '≥', bound: 1.0 },
  { what: 'bulk throughput', scenario: 'bulk', peer: 'haproxy', metric: 'throughput', op: '≥', bound: 1.0 },
  { what: 'UDP datagrams/s', scenario: 'udp', peer: 'nginx', metric: 'throughput', op: '≥', bound: 1.3 },
  { what: 'RSS per idle connection', scenario: 'idle', peer: 'haproxy', metric: 'kibPerConn', op: '≤', bound: 2.0 },
];

function parseArgs(argv) {
  const opts = { duration: 5, runs: 10, only: null, idleConns: IDLE_CONNS, without: [], writeResults: false, writeScaling: false, workers: 1 };
  // `npm run bench --workers 2` (no `--`): npm keeps --workers as its own config (npm_config_workers=true)
  // and passes the 2 on as an argument; `npm run bench --workers=2` sets npm_config_workers=2.
  const npmWorkers = process.env.npm_config_workers;
  if (npmWorkers !== undefined && npmWorkers !== '' && !argv.some((a) => a === '--workers' || a.startsWith('--workers='))) {
    if (npmWorkers === 'true' && /^\d+$/.test(argv[0] || '')) opts.workers = Number(argv.shift());
    else if (npmWorkers !== 'true') opts.workers = Number(npmWorkers);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    const eq = (name) => a.startsWith(`${name}=`) ? a.slice(name.length + 1) : null;
    if (a === '--duration') opts.duration = Number(value());
    else if (eq('--duration') !== null) opts.duration = Number(eq('--duration'));
    else if (a === '--runs') opts.runs = Number(value());
    else if (eq('--runs') !== null) opts.runs = Number(eq('--runs'));
    else if (a === '--only') opts.only = value().split(',');
    else if (eq('--only') !== null) opts.only = eq('--only').split(',');
    else if (a === '--idle-conns') opts.idleConns = Number(value());
    else if (eq('--idle-conns') !== null) opts.idleConns = Number(eq('--idle-conns'));
    else if (a === '--without') opts.without = value().split(',');
    else if (eq('--without') !== null) opts.without = eq('--without').split(',');
    else if (a === '--workers') opts.workers = Number(value());
    else if (eq('--workers') !== null) opts.workers = Number(eq('--workers'));
    else if (a === '--write-results') opts.writeResults = true;
    else if (a === '--write-scaling') opts.writeScaling = true;
    else if (a === '-h' || a === '--help') usage(null);
    else usage(`unknown argument ${a}`);
  }
  if (!(opts.duration > 0 && opts.duration <= 600)) usage('--duration must be a number of seconds in (0, 600]');
  if (!(Number.isInteger(opts.runs) && opts.runs >= 1 && opts.runs <= 100)) usage('--runs must be an integer in [1, 100]');
  if (!(Number.isInteger(opts.idleConns) && opts.idleConns >= 1 && opts.idleConns <= 25_000)) usage('--idle-conns must be an integer in [1, 25000]');
  if (!(Number.isInteger(opts.workers) && opts.workers >= 1 && opts.workers <= 64)) usage('--workers must be an integer in [1, 64]');
  for (const t of opts.without) if (!TOOLS.includes(t)) usage(`--without: unknown tool ${t} (known: ${TOOLS.join(', ')})`);
  const names = new Set([...SCENARIOS.map((s) => s.name), ...CONTENDERS.map((c) => c.name)]);
  for (const n of opts.only || []) if (!names.has(n)) usage(`--only: unknown name ${n} (known: ${[...names].join(', ')})`);
  return opts;
}

function usage(problem) {
  const text = 'usage: node benchmarks/run.js [--duration SECONDS] [--runs N] [--only NAME[,NAME...]]\n' +
    '                         [--idle-conns N] [--without TOOL[,TOOL...]] [--workers N] [--write-results] [--write-scaling]\n' +
    '  --duration: seconds per load run (default 5); --runs: failover runs per case (default 10)\n' +
    `  --idle-conns: connections held in the idle scenario (default ${IDLE_CONNS})\n` +
    `  --without: act as if these were not installed (${TOOLS.join(', ')}), to try the fallbacks\n` +
    '  --workers: proxy threads/processes: fulcrum workers: N, HAProxy nbthread N, nginx worker_processes N (default 1)\n' +
    '  --write-results: also write benchmarks/RESULTS.md (host, versions, tables, targets)\n' +
    '  --write-scaling: add this run\'s rows to benchmarks/scaling.json and rewrite RESULTS.md\'s scaling section\n' +
    `  scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}; contenders: ${CONTENDERS.map((c) => c.name).join(', ')}\n`;
  if (problem) process.stderr.write(`run.js: ${problem}\n${text}`);
  else process.stdout.write(text);
  process.exit(problem ? 2 : 0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/**
 * Which tool each scenario uses on this machine: keepalive needs wrk (else it
 * runs load.js's rr), bulk prefers iperf3 (else load.js's bulk writer). The
 * returned scenarios carry `tool` and, for a fallback, `fallback` (why).
 */
function resolveScenarios(list) {
  return list.map((s) => {
    if (s.name === 'keepalive') {
      const wrk = tools.wrkSetup();
      if (wrk.reason) return { ...s, tool: 'load.js rr', backend: 'rr', loadScenario: 'rr', fallback: `${wrk.reason}: ran the rr scenario instead`, what: '(wrk missing) same as rr: 50 keepalive conns, 64 B → 64 B' };
      return { ...s, tool: 'wrk' };
    }
    if (s.name === 'bulk') {
      const ip = tools.iperf3Setup();
      if (ip.reason) return { ...s, tool: 'load.js bulk', backend: 'sink', unit: 'MiB/s', loadScenario: 'bulk', fallback: `${ip.reason}: ran load.js's bulk writer instead`, what: '(iperf3 missing) 1 conn, 64 KiB writes with backpressure to a sink' };
      return { ...s, tool: 'iperf3' };
    }
    return s.kind ? s : { ...s, tool: 'load.js', loadScenario: s.name };
  });
}

/** Run load.js for one scenario against `port`, sampling the proxy's CPU over the measured window. */
async function runLoad(loadScenario, port, durationMs, proxyPid) {
  const child = proc.spawnPinned(LOAD_CORE, process.execPath, [path.join(__dirname, 'load.js'), JSON.stringify({ scenario: loadScenario, port, durationMs })]);
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
  delete result.scenario; // load.js's name; keepalive without wrk runs load.js's rr
  const proxyCpuSeconds = cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null;
  return { ...result, proxyCpuSeconds };
}

/** The backend process, with an `idleCount()` query (connections open on its idle listener). */
async function startBackend() {
  const backend = proc.spawnPinned(LOAD_CORE, process.execPath, [path.join(__dirname, 'backend.js')], { nofile: proc.NOFILE });
  const ports = await proc.waitForJsonLine(backend, (m) => m.ready, 10_000, 'backend');
  const waiting = [];
  jsonLines(backend.stdout, (m) => {
    if (typeof m.idle === 'number' && waiting.length > 0) waiting.shift()(m.idle);
  });
  const idleCount = () => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('backend did not answer idle?')), 5000);
    waiting.push((n) => { clearTimeout(timer); resolve(n); });
    backend.stdin.write('idle?\n');
  });
  return { child: backend, ports, idleCount };
}

/** Poll the backend until pred(count) or timeout; resolves { ok, count, ms }. */
async function waitIdleCount(backend, pred, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    const count = await backend.idleCount();
    if (pred(count)) return { ok: true, count, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) return { ok: false, count, ms: Date.now() - t0 };
    await sleep(100);
  }
}

/**
 * idle: the proxy's RSS, then N client connections through it to the idle
 * backend, all established end to end (the backend holds N), 1 s of quiet,
 * RSS again. KiB per connection = growth ÷ connections held.
 */
async function runIdle(contender, ctx) {
  const n = ctx.idleConns;
  const { backend } = ctx;
  const before0 = await waitIdleCount(backend, (c) => c === 0, 10_000); // a previous run's connections
  if (!before0.ok) throw new Error(`idle backend still holds ${before0.count} connections from a previous run`);
  const target = await contender.start({ backendPort: backend.ports.idle, core: PROXY_CORE, protocol: 'tcp', idleConns: n, workers: ctx.workers });
  let load = null;
  try {
    const pid = target.pid;
    await waitIdleCount(backend, (c) => c === 0, 5000); // the readiness probe's upstream connection
    await sleep(500);
    const rssBeforeKiB = proc.rssKiB(pid);
    const cpu0 = proc.cpuSeconds(pid);
    const t0 = Date.now();
    load = proc.spawnPinned(LOAD_CORE, process.execPath, [path.join(__dirname, 'load.js'), JSON.stringify({ scenario: 'idle', port: target.port, durationMs: IDLE_HOLD_MS, idleConnections: n })], { nofile: proc.NOFILE });
    const opened = await proc.waitForJsonLine(load, (m) => m.event === 'opened', IDLE_OPEN_TIMEOUT_MS, 'idle load generator');
    if (opened.connected === 0) throw new Error(`no connection opened (${JSON.stringify(opened.errorCodes)})`);
    // End to end: the backend holds as many as the client has open.
    const e2e = await waitIdleCount(backend, (c) => c >= opened.connected, IDLE_E2E_TIMEOUT_MS);
    const establishSeconds = (Date.now() - t0) / 1000;
    await sleep(IDLE_SETTLE_MS);
    const rssAfterKiB = proc.rssKiB(pid);
    const cpu1 = proc.cpuSeconds(pid);
    const backendHeld = await backend.idleCount();
    const nofile = proc.nofileOf(pid);
    const resultLine = proc.waitForJsonLine(load, (m) => m.event === 'result', 20_000, 'idle load generator');
    load.stdin.write('close\n');
    const res = await resultLine;
    const held = Math.min(opened.connected - res.closedEarly, backendHeld);
    if (held <= 0) throw new Error(`no connection held end to end (client ${opened.connected}, backend ${backendHeld}, closed early ${res.closedEarly})`);
    const kibPerConn = rssBeforeKiB !== null && rssAfterKiB !== null ? (rssAfterKiB - rssBeforeKiB) / held : null;
    return {
      wanted: n, connected: opened.connected, failed: opened.failed, closedEarly: res.closedEarly, backendHeld, held,
      complete: held === n && e2e.ok, openSeconds: opened.seconds, establishSeconds, errorCodes: res.errorCodes,
      rssBeforeKiB, rssAfterKiB, kibPerConn, figure: kibPerConn, errors: opened.failed + res.closedEarly,
      proxyCpuSeconds: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null, proxyPid: pid, proxyNofile: nofile,
      proxyRssMiB: rssAfterKiB === null ? null : rssAfterKiB / 1024,
    };
  } finally {
    if (load) await proc.stopChild(load, 'SIGKILL');
    await target.stop();
    await waitIdleCount(backend, (c) => c === 0, 10_000).catch(() => {});
  }
}

async function runOne(scenario, contender, ctx) {
  const row = { scenario: scenario.name, contender: contender.name, unit: scenario.unit, tool: scenario.tool };
  if (scenario.fallback) row.fallback = scenario.fallback;
  if (scenario.kind === 'idle' && !contender.proxy) return { ...row, skipped: 'no proxy process to measure' };
  const why = contender.unavailable(scenario.protocol);
  if (why) return { ...row, skipped: why };
  if (scenario.kind === 'idle') return { ...(await runIdle(contender, ctx)), ...row };

  const backendPort = scenario.backend === 'iperf3' ? ctx.iperf3Server.port : ctx.backend.ports[scenario.backend];
  const target = await contender.start({ backendPort, core: PROXY_CORE, protocol: scenario.protocol, workers: ctx.workers });
  try {
    const pid = target.pid;
    let res;
    if (scenario.tool === 'wrk') res = await tools.runWrk({ core: LOAD_CORE, port: target.port, seconds: ctx.durationMs / 1000, proxyPid: pid });
    else if (scenario.tool === 'iperf3') res = await tools.runIperf3({ core: LOAD_CORE, port: target.port, seconds: ctx.durationMs / 1000, proxyPid: pid });
    else res = await runLoad(scenario.loadScenario, target.port, ctx.durationMs, pid);
    const proxy = pid ? { proxyPid: pid, proxyRssMiB: proc.rssMiB(pid) } : {};
    const bytesLike = scenario.name === 'bulk';
    const figure = res.tool === 'iperf3' ? res.gbitPerSec : bytesLike ? res.mibPerSec : res.perSec;
    // Work done per second of proxy CPU: requests, connections, datagram round trips, or GiB for bulk.
    const work = bytesLike ? res.bytes / 1024 ** 3 : res.ops;
    if (res.proxyCpuSeconds !== null && res.proxyCpuSeconds !== undefined && pid) {
      proxy.workUnit = scenario.work;
      proxy.workPerProxyCpuSecond = res.proxyCpuSeconds > 0 ? work / res.proxyCpuSeconds : null;
      const ops = bytesLike ? res.bytes / 1024 ** 2 : res.ops; // per MiB for bulk, per round trip for udp
      if (ops > 0) proxy.proxyCpuUsPerOp = (res.proxyCpuSeconds * 1e6) / ops;
      const u = CPU_UNITS[scenario.work];
      const units = u.bytes ? res.bytes / u.per : res.ops / u.per;
      if (units > 0) Object.assign(proxy, { cpuPerUnit: res.proxyCpuSeconds / units, cpuUnit: u.label });
    }
    return { ...res, ...row, figure, ...proxy };
  } finally {
    await target.stop();
  }
}

const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ok = (r) => r && !r.skipped && !r.error;

/**
 * r.vs[NAME] = { throughput, p99 } ratios (idle: { kibPerConn }): every contender
 * against BASELINE (not for idle), and SUBJECT (fulcrum) against each of PEERS
 * that ran the same scenario. Throughput ratio > 1 is better, p99 and
 * KiB-per-connection ratios < 1 are better.
 */
function addRatios(rows) {
  for (const r of rows) {
    if (!ok(r) || r.contender === BASELINE) continue;
    const against = [...(r.scenario === 'idle' ? [] : [BASELINE]), ...(r.contender === SUBJECT ? PEERS : [])];
    for (const name of against) {
      const other = rows.find((o) => o.scenario === r.scenario && o.contender === name && ok(o));
      if (!other) continue;
      r.vs = r.vs || {};
      r.vs[name] = r.scenario === 'idle'
        ? { kibPerConn: r.kibPerConn !== null && other.kibPerConn > 0 ? r.kibPerConn / other.kibPerConn : null }
        : {
          throughput: other.figure > 0 ? r.figure / other.figure : null,
          p99: r.p99Us && other.p99Us ? r.p99Us / other.p99Us : null,
        };
    }
  }
}

// ---------------------------------------------------------------- tables
// A table is { header: [...], lines: [[...]], left: Set(column indexes aligned left) },
// rendered as padded text on the console and as Markdown in RESULTS.md.

function renderText(t) {
  // A short line (skip/error rows) lets its last cell run on: it does not widen the columns.
  const all = [t.header, ...t.lines];
  const counts = (l, i) => l.length === t.header.length || i < l.length - 1;
  const widths = t.header.map((_, i) => Math.max(...all.map((l) => (counts(l, i) ? String(l[i] ?? '').length : 0))));
  const out = all.map((l) => l.map((c, i) => (!counts(l, i) ? String(c ?? '') : t.left.has(i) ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('  ').trimEnd());
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return `${out.join('\n')}\n`;
}

function renderMd(t) {
  const cell = (c) => String(c ?? '').replace(/\|/g, '\\|');
  const lines = [
    `| ${t.header.map(cell).join(' | ')} |`,
    `|${t.header.map((_, i) => (t.left.has(i) ? ':---' : '---:')).join('|')}|`,
    ...t.lines.map((l) => `| ${t.header.map((_, i) => cell(l[i])).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

function skipCell(r) {
  return r.skipped ? `skipped: ${r.skipped}` : `ERROR: ${r.error}`;
}

function loadTable(rows) {
  const peers = PEERS.filter((p) => rows.some((r) => r.contender === p && ok(r)));
  const hasUdp = rows.some((r) => r.scenario === 'udp' && ok(r));
  const header = ['scenario', 'contender', 'throughput', 'p50 µs', 'p99 µs', 'proxy CPU s (%core)', 'work / proxy CPU-s', 'proxy CPU-s per unit', 'proxy RSS MiB', 'errors', ...(hasUdp ? ['lost'] : []),
    `÷ ${BASELINE}`, `p99 ÷ ${BASELINE}`, ...peers.flatMap((p) => [`${SUBJECT} ÷ ${p}`, `p99 ÷ ${p}`])];
  const lines = [];
  for (const r of rows) {
    if (!ok(r)) {
      lines.push([r.scenario, r.contender, skipCell(r)]);
      continue;
    }
    const vs = (name) => {
      const v = r.vs && r.vs[name];
      return v ? [fmt(v.throughput, 2), v.p99 === null ? '' : fmt(v.p99, 2)] : ['', ''];
    };
    const cpu = r.proxyCpuSeconds === null || r.proxyCpuSeconds === undefined ? '-' : `${fmt(r.proxyCpuSeconds, 2)} (${fmt((100 * r.proxyCpuSeconds) / r.seconds)}%)`;
    const work = r.workPerProxyCpuSecond === null || r.workPerProxyCpuSecond === undefined ? '-' : `${fmt(r.workPerProxyCpuSecond, r.workUnit === 'GiB' ? 2 : 0)} ${r.workUnit}`;
    const note = r.fallback ? ` (${r.tool}: no ${r.scenario === 'keepalive' ? 'wrk' : 'iperf3'})` : r.scenario === 'bulk' && r.confirmed === false ? ' (unconfirmed)' : r.capped ? ' (capped)' : '';
    const digits = r.unit === 'Gbit/s' ? 2 : r.unit === 'MiB/s' ? 1 : 0;
    lines.push([
      r.scenario, r.contender, `${fmt(r.figure, digits)} ${r.unit}${note}`,
      fmt(r.p50Us), fmt(r.p99Us), cpu, work, r.cpuPerUnit === undefined ? '-' : `${fmt(r.cpuPerUnit, 3)} / ${r.cpuUnit}`, fmt(r.proxyRssMiB, 1), fmt(r.errors), ...(hasUdp ? [r.scenario === 'udp' ? fmt(r.lost) : ''] : []),
      ...vs(BASELINE), ...peers.flatMap((p) => vs(p)),
    ]);
  }
  return { header, lines, left: new Set([0, 1, 2]) };
}

function idleTable(rows) {
  const peers = PEERS.filter((p) => rows.some((r) => r.contender === p && ok(r)));
  const header = ['idle', 'connections held', 'all up after s', 'RSS before MiB', 'RSS after MiB', 'KiB / conn', 'proxy CPU s', 'open-files limit', ...peers.map((p) => `${SUBJECT} ÷ ${p}`)];
  const lines = rows.map((r) => {
    if (!ok(r)) return [r.contender, skipCell(r)];
    const heldText = `${fmt(r.held)} / ${fmt(r.wanted)}${r.complete ? '' : ' (incomplete)'}`;
    return [
      r.contender, heldText, fmt(r.establishSeconds, 2), fmt(r.rssBeforeKiB / 1024, 1), fmt(r.rssAfterKiB / 1024, 1), fmt(r.kibPerConn, 2),
      fmt(r.proxyCpuSeconds, 2), String(r.proxyNofile ?? '-'),
      ...peers.map((p) => (r.vs && r.vs[p] && r.vs[p].kibPerConn !== null ? fmt(r.vs[p].kibPerConn, 2) : '')),
    ];
  });
  return { header, lines, left: new Set([0]) };
}

function failoverTable(rows) {
  const header = ['failover', 'runs', 'median ms', 'max ms', 'min ms', 'target ms', 'max ≤ target', 'B master after (median / max ms)', 'takeover reason', 'failed probes', 'runs with an echo from A first'];
  const lines = [];
  for (const r of rows) {
    if (!ok(r)) {
      lines.push([r.case || 'pair', skipCell(r)]);
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
  return { header, lines, left: new Set([0, 8, 9]) };
}

/** The issue's targets against the rows of this run: met / NOT met / not measured. */
function evaluateTargets(rows) {
  return TARGETS.map((t) => {
    const mine = rows.find((r) => r.scenario === t.scenario && r.contender === SUBJECT);
    const theirs = rows.find((r) => r.scenario === t.scenario && r.contender === t.peer);
    const base = { ...t, label: `${t.what} ${t.op} ${fmt(t.bound, 1)} × ${t.peer}` };
    const missing = !mine ? `${t.scenario} / ${SUBJECT} did not run` : !theirs ? `${t.scenario} / ${t.peer} did not run`
      : !ok(mine) ? `${SUBJECT}: ${mine.skipped || mine.error}` : !ok(theirs) ? `${t.peer}: ${theirs.skipped || theirs.error}` : null;
    if (missing) return { ...base, verdict: 'not measured', note: missing };
    const value = (r) => (t.metric === 'p99' ? r.p99Us : t.metric === 'kibPerConn' ? r.kibPerConn : r.figure);
    const ratio = mine.vs && mine.vs[t.peer] ? mine.vs[t.peer][t.metric] : null;
    if (ratio === null || ratio === undefined) return { ...base, verdict: 'not measured', note: 'no ratio (a figure is 0 or missing)', fulcrum: value(mine), peerValue: value(theirs) };
    const met = t.op === '≥' ? ratio >= t.bound : ratio <= t.bound;
    const unit = t.metric === 'p99' ? 'µs' : t.metric === 'kibPerConn' ? 'KiB/conn' : mine.unit;
    const note = [
      mine.fallback && `measured with ${mine.tool}`,
      t.scenario === 'idle' && mine.wanted !== IDLE_CONNS && `${fmt(mine.wanted)} connections, not ${fmt(IDLE_CONNS)}`,
      t.scenario === 'idle' && !(mine.complete && theirs.complete) && 'not all connections held',
    ].filter(Boolean).join('; ');
    return { ...base, verdict: met ? 'met' : 'NOT met', ratio, fulcrum: value(mine), peerValue: value(theirs), unit, ...(note && { note }) };
  });
}

function targetsTable(targets) {
  const header = ['target', 'fulcrum', 'peer', 'measured ratio', 'verdict', 'note'];
  const digits = (t) => (t.unit === 'Gbit/s' || t.unit === 'KiB/conn' ? 2 : t.unit === 'MiB/s' ? 1 : 0);
  const lines = targets.map((t) => [
    t.label,
    t.fulcrum === undefined ? '' : `${fmt(t.fulcrum, digits(t))} ${t.unit || ''}`.trim(),
    t.peerValue === undefined ? '' : `${t.peer} ${fmt(t.peerValue, digits(t))} ${t.unit || ''}`.trim(),
    t.ratio === undefined ? '' : fmt(t.ratio, 2),
    t.verdict, t.note || '',
  ]);
  return { header, lines, left: new Set([0, 4, 5]) };
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

// ---------------------------------------------------------------- host facts, RESULTS.md

function hostFacts() {
  const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
  const cpuinfo = read('/proc/cpuinfo');
  const model = (/^model name\s*:\s*(.*)$/m.exec(cpuinfo) || [])[1] || (os.cpus()[0] && os.cpus()[0].model) || '?';
  const memKiB = Number((/^MemTotal:\s+(\d+)/m.exec(read('/proc/meminfo')) || [])[1] || 0);
  let nproc = os.cpus().length;
  try { nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc; } catch { /* os.cpus() */ }
  return { nproc, cpuModel: model.trim(), memTotalGiB: memKiB ? Math.round((memKiB / 1024 ** 2) * 10) / 10 : null, os: `${os.type()} ${os.release()}` };
}

function writeResultsMd(meta, loadRows, idleRows, failoverRows, targets) {
  const v = meta.versions;
  const tool = (name) => (v[name] ? `\`${v[name]}\`` : 'not installed');
  const scen = meta.scenarios.filter((s) => s.name !== 'failover');
  const out = [];
  out.push('# fulcrum benchmark results', '');
  out.push('Written by `node benchmarks/run.js --write-results`; a later run with the flag replaces this file.',
    'How the figures are made: [README.md](README.md).', '');
  out.push(`- **Date**: ${meta.date}`);
  out.push(`- **Command**: \`${meta.command}\``);
  out.push(`- **Machine**: ${meta.host.nproc} CPUs (\`nproc\`), ${meta.host.cpuModel}, ${fmt(meta.host.memTotalGiB, 1)} GiB RAM, ${meta.host.os}`);
  out.push(`- **Pinning**: ${meta.pinned ? `backends + load generators on core ${meta.loadCore}, proxy on core ${meta.proxyCore} (taskset)` : 'NOT pinned (no taskset)'}; 1-minute load average at start ${fmt(meta.loadAvgAtStart, 2)}`);
  out.push(`- **Versions**: node \`${meta.node}\`; haproxy ${tool('haproxy')}; nginx ${tool('nginx')}; wrk ${tool('wrk')}; iperf3 ${tool('iperf3')}`);
  out.push(`- **Duration**: ${meta.durationSeconds} s per load run${meta.idleConnections ? `; idle: ${fmt(meta.idleConnections)} connections` : ''}${meta.failoverRuns ? `; failover: ${meta.failoverRuns} runs per case` : ''}`);
  out.push('');
  out.push('Scenarios in this run:', '');
  for (const s of scen) out.push(`- \`${s.name}\` (${s.unit}, ${s.tool || 'load.js'}): ${s.what}${s.fallback ? ` **Fallback**: ${s.fallback}.` : ''}`);
  out.push('');
  if (targets.length > 0) {
    out.push('## Targets', '', 'fulcrum against the issue\'s targets (ratio = fulcrum ÷ peer, same scenario, same run):', '');
    out.push(renderMd(targetsTable(targets)));
  }
  if (loadRows.length > 0) {
    out.push('## Load scenarios', '',
      'Throughput ratios: higher is better for fulcrum; p99 ratios: lower is better. ' +
      '"work / proxy CPU-s": requests, connections, datagram round trips or GiB moved per second of the proxy\'s CPU time (`utime + stime`, 10 ms resolution).', '');
    out.push(renderMd(loadTable(loadRows)));
  }
  if (idleRows.length > 0) {
    out.push('## Idle connections', '',
      `RSS (\`VmRSS\`) of the proxy before and after ${fmt(meta.idleConnections)} idle client connections (each with its upstream connection) were established end to end; KiB / conn = growth ÷ connections held. Ratio: lower is better for fulcrum.` +
      (meta.idleConnections < meta.idleConnectionsAsked
        ? ` ${fmt(meta.idleConnections)}, not ${fmt(meta.idleConnectionsAsked)}: the open-files hard limit here is ${meta.fdLimit} (\`ulimit -Hn\`), and a proxy needs two fds per client connection.`
        : ''), '');
    out.push(renderMd(idleTable(idleRows)));
  }
  if (failoverRows.length > 0) {
    out.push('## Failover', '');
    out.push(renderMd(failoverTable(failoverRows)));
  }
  out.push('One run, figures compare contenders on this host (loopback, two cores); they are not absolute, and runs made back to back ' +
    'differ by 10–30 % (more for `connrate` and `bulk`). Compare ratios, repeat before drawing conclusions. See README.md, *Caveats*.', '');
  // Sections written by other commands (dns.js, --write-scaling) stay.
  let previous = '';
  try { previous = fs.readFileSync(RESULTS_MD, 'utf8'); } catch { /* none yet */ }
  for (const [start, end] of [[SCALING_START, SCALING_END], ['<!-- dns:start -->', '<!-- dns:end -->']]) {
    const a = previous.indexOf(start);
    const b = previous.indexOf(end);
    if (a >= 0 && b > a) out.push(previous.slice(a, b + end.length), '');
  }
  fs.writeFileSync(RESULTS_MD, out.join('\n'));
}

// ---------------------------------------------------------------- scaling section (--write-scaling)

const SCALING_START = '<!-- scaling:start -->';
const SCALING_END = '<!-- scaling:end -->';
const SCALING_KEEP = 3;

/**
 * Keep this run's load rows in scaling.json (one per workers/scenario/contender; a rerun replaces
 * its rows, others stay), then render RESULTS.md's scaling section from all of them. So runs
 * made at different times (N = 1 now, fulcrum N = 2 once workers land) end up in one table.
 */
function writeScaling(meta, rows) {
  let store = { rows: [] };
  try { store = JSON.parse(fs.readFileSync(SCALING_JSON, 'utf8')); } catch { /* first run */ }
  // Runs on a shared host differ a lot: every run's row is kept (the last SCALING_KEEP per N/scenario/contender).
  const key = (r) => `${r.workers}/${r.scenario}/${r.contender}`;
  const fresh = rows.filter((r) => ok(r) && r.contender !== BASELINE).map((r) => ({
    workers: r.workers, scenario: r.scenario, contender: r.contender, figure: r.figure, unit: r.unit,
    p99Us: r.p99Us ?? null, proxyCpuSeconds: r.proxyCpuSeconds ?? null, seconds: r.seconds ?? null,
    cpuPerUnit: r.cpuPerUnit ?? null, cpuUnit: r.cpuUnit ?? null, loadAvg1: r.loadAvg1,
    date: meta.date, node: meta.node, cores: `proxy ${meta.proxyCore} / load ${meta.loadCore}${meta.coresShared ? ' (shared)' : ''}`,
  }));
  const all = [...store.rows, ...fresh];
  store.rows = all.filter((r) => all.filter((o) => key(o) === key(r) && o.date > r.date).length < SCALING_KEEP);
  const order = (r) => [r.workers, SCENARIOS.findIndex((s) => s.name === r.scenario), CONTENDERS.findIndex((c) => c.name === r.contender)];
  store.rows.sort((a, b) => { const x = order(a); const y = order(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || a.date.localeCompare(b.date); });
  store.host = meta.host;
  store.versions = { ...(store.versions || {}), ...Object.fromEntries(Object.entries(meta.versions).filter(([, v]) => v)) };
  fs.writeFileSync(SCALING_JSON, `${JSON.stringify(store, null, 2)}\n`);

  const h = meta.host;
  const digits = (r) => (r.unit === 'Gbit/s' ? 2 : r.unit === 'MiB/s' ? 1 : 0);
  const out = [SCALING_START, '## Workers: N = 1 and N = 2', '',
    `\`npm run bench -- --workers N --write-scaling\` (HAProxy \`nbthread N\`, nginx \`worker_processes N\` with a master, fulcrum \`workers: N\`); each run's rows are kept in [scaling.json](scaling.json) (the last ${SCALING_KEEP} per N, scenario and contender), so the spread between runs shows.`,
    `Machine: ${h.nproc} CPUs (\`nproc\`), ${h.cpuModel}, ${fmt(h.memTotalGiB, 1)} GiB RAM, ${h.os}. ` +
      `Versions: ${['haproxy', 'nginx', 'wrk', 'iperf3'].map((t) => `${t} \`${store.versions[t] || 'not installed'}\``).join('; ')}. ` +
      'N = 1: proxy on core 1, backends and load generators on core 0. N = 2 on this 2-core machine: the proxy may use both cores and the backends and load generators **share** them, ' +
      'so N = 2 throughput is bounded by the load generators too; **CPU per unit of work** (proxy `utime + stime` from `/proc/PID/stat`, master + workers for nginx) stays comparable. ' +
      'The host is shared with other jobs: the 1-minute load average when each row started is in its row (0.0–1.0 is quiet; above that, other work took CPU).', '',
    '| N | scenario | contender | throughput | p99 µs | proxy CPU-s | CPU-s per unit | load avg | date, node |',
    '|---:|:---|:---|---:|---:|---:|---:|---:|:---|'];
  for (const r of store.rows) {
    out.push(`| ${r.workers} | ${r.scenario} | ${r.contender} | ${fmt(r.figure, digits(r))} ${r.unit} | ${fmt(r.p99Us)} | ${fmt(r.proxyCpuSeconds, 2)} | ${r.cpuPerUnit === null ? '-' : `${fmt(r.cpuPerUnit, 3)} / ${r.cpuUnit}`} | ${fmt(r.loadAvg1, 2)} | ${r.date.slice(0, 16).replace('T', ' ')}, ${r.node} |`);
  }
  out.push('', SCALING_END);
  let md = '';
  try { md = fs.readFileSync(RESULTS_MD, 'utf8'); } catch { /* none yet */ }
  const section = out.join('\n');
  const a = md.indexOf(SCALING_START);
  const b = md.indexOf(SCALING_END);
  if (a >= 0 && b > a) md = md.slice(0, a) + section + md.slice(b + SCALING_END.length);
  else {
    const dns = md.indexOf('<!-- dns:start -->');
    md = dns >= 0 ? `${md.slice(0, dns)}${section}\n\n${md.slice(dns)}` : `${md.trimEnd()}\n\n${section}\n`;
  }
  fs.writeFileSync(RESULTS_MD, md);
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const t of opts.without) proc.pretendMissing.add(t);
  const pick = (list) => (opts.only && list.some((x) => opts.only.includes(x.name)) ? list.filter((x) => opts.only.includes(x.name)) : list);
  const scenarios = resolveScenarios(pick(SCENARIOS));
  const contenders = pick(CONTENDERS);
  const loadScenarios = scenarios.filter(isLoad);
  // failover runs fulcrum only: when fulcrum is among the contenders, or when asked for by name.
  const withFailover = scenarios.some((s) => s.name === 'failover') &&
    (contenders.some((c) => c.name === SUBJECT) || (opts.only !== null && opts.only.includes('failover')));
  const durationMs = Math.round(opts.duration * 1000);
  const pinned = proc.hasTaskset();
  const place = placement(opts.workers);
  LOAD_CORE = place.load;
  PROXY_CORE = place.proxy;
  const pinning = !pinned ? 'taskset not found: NOT pinned'
    : place.shared ? `${opts.workers} proxy workers on cores ${PROXY_CORE}; backend+load SHARE them (cores ${LOAD_CORE}): compare CPU per unit of work more than throughput`
      : `backend+load on core ${LOAD_CORE}, proxy (${opts.workers} worker${opts.workers > 1 ? 's' : ''}) on core${opts.workers > 1 ? 's' : ''} ${PROXY_CORE}`;
  if (loadScenarios.length > 0) {
    process.stdout.write(`fulcrum bench: ${loadScenarios.length} scenario(s) × ${contenders.length} contender(s), ${opts.duration}s each; ${pinning}\n`);
  }
  if (withFailover) {
    process.stdout.write(`fulcrum bench: failover, ${opts.runs} run(s) per case; ${pinned ? `both fulcrum nodes on core ${PROXY_CORE}, probes + echo in the harness` : 'taskset not found: NOT pinned'}\n`);
  }
  // Say up front what is missing and what runs instead.
  for (const s of loadScenarios) if (s.fallback) process.stdout.write(`  note: ${s.name}: ${s.fallback}\n`);
  for (const c of contenders) {
    const why = c.unavailable('tcp');
    if (why) process.stdout.write(`  note: ${c.name} skipped: ${why}\n`);
  }

  // Each idle client connection costs the proxy two fds; the open-files limit may not allow --idle-conns.
  let idleConns = opts.idleConns;
  if (loadScenarios.some((s) => s.name === 'idle') && idleConns > proc.maxProxiedConns()) {
    idleConns = proc.maxProxiedConns();
    process.stdout.write(`  note: idle: open-files limit ${proc.fdBudget()} (ulimit -Hn) lets a proxy hold ${idleConns} client connections (2 fds each, 200 spare), not ${opts.idleConns}; ` +
      `raise the hard limit (root with CAP_SYS_RESOURCE: ulimit -Hn 65535) for the full count\n`);
  }

  const load1 = os.loadavg()[0];
  if (load1 > 0.5) process.stdout.write(`  warning: load average ${load1.toFixed(2)} before start; other work on this host will skew the figures\n`);
  const rows = [];
  if (loadScenarios.length > 0) {
    const backend = await startBackend();
    const ctx = { backend, durationMs, idleConns, iperf3Server: null, workers: opts.workers };
    try {
      for (const scenario of loadScenarios) {
        if (scenario.tool === 'iperf3') {
          try {
            ctx.iperf3Server = await tools.startIperf3Server(LOAD_CORE);
          } catch (err) {
            for (const contender of contenders) rows.push({ scenario: scenario.name, contender: contender.name, unit: scenario.unit, tool: 'iperf3', error: err.message.split('\n')[0] });
            continue;
          }
        }
        try {
          for (const contender of contenders) {
            process.stdout.write(`  ${scenario.name} / ${contender.name} ... `);
            let row;
            const loadAvg1 = os.loadavg()[0]; // other work on the host, per row: a shared machine changes by the minute
            try {
              row = await runOne(scenario, contender, ctx);
            } catch (err) {
              row = { scenario: scenario.name, contender: contender.name, unit: scenario.unit, tool: scenario.tool, error: err.message.split('\n')[0] };
            }
            row.workers = opts.workers;
            row.loadAvg1 = loadAvg1;
            rows.push(row);
            const done = row.scenario === 'idle' ? `${fmt(row.kibPerConn, 2)} KiB/conn (${fmt(row.held)} held, all up after ${fmt(row.establishSeconds, 2)} s)`
              : `${fmt(row.figure, row.unit === 'Gbit/s' ? 2 : 1)} ${row.unit}${row.cpuPerUnit !== undefined ? `, ${fmt(row.cpuPerUnit, 3)} CPU-s / ${row.cpuUnit}` : ''} (load avg ${fmt(loadAvg1, 2)})`;
            process.stdout.write(`${row.skipped ? `skipped (${row.skipped})` : row.error ? `error: ${row.error}` : done}\n`);
            await sleep(300); // let the previous run's sockets settle
          }
        } finally {
          if (ctx.iperf3Server) {
            await ctx.iperf3Server.stop();
            ctx.iperf3Server = null;
          }
        }
      }
    } finally {
      await proc.stopChild(backend.child);
    }
  }
  const failoverRows = withFailover ? await runFailoverRows(opts.runs) : [];
  const withDns = scenarios.some((s) => s.name === 'dns') && (contenders.some((c) => c.name === SUBJECT) || (opts.only !== null && opts.only.includes('dns')));
  const dnsRows = withDns ? await dnsBench.runDns({ seconds: opts.duration, rounds: 3, workers: opts.workers }) : [];

  addRatios(rows);
  const loadRows = rows.filter((r) => r.scenario !== 'idle');
  const idleRows = rows.filter((r) => r.scenario === 'idle');
  if (loadRows.length > 0) process.stdout.write(`\n${renderText(loadTable(loadRows))}`);
  if (idleRows.length > 0) process.stdout.write(`\n${renderText(idleTable(idleRows))}`);
  if (failoverRows.length > 0) process.stdout.write(`\n${renderText(failoverTable(failoverRows))}`);
  const targets = evaluateTargets(rows).filter((t) => loadScenarios.some((s) => s.name === t.scenario));
  if (targets.length > 0) process.stdout.write(`\n${renderText(targetsTable(targets))}`);
  rows.push(...failoverRows, ...dnsRows.map((r) => ({ scenario: 'dns', contender: r.server, unit: 'q/s', ...r })));

  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, 'results.json');
  const ran = [...loadScenarios, ...scenarios.filter((s) => (withFailover && s.name === 'failover') || (withDns && s.name === 'dns'))];
  const host = hostFacts();
  const meta = {
    date: new Date().toISOString(), command: `node benchmarks/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    node: process.version, os: host.os, cpus: host.nproc, cpuModel: host.cpuModel, host,
    versions: { node: process.version, ...contendersModule.versions(), ...tools.versions() },
    pinned, loadAvgAtStart: load1, loadCore: LOAD_CORE, proxyCore: PROXY_CORE, workers: opts.workers, coresShared: place.shared, durationSeconds: opts.duration,
    ...(opts.without.length > 0 && { pretendMissing: opts.without }),
    ...(loadScenarios.some((s) => s.name === 'idle') && { idleConnections: idleConns, idleConnectionsAsked: opts.idleConns, fdLimit: proc.fdBudget() }),
    ...(withFailover && { failoverRuns: opts.runs }),
    scenarios: ran.map(({ name, protocol, unit, what, tool, fallback }) => ({ name, protocol, unit, what, tool, ...(fallback && { fallback }) })),
  };
  for (const t of opts.without) if (meta.versions[t] !== undefined) meta.versions[t] = null;
  fs.writeFileSync(file, `${JSON.stringify({ ...meta, targets, results: rows }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), file)}\n`);
  if (opts.writeResults) {
    writeResultsMd(meta, loadRows, idleRows, failoverRows, targets);
    if (withDns) dnsBench.writeDnsSection(dnsRows, { seconds: opts.duration, rounds: 3, workers: opts.workers, command: meta.command });
    process.stdout.write(`wrote ${path.relative(process.cwd(), RESULTS_MD)}\n`);
  }
  if (opts.writeScaling) {
    writeScaling(meta, rows.filter((r) => r.workers !== undefined && r.scenario !== 'idle'));
    process.stdout.write(`wrote ${path.relative(process.cwd(), SCALING_JSON)} and RESULTS.md's scaling section\n`);
  }
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
