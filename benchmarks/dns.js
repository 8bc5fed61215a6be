'use strict';
// The "dns" scenario: queries/s of an authoritative GSLB name server answering
// one health-checked record, measured with dnsperf. Three servers, each alone on
// one core (taskset), one after the other in the same run, same record, same
// members, same health checks (TCP connect to port M every 2 s):
//   fulcrum  protocol: dns, policy simple (all healthy members)
//   pdns     PowerDNS Authoritative, bind backend, LUA A "ifportup(M, {...}, {selector='all'})", enable-lua-records=shared
//   gdnsd    gdnsd, DYNA multifo with a tcp_connect service type
// Each answers www.gslb.test A with both members (127.0.0.21, 127.0.0.22), which
// listen on port M in this process. dnsperf runs pinned to the other core.
//
//   node benchmarks/dns.js [--duration SECONDS] [--rounds N] [--only fulcrum,pdns,gdnsd] [--workers N] [--write-results]
// --workers N: fulcrum's `workers` (default 1, alone on core 1). Above 1 it needs Node 22.12+ (run this
// script with that node) and its threads run on cores 1..N, or on every core (dnsperf's too) when N
// is not below the number of cores.
// (or through run.js: node benchmarks/run.js --only dns)

const { execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const proc = require('./proc');

const ROOT = path.resolve(__dirname, '..');
const FULCRUM_CLI = path.join(ROOT, 'dist', 'cli', 'fulcrum.js');
const RESULTS_MD = path.join(__dirname, 'RESULTS.md');
const LOAD_CORE = 0;
const SERVER_CORE = 1;
const MEMBERS = ['127.0.0.21', '127.0.0.22'];
const QNAME = 'www.gslb.test';
const READY_TIMEOUT_MS = 20_000;
const CLIENTS = 8; // dnsperf -c: UDP sockets
const OUTSTANDING = 200; // dnsperf -q: queries in flight
const SECTION_START = '<!-- dns:start -->';
const SECTION_END = '<!-- dns:end -->';

const SERVERS = [
  { name: 'fulcrum', bin: process.execPath, start: startFulcrum },
  { name: 'pdns', bin: 'pdns_server', start: startPdns },
  { name: 'gdnsd', bin: 'gdnsd', start: startGdnsd },
];

function unavailable(server) {
  if (!proc.which('dnsperf')) return 'dnsperf not installed (apt-get install dnsperf)';
  if (server.name === 'fulcrum' && !fs.existsSync(FULCRUM_CLI)) return 'dist/ missing: npm run build';
  if (server.name !== 'fulcrum' && !proc.which(server.bin)) return `${server.bin} not installed (apt-get install ${server.name === 'pdns' ? 'pdns-server pdns-backend-bind' : 'gdnsd'})`;
  return null;
}

/** Cores for fulcrum with N workers: core 1 alone for one, 1..N while that leaves core 0 to dnsperf, else all. */
function fulcrumCores(workers, cores = os.cpus().length) {
  if (workers === 1) return String(SERVER_CORE);
  return workers < cores ? `1-${workers}` : `0-${cores - 1}`;
}

function startFulcrum(dir, port, memberPort, workers = 1) {
  const file = path.join(dir, 'fulcrum.yaml');
  fs.writeFileSync(file, `log: { level: warn }
admin: { enabled: false }
workers: ${workers}
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:${port}
    zones:
      - name: gslb.test
        ns: [ { name: ns1.gslb.test, address: 127.0.0.53 } ]
        records:
          - name: www
            policy: simple
            ttl: 30s
            health: { interval: 2s, timeout: 1s, rise: 2, fall: 3, port: ${memberPort} }
            members: [ ${MEMBERS.map((a) => `{ address: ${a} }`).join(', ')} ]
`);
  return proc.spawnPinned(fulcrumCores(workers), process.execPath, [FULCRUM_CLI, 'run', '-c', file], { guard: true });
}

function startPdns(dir, port, memberPort) {
  fs.writeFileSync(path.join(dir, 'gslb.test.zone'), `$ORIGIN gslb.test.
@ 3600 IN SOA ns1 hostmaster 1 3600 600 604800 30
@ 3600 IN NS ns1
ns1 3600 IN A 127.0.0.53
www 30 IN LUA A "ifportup(${memberPort}, {${MEMBERS.map((a) => `'${a}'`).join(', ')}}, {selector='all', timeout=1})"
`);
  fs.writeFileSync(path.join(dir, 'named.conf'), `zone "gslb.test" { type master; file "${path.join(dir, 'gslb.test.zone')}"; };\n`);
  fs.writeFileSync(path.join(dir, 'pdns.conf'), [
    'launch=bind', `bind-config=${path.join(dir, 'named.conf')}`,
    'enable-lua-records=shared', // one Lua state for all queries: 10× the queries/s of "yes" (a fresh state per query) here
    'lua-health-checks-interval=2',
    'local-address=127.0.0.1', `local-port=${port}`, 'daemon=no', 'guardian=no', `socket-dir=${dir}`, 'disable-syslog=yes',
    'receiver-threads=1', 'distributor-threads=1', 'loglevel=4',
    'security-poll-suffix=', // no status lookup on the internet
    '',
  ].join('\n'));
  return proc.spawnPinned(SERVER_CORE, 'pdns_server', [`--config-dir=${dir}`], { guard: true });
}

function startGdnsd(dir, port, memberPort) {
  fs.mkdirSync(path.join(dir, 'zones'));
  fs.writeFileSync(path.join(dir, 'config'), `options => {
  listen => [ 127.0.0.1 ]
  dns_port => ${port}
  udp_threads => 1
  tcp_threads => 1
}
service_types => {
  tcpcheck => { plugin => tcp_connect, port => ${memberPort}, up_thresh => 2, ok_thresh => 2, down_thresh => 3, interval => 2, timeout => 1 }
}
plugins => {
  multifo => { www => { service_types => tcpcheck, ${MEMBERS.map((a, i) => `a${i + 1} => ${a}`).join(', ')} } }
}
`);
  fs.writeFileSync(path.join(dir, 'zones', 'gslb.test'), '@ SOA ns1 hostmaster 1 3600 600 604800 30\n@ NS ns1\nns1 A 127.0.0.53\nwww 30 DYNA multifo!www\n');
  return proc.spawnPinned(SERVER_CORE, 'gdnsd', ['-c', dir, 'start'], { guard: true });
}

/** One A query over UDP; resolves with the sorted answer addresses, or null. */
function askA(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 65535);
    const labels = QNAME.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
    const q = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
    const timer = setTimeout(() => { s.close(); resolve(null); }, 500);
    s.on('error', () => {});
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      const an = m.readUInt16BE(6);
      const out = [];
      let at = q.length; // the question is echoed; each answer is pointer(2) type class ttl rdlen rdata
      for (let i = 0; i < an && at + 12 <= m.length; i++) {
        const type = m.readUInt16BE(at + 2);
        const len = m.readUInt16BE(at + 10);
        if (type === 1 && len === 4) out.push([...m.subarray(at + 12, at + 16)].join('.'));
        at += 12 + len;
      }
      resolve(out.sort());
    });
    s.send(q, port, proc.HOST);
  });
}

