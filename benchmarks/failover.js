'use strict';
// The "failover" scenario: how long a client sees no service when the master of
// an active/standby pair dies (kill -9) or stops gracefully (SIGTERM).
// See benchmarks/README.md ("failover").
//
// Two `fulcrum run -c FILE` processes, A (priority 150) and B (priority 100),
// default advertInterval (100 ms), standby: closed, share one TCP service port
// on 127.0.0.1 in front of an echo backend in this process. A is always the
// master when a run starts, and A is always the one stopped: each run measures
// B taking over. After a run A is started again, preempts, and the pair settles
// (A master and serving, B backup) before the next run.

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { HOST, spawnPinned, stopChild, freePort } = require('./proc');

const ROOT = path.resolve(__dirname, '..');
const FULCRUM_CLI = path.join(ROOT, 'dist', 'cli', 'fulcrum.js');

const PROBE_EVERY_MS = 2; // a new connect attempt this often while polling
const PROBE_TIMEOUT_MS = 1000; // one attempt gives up after this
const PROBES_IN_FLIGHT_MAX = 64;
const STABLE_OK = 5; // echoes after the last failed attempt (and B's takeover logged) that end a run's polling
const RECOVER_TIMEOUT_MS = 5000; // a run not served again by then is an error
const START_TIMEOUT_MS = 10_000; // a node's start, or the pair settling after a restart
const EXIT_TIMEOUT_MS = 5000; // the stopped node must be gone by then (else SIGKILL, and the scenario fails)
// Quiet time once the pair has settled, before the next run: 3 adverts, plus a random
// 0..100 ms so the stop does not always land at the same point of A's advert cycle
// (settling ends a fixed time after an advert; kill -9 timing depends on that phase).
const SETTLE_MS = 300;
const SETTLE_JITTER_MS = 100;
const SCENARIO_BUDGET_MS = 300_000; // the whole scenario, whatever happens
const PROBE_PAYLOAD = Buffer.from('fulcrum-failover-probe-0123456789abcdef\n');

const CASES = [
  { name: 'kill -9', signal: 'SIGKILL', targetMs: 500, expectReason: 'master-down' },
  { name: 'SIGTERM', signal: 'SIGTERM', targetMs: 100, expectReason: 'master-released' },
];

function unavailable() {
  return fs.existsSync(FULCRUM_CLI) ? null : `${path.relative(ROOT, FULCRUM_CLI)} missing (run npm run build)`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  const median = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return { medianMs: median, maxMs: v[n - 1], minMs: v[0], meanMs: v.reduce((s, x) => s + x, 0) / n };
}

/** The echo backend: every byte goes back. In this process (it only sees probe traffic). */
function startEcho() {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      resolve({
        port: server.address().port,
        close: () => new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

/**
 * One attempt: connect, send PROBE_PAYLOAD, read it back. Resolves
 * { ok: true } or { ok: false, code } (ECONNREFUSED, ECONNRESET, EOF, TIMEOUT, ...);
 * never rejects. `abort()` ends it at once (as not ok).
 */
function probe(port) {
  let finish;
  const p = new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    let got = 0;
    const chunks = [];
    let done = false;
    finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, code: 'TIMEOUT' }), PROBE_TIMEOUT_MS);
    s.setNoDelay(true);
    s.on('connect', () => s.write(PROBE_PAYLOAD));
    s.on('data', (d) => {
      chunks.push(d);
      got += d.length;
      if (got >= PROBE_PAYLOAD.length) {
        finish(Buffer.concat(chunks).subarray(0, PROBE_PAYLOAD.length).equals(PROBE_PAYLOAD) ? { ok: true } : { ok: false, code: 'MISMATCH' });
      }
    });
    s.on('end', () => finish({ ok: false, code: 'EOF' }));
    s.on('close', () => finish({ ok: false, code: 'CLOSED' }));
    s.on('error', (err) => finish({ ok: false, code: err.code || err.message }));
  });
  p.abort = () => finish({ ok: false, code: 'ABORTED' });
  return p;
}

