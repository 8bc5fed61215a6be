'use strict';
// Process helpers for the benchmark harness: CPU pinning, child bookkeeping,
// /proc sampling, free ports and readiness polling. Plain CommonJS, no deps.

const { spawn, execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HOST = '127.0.0.1';
const CLK_TCK = 100; // USER_HZ; `getconf CLK_TCK` is 100 on every Linux we target
/** Open-files limit asked for (spawnPinned's `nofile`): 10,000 idle proxied connections need 20,000+ fds in the proxy. */
const NOFILE = 65535;

let fdBudgetCache = null;
/**
 * The open-files limit a child started with `nofile: NOFILE` ends up with:
 * NOFILE, or the hard limit when that is lower (raising the hard limit needs
 * CAP_SYS_RESOURCE, which a container's root may lack).
 */
function fdBudget() {
  if (fdBudgetCache === null) {
    try {
      const out = execFileSync('sh', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      fdBudgetCache = out === 'unlimited' ? NOFILE : Number(out) || 1024;
    } catch {
      fdBudgetCache = 1024;
    }
  }
  return fdBudgetCache;
}

/** Client connections a proxy can hold with fdBudget() fds: each takes two (client + upstream), 200 spare. */
function maxProxiedConns() {
  return Math.max(0, Math.floor((fdBudget() - 200) / 2));
}

/** Tools to treat as not installed (run.js --without NAME,...): tries the fallback paths on a machine that has everything. */
const pretendMissing = new Set();

/** Path of `name` on PATH, or null (also when `name` is in pretendMissing). */
function which(name) {
  if (pretendMissing.has(name)) return null;
  try {
    return execFileSync('sh', ['-c', 'command -v "$1"', 'which', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

let tasksetAvailable = null;
function hasTaskset() {
  if (tasksetAvailable === null) {
    try {
      execFileSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' });
      tasksetAvailable = true;
    } catch {
      tasksetAvailable = false;
    }
  }
  return tasksetAvailable;
}

/** Every child we started and have not seen exit; killed on any way out. */
const children = new Set();

/**
 * Spawn `cmd args` pinned to `core` (when taskset exists; taskset execs, so the
 * pid is the real program's). stdin is a pipe: our own node children exit when
 * it closes, so they cannot outlive us even after a SIGKILL of the harness.
 * `nofile: N` runs it as `sh -c 'ulimit -n N; exec cmd args'` (Node has no
 * setrlimit): N, or the hard limit when N is above it. sh execs, so the pid
 * is still the program's.
 */
function spawnPinned(core, cmd, args, opts = {}) {
  const { guard, nofile, ...spawnOpts } = opts;
  if (nofile) {
    args = ['-c', `ulimit -n ${Number(nofile)} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`, cmd, ...args];
    cmd = 'sh';
  }
  const pinned = hasTaskset() && core !== null && core !== undefined;
  const file = pinned ? 'taskset' : cmd;
  const argv = pinned ? ['-c', String(core), cmd, ...args] : args;
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOpts });
  children.add(child);
  child.stderrText = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    if (child.stderrText.length < 8192) child.stderrText += d;
  });
  child.stdin.on('error', () => {});
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      children.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
  });
  if (guard && child.pid) watchdog(child);
  return child;
}

/**
 * For programs that ignore their stdin (fulcrum, nginx, HAProxy, iperf3 -s): a tiny
 * shell that blocks reading a pipe from us and SIGKILLs the child when the pipe
 * reaches EOF, i.e. when this harness dies, even by SIGKILL. Gone with the child.
 */