/** Until the server answers with every member (its first health checks passed). */
async function waitAnswering(port, child, name) {
  const end = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${child.stderrText.trim().split('\n').slice(-3).join(' | ')}`);
    const a = await askA(port);
    if (a !== null && a.join(',') === MEMBERS.join(',')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer ${QNAME} with ${MEMBERS.join(', ')} within ${READY_TIMEOUT_MS} ms`);
}

function parseDnsperf(out) {
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : null; };
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) === null ? null : num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    noerror: num(/NOERROR (\d+)/),
  };
}

async function runDnsperf(port, seconds, serverPid) {
  const file = path.join(os.tmpdir(), `fulcrum-dnsperf-${process.pid}.txt`);
  fs.writeFileSync(file, `${QNAME} A\n`);
  const cpu0 = proc.cpuSeconds(serverPid);
  const child = proc.spawnPinned(LOAD_CORE, 'dnsperf', ['-s', proc.HOST, '-p', String(port), '-d', file, '-l', String(seconds), '-c', String(CLIENTS), '-q', String(OUTSTANDING), '-T', '1', '-t', '2']);
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (out += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000); // bounded, whatever dnsperf does
  const { code } = await child.exited;
  clearTimeout(killer);
  const cpu = proc.cpuSeconds(serverPid) - cpu0;
  fs.rmSync(file, { force: true });
  const r = parseDnsperf(out);
  if (code !== 0 || r.qps === null) throw new Error(`dnsperf failed (code ${code}): ${child.stderrText.trim() || out.trim()}`);
  return { ...r, serverCpuSeconds: Math.round(cpu * 100) / 100 };
}