/**
 * Start an attempt every PROBE_EVERY_MS (attempts may overlap, so one that
 * hangs does not hide the port coming back) until the port is served again for
 * good: `stable` attempts started after the last failed one have echoed, and
 * `until()` is true; then let the attempts in flight finish and decide again
 * (a late failure starts the count over). Order is by start: an early attempt
 * that times out late does not move recovery. Resolves:
 *   ms           t0 (performance.now()) → end of the first successful attempt
 *                started after the last failed one: the service is back
 *   firstOkMs    t0 → the first successful echo of all; < ms when the old
 *                master still answered before its port went away
 *   okBeforeGap  successful attempts started before the last failed one
 *   attempts, failed: { CODE: { n, firstMs, lastMs } } (end times after t0)
 * Rejects after `timeoutMs`.
 */
async function pollUntilServed(port, t0, timeoutMs, { stable = 1, until = () => true } = {}) {
  const probes = []; // { start, end, ok, code }, in start order
  const inFlight = new Set();
  const deadline = t0 + timeoutMs;
  const lastFail = () => {
    for (let i = probes.length - 1; i >= 0; i--) if (probes[i].end !== null && !probes[i].ok) return i;
    return -1;
  };
  const okAfterLastFail = () => probes.slice(lastFail() + 1).filter((p) => p.ok).length;
  const summary = () => {
    const failed = {};
    for (const p of probes) {
      if (p.end === null || p.ok) continue;
      const f = (failed[p.code] = failed[p.code] || { n: 0, firstMs: p.end, lastMs: p.end });
      f.n++;
      f.firstMs = Math.min(f.firstMs, p.end);
      f.lastMs = Math.max(f.lastMs, p.end);
    }
    return failed;
  };
  const timedOut = () => new Error(`port ${port} not served again ${timeoutMs} ms after the stop (${probes.length} attempts, failed ${JSON.stringify(summary())})`);
  try {
    for (;;) {
      while (!(okAfterLastFail() >= stable && until())) {
        if (performance.now() > deadline) throw timedOut();
        if (inFlight.size < PROBES_IN_FLIGHT_MAX) {
          const rec = { start: performance.now() - t0, end: null, ok: false, code: null };
          probes.push(rec);
          const p = probe(port);
          inFlight.add(p);
          p.then((r) => {
            inFlight.delete(p);
            rec.end = performance.now() - t0;
            rec.ok = r.ok;
            rec.code = r.ok ? null : r.code;
          });
        }
        await sleep(PROBE_EVERY_MS);
      }
      while (inFlight.size > 0) {
        if (performance.now() > deadline) throw timedOut();
        await sleep(PROBE_EVERY_MS);
      }
      if (okAfterLastFail() >= stable) break;
    }
  } finally {
    for (const p of inFlight) p.abort();
  }
  const k = lastFail();
  const back = probes.slice(k + 1).find((p) => p.ok);
  const oks = probes.filter((p) => p.ok);
  return {
    ms: back.end,
    firstOkMs: Math.min(...oks.map((p) => p.end)),
    okBeforeGap: k < 0 ? 0 : probes.slice(0, k).filter((p) => p.ok).length,
    attempts: probes.length,
    failed: summary(),
  };
}