function watchdog(child) {
  const dog = spawn('sh', ['-c', 'read _; kill -KILL "$1" 2>/dev/null', 'watchdog', String(child.pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
  dog.on('error', () => {});
  dog.stdin.on('error', () => {});
  children.add(dog);
  dog.on('exit', () => children.delete(dog));
  child.exited.then(() => { try { dog.kill('SIGKILL'); } catch { /* gone */ } });
}

/** Send `signal`, wait up to `graceMs`, then SIGKILL. Resolves once the child is gone. */
async function stopChild(child, signal = 'SIGTERM', graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try { child.stdin.end(); } catch { /* already closed */ }
  child.kill(signal);
  let timer;
  const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
  const r = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (r === 'timeout') {
    child.kill('SIGKILL');
    await child.exited;
  }
}

/** Temp dirs (proxy configs) not removed yet; killAllSync removes them too. */
const tempDirs = new Set();

/** A fresh temp dir `os.tmpdir()/PREFIXxxxxxx` and its remover (also run on any way out). */
function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return {
    dir,
    remove() {
      tempDirs.delete(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Synchronous last resort (process 'exit', fatal signals): SIGKILL whatever is left, remove temp dirs. */
function killAllSync() {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
  for (const dir of tempDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  tempDirs.clear();
}

/** Resolve with the first stdout line that parses as JSON and satisfies `pred`. */
function waitForJsonLine(child, pred, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
    };
    const onData = (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let msg;
        try { msg = JSON.parse(line); } catch { continue; }
        if (pred(msg)) { cleanup(); resolve(msg); return; }
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready: ${child.stderrText.trim()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not ready after ${timeoutMs} ms: ${child.stderrText.trim()}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

/** A port that was free a moment ago (bind 0, read it, close); a UDP one for protocol 'udp'. */
function freePort(protocol = 'tcp') {
  if (protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.on('error', reject);
      s.bind(0, HOST, () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Poll until a TCP connect to HOST:port succeeds, or `child` exits, or the timeout passes. */
async function waitForPort(port, child, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what} exited (code ${child.exitCode}) before listening: ${child.stderrText.trim()}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} not listening on ${HOST}:${port} after ${timeoutMs} ms: ${child ? child.stderrText.trim() : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * UDP has no connect to poll: send a small datagram to HOST:port every 50 ms
 * until one comes back (the proxy listens and reaches the echo backend), or
 * `child` exits, or the timeout passes. The probe's session in the proxy is
 * one more idle entry; it does not carry load.
 */
function waitForUdpEcho(port, child, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    let lastError = '';
    const done = (err) => {
      clearInterval(tick);
      clearTimeout(timer);
      if (child) child.off('exit', onExit);
      try { sock.close(); } catch { /* closed */ }
      if (err) reject(err);
      else resolve();
    };
    const onExit = () => done(new Error(`${what} exited (code ${child.exitCode}) before answering on udp ${HOST}:${port}: ${child.stderrText.trim()}`));
    sock.on('error', (err) => { lastError = err.code || err.message; }); // ECONNREFUSED until it binds
    sock.on('message', () => done(null));
    const probe = Buffer.from('fulcrum-bench-ready-probe-0000000000000000000000000000000000000');
    let connected = false;
    const tick = setInterval(() => { if (connected) sock.send(probe); }, 50);
    const timer = setTimeout(() => done(new Error(`${what}: no echo on udp ${HOST}:${port} after ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}: ${child ? child.stderrText.trim() : ''}`)), timeoutMs);
    if (child) {
      if (child.exitCode !== null || child.signalCode !== null) { onExit(); return; }
      child.on('exit', onExit);
    }
    sock.connect(port, HOST, () => { connected = true; sock.send(probe); });
  });
}

/** utime+stime of `pid` and its child processes in seconds, or null when `pid` cannot be read. */
function cpuSeconds(pid) {
  const one = (p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 utime, 15 stime
    } catch {
      return null;
    }
  };
  const own = one(pid);
  if (own === null) return null;
  // nginx with worker_processes N > 1 runs a master and N worker processes: count them all.
  return childPids(pid).reduce((sum, c) => sum + (one(c) ?? 0), own);
}

/** Child processes of `pid` (nginx's workers with a master; none for fulcrum and HAProxy, which use threads). */
function childPids(pid) {
  const out = [];
  let entries;
  try { entries = fs.readdirSync('/proc'); } catch { return out; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

/** Resident set size of `pid` and its child processes in KiB (shared pages counted in each), or null. */
function rssKiB(pid) {
  const one = (p) => {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  };
  const own = one(pid);
  if (own === null) return null;
  return childPids(pid).reduce((sum, c) => sum + (one(c) ?? 0), own);
}

/** Resident set size of `pid` in MiB, or null. */
function rssMiB(pid) {
  const kib = rssKiB(pid);
  return kib === null ? null : kib / 1024;
}

/** The soft "Max open files" limit of `pid` (a number, or 'unlimited'), or null. */
function nofileOf(pid) {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? (m[1] === 'unlimited' ? m[1] : Number(m[1])) : null;
  } catch {
    return null;
  }
}

module.exports = {
  HOST, NOFILE, fdBudget, makeTempDir, maxProxiedConns, which, pretendMissing, hasTaskset, spawnPinned, stopChild, killAllSync, waitForJsonLine,
  freePort, waitForPort, waitForUdpEcho, cpuSeconds, rssKiB, rssMiB, nofileOf, children,
};
