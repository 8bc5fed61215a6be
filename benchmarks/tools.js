'use strict';
// Third-party load tools: wrk (keepalive scenario) and iperf3 (bulk scenario).
// Both are optional: when one is not on PATH, run.js falls back to load.js
// (keepalive → the rr scenario, bulk → the Node bulk writer) and says so.
// Each tool runs pinned to the load core, bounded in time, and is SIGKILLed if
// it overstays; CPU of the proxy is sampled around it like around load.js.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { HOST, which, spawnPinned, stopChild, freePort, cpuSeconds } = require('./proc');

const WRK_HINT = 'apt-get install wrk';
const IPERF3_HINT = 'apt-get install iperf3';
const TOOL_GRACE_MS = 15_000; // beyond its own duration, before a tool is killed

/** { bin, reason }: reason is null when the tool is usable. */
function wrkSetup() {
  const bin = which('wrk');
  return bin ? { bin, reason: null } : { bin: null, reason: `wrk not on PATH (${WRK_HINT})` };
}

function iperf3Setup() {
  const bin = which('iperf3');
  return bin ? { bin, reason: null } : { bin: null, reason: `iperf3 not on PATH (${IPERF3_HINT})` };
}

/** First line of `TOOL -v` (wrk and iperf3 both print their version there), or null. */
function toolVersion(bin) {
  if (!bin) return null;
  try {
    return execFileSync('sh', ['-c', '"$0" -v 2>&1', bin], { encoding: 'utf8', timeout: 5000 }).split('\n')[0].trim();
  } catch (err) {
    return String(err.stdout || err.message).split('\n')[0].trim(); // wrk -v exits 1
  }
}

function versions() {
  return { wrk: toolVersion(wrkSetup().bin), iperf3: toolVersion(iperf3Setup().bin) };
}

/** Run `bin args` on `core`; resolve { code, signal, stdout, stderr }, SIGKILL after `limitMs`. */
async function runTool(core, bin, args, limitMs) {
  const child = spawnPinned(core, bin, args);
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { if (stdout.length < 4 << 20) stdout += d; });
  const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, limitMs);
  const { code, signal, error } = await child.exited;
  clearTimeout(timer);
  if (error) throw new Error(`${bin}: ${error.message}`);
  return { code, signal, stdout, stderr: child.stderrText };
}

// ---------------------------------------------------------------- wrk

const TIME_UNITS = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };
/** "459.00us" / "1.23ms" / "2.00s" / "1.00m" → microseconds. */
function parseWrkTime(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  return m ? Number(m[1]) * TIME_UNITS[m[2]] : null;
}

/**
 * Parse wrk's text report: Requests/sec, "N requests in T", Latency
 * Distribution 50% / 99% (needs --latency), socket errors, non-2xx replies.
 */
function parseWrk(out) {
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : null; };
  const pct = (p) => { const m = new RegExp(`^\\s+${p}%\\s+(\\S+)\\s*$`, 'm').exec(out); return m ? parseWrkTime(m[1]) : null; };
  const total = /(\d+) requests in ([\d.]+\w+),/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sockErr ? { connect: +sockErr[1], read: +sockErr[2], write: +sockErr[3], timeout: +sockErr[4] } : null;
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  return {
    perSec: num(/Requests\/sec:\s+([\d.]+)/),
    ops: total ? Number(total[1]) : null,
    seconds: total ? parseWrkTime(total[2]) / 1e6 : null,
    p50Us: pct(50),
    p75Us: pct(75),
    p90Us: pct(90),
    p99Us: pct(99),
    socketErrors,
    non2xx,
    errors: (socketErrors ? socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout : 0) + non2xx,
  };
}

/**
 * keepalive: a 1 s warm-up run (not counted), then
 *   wrk -t1 -c50 -dDs --latency http://127.0.0.1:PORT/
 * on `core`, sampling the proxy's CPU around the measured run.
 */