/** Wait until `pred()` is true, polling every 5 ms; throws `what()` after `timeoutMs`. */
async function waitUntil(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what()} (after ${timeoutMs} ms)`);
    await sleep(5);
  }
}

/**
 * One fulcrum process of the pair. Its JSON log lines are parsed as they come:
 * `transitions` ({ time, from, to, reason } from "peer: X -> Y"), `listening`
 * (times of "service listening (master)"), and the last lines for error messages.
 */
class Node {
  constructor(name, file, core) {
    this.name = name;
    this.file = file;
    this.core = core;
    this.child = null;
    this.starts = 0;
    this.transitions = [];
    this.listening = [];
    this.tail = [];
  }

  start() {
    this.transitions = [];
    this.listening = [];
    this.tail = [];
    this.startedAt = Date.now();
    this.starts++;
    const child = spawnPinned(this.core, process.execPath, [FULCRUM_CLI, 'run', '-c', this.file], {
      cwd: ROOT,
      env: { ...process.env, FULCRUM_LOG_LEVEL: 'info' }, // the transition lines are needed
      guard: true,
    });
    this.child = child;
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.tail.push(line);
        if (this.tail.length > 20) this.tail.shift();
        let m;
        try { m = JSON.parse(line); } catch { continue; }
        if (typeof m.msg !== 'string') continue;
        if (m.msg.startsWith('peer: ') && m.to) this.transitions.push({ time: m.time, from: m.from, to: m.to, reason: m.reason });
        else if (m.msg === 'service listening (master)') this.listening.push(m.time);
      }
    });
  }

  get alive() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Last state from the transition lines (a node starts as backup and logs nothing until it changes). */
  get state() {
    const t = this.transitions;
    return t.length === 0 ? 'backup' : t[t.length - 1].to;
  }

  /** Latest transition into `to` (or undefined). */
  lastInto(to) {
    for (let i = this.transitions.length - 1; i >= 0; i--) if (this.transitions[i].to === to) return this.transitions[i];
    return undefined;
  }

  /** Listening as master since its latest transition to master. */
  get serving() {
    const m = this.lastInto('master');
    return this.state === 'master' && m !== undefined && this.listening.some((t) => t >= m.time);
  }

  describe() {
    const exit = this.child === null ? 'not started' : this.alive ? 'running' : `exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`;
    const stderr = this.child && this.child.stderrText.trim() ? `; stderr: ${this.child.stderrText.trim().slice(-500)}` : '';
    return `${this.name} ${exit}, state ${this.state}; last stdout: ${this.tail.slice(-4).join(' ').slice(-1200)}${stderr}`;
  }

  async stop(signal = 'SIGTERM', graceMs = EXIT_TIMEOUT_MS) {
    if (this.child) await stopChild(this.child, signal, graceMs);
  }
}

function writeConfig(dir, { id, priority, peerPort, otherPeerPort, key, servicePort, backendPort }) {
  const file = path.join(dir, `${id}.yaml`);
  fs.writeFileSync(file, [
    '# generated by benchmarks/failover.js; removed after the run',
    'admin: { enabled: false }',
    'shutdownTimeout: 2s',
    'peer:',
    `  id: ${id}`,
    `  priority: ${priority}`,
    `  listen: ${HOST}:${peerPort}`,
    `  peers: [${HOST}:${otherPeerPort}]`,
    `  key: "${key}"`,
    '  # advertInterval: default (100ms); preempt: default (true); standby: default (closed)',
    'services:',
    `  - { name: echo, listen: ${HOST}:${servicePort}, backends: [{ address: ${HOST}:${backendPort} }] }`,
    '',
  ].join('\n'));
  return file;
}

/**
 * Run the scenario. `core`: where both fulcrum processes are pinned (null: not
 * pinned). `runs`: runs per case. `log(text)`: progress output.
 * Resolves { pair: {...}, cases: [{ name, targetMs, medianMs, maxMs, ..., samples }] }.
 */
async function runFailover({ core, runs, log }) {
  const budgetEnd = Date.now() + SCENARIO_BUDGET_MS;
  const within = (ms) => {
    const left = budgetEnd - Date.now();
    if (left <= 0) throw new Error(`failover scenario over its ${SCENARIO_BUDGET_MS / 1000} s budget`);
    return Math.min(ms, left);
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-failover-'));
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir); // run.js exits on signals: the configs (with the key) go too
  let echo = null;
  const nodes = [];
  try {
    echo = await startEcho();
    const servicePort = await freePort('tcp');
    const [peerA, peerB] = [await freePort('udp'), await freePort('udp')];
    const key = crypto.randomBytes(24).toString('hex');
    const common = { key, servicePort, backendPort: echo.port };
    const a = new Node('A', writeConfig(dir, { id: 'lb-a', priority: 150, peerPort: peerA, otherPeerPort: peerB, ...common }), core);
    const b = new Node('B', writeConfig(dir, { id: 'lb-b', priority: 100, peerPort: peerB, otherPeerPort: peerA, ...common }), core);
    nodes.push(a, b);
    const why = () => `${a.describe()} | ${b.describe()}`;

    /** A (re)started: it preempts B; settled = A master and listening, B backup, an echo through the port. */
    const startAAndSettle = async () => {
      a.start();
      await waitUntil(() => !a.alive || (a.serving && b.state === 'backup'), within(START_TIMEOUT_MS), () => `pair did not settle with A as master: ${why()}`);
      if (!a.alive) throw new Error(`A exited at start: ${why()}`);
      await pollUntilServed(servicePort, performance.now(), within(START_TIMEOUT_MS));
      await sleep(SETTLE_MS + Math.random() * SETTLE_JITTER_MS);
      if (a.state !== 'master' || b.state !== 'backup' || !a.alive || !b.alive) throw new Error(`pair not stable after settling: ${why()}`);
    };

    // B alone first (it elects itself after 3 × 100 ms + skew), then A, which preempts:
    // both nodes have then logged their state.
    b.start();
    await waitUntil(() => !b.alive || b.serving, within(START_TIMEOUT_MS), () => `B did not become master alone: ${why()}`);
    if (!b.alive) throw new Error(`B exited at start: ${why()}`);
    await startAAndSettle();

    const cases = [];
    for (const c of CASES) {
      const samples = [];
      for (let run = 1; run <= runs; run++) {
        const bTransitionsBefore = b.transitions.length;
        const wallT0 = Date.now();
        const t0 = performance.now();
        a.child.kill(c.signal);
        const tookOver = () => b.transitions.length > bTransitionsBefore && b.state === 'master';
        // Probe until B has logged its takeover and STABLE_OK attempts in a row echo.
        const served = await pollUntilServed(servicePort, t0, within(RECOVER_TIMEOUT_MS), { stable: STABLE_OK, until: tookOver });
        // B's side of it, from its log: when (and why) it became master.
        const takeover = b.transitions.slice(bTransitionsBefore).find((t) => t.to === 'master');
        // A must be gone before it is started again (SIGTERM: it drains, then exits 0).
        let timer;
        const exit = await Promise.race([a.child.exited, new Promise((r) => { timer = setTimeout(() => r(null), within(EXIT_TIMEOUT_MS)); })]);
        clearTimeout(timer);
        if (exit === null) {
          await a.stop('SIGKILL', 1000);
          throw new Error(`A did not exit within ${EXIT_TIMEOUT_MS} ms of ${c.signal}: ${why()}`);
        }
        const sample = {
          run,
          ms: served.ms,
          firstOkMs: served.firstOkMs,
          okBeforeGap: served.okBeforeGap,
          takeoverMs: takeover.time - wallT0, // B's "backup -> master" log time (ms resolution) − signal time
          reason: takeover.reason,
          attempts: served.attempts,
          failed: served.failed,
          exit: c.signal === 'SIGTERM' ? { code: exit.code, signal: exit.signal } : undefined,
        };
        samples.push(sample);
        log(`    ${c.name.padEnd(7)} run ${String(run).padStart(2)}/${runs}: served after ${served.ms.toFixed(1)} ms ` +
          `(B master after ${sample.takeoverMs} ms, ${sample.reason}; ${served.attempts} attempts` +
          `${served.okBeforeGap ? `; ${served.okBeforeGap} echoed by A at ${served.firstOkMs.toFixed(1)} ms before its port closed` : ''}` +
          `${sample.exit && (sample.exit.code !== 0 || sample.exit.signal) ? `; A exited with code ${sample.exit.code}, signal ${sample.exit.signal}` : ''})\n`);
        await startAAndSettle();
      }
      const ms = samples.map((s) => s.ms);
      const reasons = {};
      for (const s of samples) reasons[s.reason] = (reasons[s.reason] || 0) + 1;
      const failedProbes = {};
      for (const s of samples) for (const [code, f] of Object.entries(s.failed)) failedProbes[code] = (failedProbes[code] || 0) + f.n;
      const st = stats(ms);
      cases.push({
        name: c.name,
        signal: c.signal,
        runs,
        targetMs: c.targetMs,
        ...st,
        withinTarget: st.maxMs <= c.targetMs,
        takeover: stats(samples.map((s) => s.takeoverMs)),
        reasons,
        expectedReason: c.expectReason,
        failedProbes,
        runsWithOkBeforeGap: samples.filter((s) => s.okBeforeGap > 0).length,
        samples,
      });
    }
    return {
      pair: { nodes: [{ id: 'lb-a', priority: 150 }, { id: 'lb-b', priority: 100 }], advertInterval: '100ms (default)', standby: 'closed', preempt: true, stopped: 'always A (the master)' },
      cases,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL', 1000)));
    if (echo) await echo.close();
    removeDir();
    process.off('exit', removeDir);
  }
}

module.exports = { runFailover, unavailable, CASES };