function startMembers(port) {
  return Promise.all(MEMBERS.map((host) => new Promise((resolve, reject) => {
    const server = net.createServer((s) => { s.on('error', () => {}); s.end(); });
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  })));
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

/** Runs `rounds` rounds; in each, every server in turn. Returns one row per server (median of its rounds). */
async function runDns({ seconds = 5, rounds = 3, only = null, workers = 1, log = (t) => process.stdout.write(t) } = {}) {
  const servers = SERVERS.filter((s) => only === null || only.includes(s.name));
  const memberPort = await proc.freePort('tcp');
  const members = await startMembers(memberPort);
  const runs = new Map(servers.map((s) => [s.name, []]));
  const errors = new Map();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const server of servers) {
        const why = unavailable(server);
        if (why) { errors.set(server.name, `skipped: ${why}`); continue; }
        log(`  dns / ${server.name}${server.name === 'fulcrum' && workers > 1 ? ` (${workers} workers)` : ''} round ${round}/${rounds} ... `);
        const tmp = proc.makeTempDir(`fulcrum-dns-${server.name}-`);
        const port = await proc.freePort('udp');
        const child = server.start(tmp.dir, port, memberPort, workers);
        try {
          await waitAnswering(port, child, server.name);
          const r = await runDnsperf(port, seconds, child.pid);
          runs.get(server.name).push(r);
          log(`${Math.round(r.qps)} q/s, lost ${r.lost}, avg ${r.avgLatencyMs.toFixed(2)} ms, server CPU ${r.serverCpuSeconds} s\n`);
        } catch (err) {
          errors.set(server.name, err.message.split('\n')[0]);
          log(`error: ${errors.get(server.name)}\n`);
        } finally {
          await proc.stopChild(child);
          tmp.remove();
        }
      }
    }
  } finally {
    for (const m of members) m.close();
  }
  return servers.map((s) => {
    const rs = runs.get(s.name);
    if (rs.length === 0) return { server: s.name, error: errors.get(s.name) ?? 'no run' };
    return {
      server: s.name,
      qps: Math.round(median(rs.map((r) => r.qps))),
      qpsRuns: rs.map((r) => Math.round(r.qps)),
      lost: rs.reduce((n, r) => n + r.lost, 0),
      sent: rs.reduce((n, r) => n + r.sent, 0),
      avgLatencyMs: Math.round(median(rs.map((r) => r.avgLatencyMs)) * 1000) / 1000,
      qpsPerCpuSecond: Math.round(median(rs.map((r) => (r.qps * seconds) / Math.max(r.serverCpuSeconds, 0.01)))),
    };
  });
}

function versions() {
  const v = (cmd, args, re) => { try { return (re.exec(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) || [])[1] || null; } catch (err) { return (re.exec(`${err.stdout || ''}${err.stderr || ''}`) || [])[1] || null; } };
  return {
    pdns: v('pdns_server', ['--version'], /PowerDNS Authoritative Server (\S+)/),
    gdnsd: v('gdnsd', ['-h'], /gdnsd version (\S+)/),
    dnsperf: v('dnsperf', ['-h'], /Version (\S+)/),
  };
}