async function runWrk({ core, port, seconds, proxyPid, connections = 50 }) {
  const { bin } = wrkSetup();
  const url = `http://${HOST}:${port}/`;
  const d = Math.max(1, Math.round(seconds));
  await runTool(core, bin, ['-t1', `-c${connections}`, '-d1s', url], 1000 + TOOL_GRACE_MS);
  const cpuStart = proxyPid ? cpuSeconds(proxyPid) : null;
  const res = await runTool(core, bin, ['-t1', `-c${connections}`, `-d${d}s`, '--latency', url], d * 1000 + TOOL_GRACE_MS);
  const cpuEnd = proxyPid ? cpuSeconds(proxyPid) : null;
  const parsed = parseWrk(res.stdout);
  if (res.code !== 0 || parsed.perSec === null || !parsed.ops) {
    const text = `${res.stderr}\n${res.stdout}`.trim().split('\n').slice(0, 3).join(' | ');
    throw new Error(`wrk failed (code ${res.code}, signal ${res.signal}): ${text}`);
  }
  return {
    tool: 'wrk', connections, ...parsed,
    proxyCpuSeconds: cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null,
  };
}

// ---------------------------------------------------------------- iperf3

/** Is something listening on HOST:port (TCP)? Read from /proc/net/tcp, so nothing connects to it. */
function tcpListening(port) {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === hex && f[3] === '0A';
    });
  } catch {
    return false;
  }
}

/** `iperf3 -s -B 127.0.0.1 -p PORT` on `core` (it serves one test after another). Resolves { port, stop() }. */
async function startIperf3Server(core) {
  const { bin } = iperf3Setup();
  const port = await freePort('tcp');
  const child = spawnPinned(core, bin, ['-s', '-B', HOST, '-p', String(port)], { guard: true });
  child.stdout.resume();
  const deadline = Date.now() + 10_000;
  while (!tcpListening(port)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`iperf3 -s exited (code ${child.exitCode}): ${child.stderrText.trim()}`);
    if (Date.now() > deadline) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`iperf3 -s not listening on ${HOST}:${port} after 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, pid: child.pid, stop: () => stopChild(child, 'SIGTERM', 3000) };
}

/**
 * bulk: iperf3 -c 127.0.0.1 -p PORT -t D -J (one stream) on `core`, through the
 * proxy at `port`. Throughput is what the server received. The proxy's
 * readiness probe reached the server as an empty control connection, which it
 * logs and drops; a "server is busy" answer is retried (3 × 500 ms).
 */
async function runIperf3({ core, port, seconds, proxyPid }) {
  const { bin } = iperf3Setup();
  const t = Math.max(1, Math.round(seconds));
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 500));
    const cpuStart = proxyPid ? cpuSeconds(proxyPid) : null;
    const res = await runTool(core, bin, ['-c', HOST, '-p', String(port), '-t', String(t), '-J'], t * 1000 + TOOL_GRACE_MS);
    const cpuEnd = proxyPid ? cpuSeconds(proxyPid) : null;
    let j = null;
    try { j = JSON.parse(res.stdout); } catch { /* not JSON */ }
    const recv = j && j.end && j.end.sum_received;
    if (j && !j.error && recv && recv.bytes > 0) {
      const sent = j.end.sum_sent || {};
      return {
        tool: 'iperf3', streams: 1,
        bytes: recv.bytes, seconds: recv.seconds, gbitPerSec: recv.bits_per_second / 1e9, mibPerSec: recv.bytes / 1024 ** 2 / recv.seconds,
        sentBytes: sent.bytes ?? null, retransmits: sent.retransmits ?? null, errors: 0,
        proxyCpuSeconds: cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null,
      };
    }
    lastError = (j && j.error) || `${res.stderr}${res.stdout}`.trim().split('\n')[0] || `exit code ${res.code}`;
    if (!/busy/i.test(lastError)) break;
  }
  throw new Error(`iperf3 failed: ${lastError}`);
}

module.exports = { WRK_HINT, IPERF3_HINT, wrkSetup, iperf3Setup, versions, parseWrk, runWrk, startIperf3Server, runIperf3 };