/** The DNS section of RESULTS.md, between markers: replaced in place (or appended), the rest of the file kept. */
function writeDnsSection(rows, { seconds, rounds, command, workers = 1 }) {
  const v = versions();
  const gd = rows.find((r) => r.server === 'gdnsd');
  const lines = [SECTION_START, '## DNS (GSLB)', '',
    `\`${command}\` — ${new Date().toISOString()}; ${os.cpus().length} CPUs, 1-minute load average ${os.loadavg()[0].toFixed(2)} at the end (the host is shared: other work skews these figures).`,
    `dnsperf ${v.dnsperf ?? '?'} (\`-c ${CLIENTS} -q ${OUTSTANDING} -T 1\`, ${seconds} s, pinned to core ${LOAD_CORE}) against each server alone on core ${SERVER_CORE}; ${rounds} rounds, each server once per round; figures are medians.`,
    `Same record (\`${QNAME} A\` → both of ${MEMBERS.join(', ')}), same checks (TCP connect, 2 s): fulcrum \`policy: simple\`, \`workers: ${workers}\`${workers > 1 ? ' on cores ' + fulcrumCores(workers) : ''} (Node ${process.versions.node}); PowerDNS ${v.pdns ?? '?'} LUA \`ifportup(…, {selector='all'})\`; gdnsd ${v.gdnsd ?? '?'} \`multifo\`.`, '',
    '| server | queries/s | ÷ gdnsd | per round | avg latency ms | lost | queries / server CPU-s |', '|---|---:|---:|---|---:|---:|---:|'];
  for (const r of rows) {
    if (r.error) { lines.push(`| ${r.server} | ${r.error} | | | | | |`); continue; }
    const ratio = gd && !gd.error ? (r.qps / gd.qps).toFixed(2) : '–';
    lines.push(`| ${r.server} | ${r.qps} | ${ratio} | ${r.qpsRuns.join(', ')} | ${r.avgLatencyMs} | ${r.lost} of ${r.sent} | ${r.qpsPerCpuSecond} |`);
  }
  lines.push('', SECTION_END);
  const text = fs.existsSync(RESULTS_MD) ? fs.readFileSync(RESULTS_MD, 'utf8') : '# fulcrum benchmark results\n';
  const start = text.indexOf(SECTION_START);
  const end = text.indexOf(SECTION_END);
  const next = start >= 0 && end > start ? `${text.slice(0, start)}${lines.join('\n')}${text.slice(end + SECTION_END.length)}` : `${text.trimEnd()}\n\n${lines.join('\n')}\n`;
  fs.writeFileSync(RESULTS_MD, next);
}

module.exports = { runDns, writeDnsSection, versions, SERVERS };

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
  const seconds = Number(opt('--duration', '5'));
  const rounds = Number(opt('--rounds', '3'));
  const only = opt('--only', null)?.split(',') ?? null;
  const workers = Number(opt('--workers', '1'));
  if (!(seconds > 0 && seconds <= 120) || !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 10) || !(Number.isInteger(workers) && workers >= 1 && workers <= 64)) {
    process.stderr.write('usage: node benchmarks/dns.js [--duration SECONDS (≤ 120)] [--rounds N (≤ 10)] [--only fulcrum,pdns,gdnsd] [--workers N] [--write-results]\n');
    process.exit(2);
  }
  process.on('exit', proc.killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { proc.killAllSync(); process.exit(130); });
  runDns({ seconds, rounds, only, workers }).then((rows) => {
    process.stdout.write(`\n${JSON.stringify(rows, null, 2)}\n`);
    if (args.includes('--write-results')) writeDnsSection(rows, { seconds, rounds, workers, command: `node benchmarks/dns.js ${args.join(' ')}` });
    if (rows.some((r) => r.error)) process.exitCode = 1;
  }, (err) => {
    process.stderr.write(`dns.js: ${err.stack || err}\n`);
    process.exitCode = 1;
  });
}
