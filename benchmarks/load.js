'use strict';
// Load generator: one scenario against 127.0.0.1:PORT, then exit.
//   node benchmarks/load.js '{"scenario":"rr","port":7000,"durationMs":5000}'
// (scenarios rr, connrate, bulk over TCP; udp over UDP; idle: see idle() below)
// Prints JSON lines on stdout: {"event":"measure-start"} when the measured window
// opens, {"event":"measure-end"} when it closes, then {"event":"result",...}.
// Bounded in time (warmupMs + durationMs, plus a hard safety exit) and in count (cap).

const dgram = require('node:dgram');
const net = require('node:net');
const hdr = require('hdr-histogram-js');

const HOST = '127.0.0.1'; // never anything else
const MSG = 64;
const CHUNK = 64 * 1024;
const DEFAULT_CAPS = { rr: 20_000_000, connrate: 2_000_000, bulk: 256 * 1024 ** 3, udp: 20_000_000, idle: 1_000_000 }; // requests, connections, bytes, round trips, idle connections

const cfg = {
  connections: 50, // rr, connrate
  udpSockets: 32, // udp: client sockets (= sessions in the proxy)
  udpWindow: 2, // udp: requests outstanding per socket (64 in flight, near rr's 50)
  udpTimeoutMs: 250, // udp: a request unanswered this long is given up and replaced (a late reply still counts as received)
  udpGraceMs: 500, // udp: after the window closes, how long to wait for replies still in flight before counting losses
  idleConnections: 10_000, // idle: connections to open and hold
  idleParallel: 200, // idle: connects in flight at once (a burst of 10,000 SYNs would overflow accept queues)
  warmupMs: 500,
  ...JSON.parse(process.argv[2] || '{}'),
};
if (!cfg.scenario || !cfg.port || !cfg.durationMs) {
  process.stderr.write('usage: load.js \'{"scenario":"rr|connrate|bulk|udp","port":N,"durationMs":N}\'\n');
  process.exit(2);
}
const cap = cfg.cap || DEFAULT_CAPS[cfg.scenario];

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const now = () => process.hrtime.bigint();
const secondsSince = (t) => Number(now() - t) / 1e9;

// Safety net: whatever happens, this process is gone shortly after its time is up.
setTimeout(() => {
  process.stderr.write('load: safety timeout, exiting\n');
  process.exit(3);
}, cfg.warmupMs + cfg.durationMs + (cfg.scenario === 'udp' ? cfg.udpGraceMs : 0) + 15_000).unref();
process.stdin.on('end', () => process.exit(4)); // the harness went away
process.stdin.on('error', () => process.exit(4));
process.stdin.resume();

function histogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}
function recordUs(hist, t0) {
  const us = Math.round(Number(now() - t0) / 1000);
  hist.recordValue(Math.min(Math.max(us, 1), 60_000_000));
}
function latencySummary(hist) {
  if (hist.totalCount === 0) return { p50Us: null, p99Us: null, maxUs: null };
  return { p50Us: hist.getValueAtPercentile(50), p99Us: hist.getValueAtPercentile(99), maxUs: hist.maxValue };
}

/**
 * Shared clock for rr and connrate: warm up, then measure for durationMs or until
 * `cap` operations; onStop() is called once when the window closes.
 */
function window(onStop) {
  const w = { measuring: false, stopped: false, count: 0, started: null, seconds: 0, capped: false };
  w.stop = () => {
    if (w.stopped) return;
    w.stopped = true;
    w.seconds = w.started ? secondsSince(w.started) : 0;
    w.measuring = false;
    clearTimeout(w.timer);
    emit({ event: 'measure-end' });
    onStop();
  };
  w.op = () => {
    if (!w.measuring) return false;
    if (++w.count >= cap) { w.capped = true; w.stop(); }
    return true;
  };
  w.begin = () => {
    setTimeout(() => {
      if (w.stopped) return;
      w.measuring = true;
      w.started = now();
      emit({ event: 'measure-start' });
      w.timer = setTimeout(w.stop, cfg.durationMs);
    }, cfg.warmupMs);
  };
  return w;
}

function rr() {
  return new Promise((resolve) => {
    const hist = histogram();
    const req = Buffer.alloc(MSG, 0x71); // 'q'
    const socks = [];
    let errors = 0;
    let open = 0;
    const w = window(() => finish());
    const finish = () => {
      let left = socks.length;
      const done = () => { if (--left === 0) { clearTimeout(t); resolve(result()); } };
      const t = setTimeout(() => { for (const s of socks) s.destroy(); }, 3000);
      for (const s of socks) {
        if (s.destroyed) done();
        else { s.once('close', done); s.end(); }
      }
    };
    const result = () => ({ ops: w.count, seconds: w.seconds, perSec: w.count / w.seconds, ...latencySummary(hist), errors, capped: w.capped });
    for (let i = 0; i < cfg.connections; i++) {
      const s = net.connect({ host: HOST, port: cfg.port, noDelay: true });
      socks.push(s);
      let got = 0;
      let t0 = 0n;
      const send = () => { t0 = now(); s.write(req); };
      s.on('connect', () => { if (++open === cfg.connections) w.begin(); send(); });
      s.on('data', (chunk) => {
        got += chunk.length;
        while (got >= MSG) {
          got -= MSG;
          if (w.op()) recordUs(hist, t0);
          if (!w.stopped) send();
        }
      });
      s.on('error', () => {
        errors++;
        if (!w.started && !w.stopped) w.stop(); // could not even get going
      });
      s.on('close', () => { if (!w.stopped && socks.every((x) => x.destroyed)) w.stop(); });
    }
  });
}

function connrate() {
  return new Promise((resolve) => {
    const hist = histogram();
    const req = Buffer.alloc(MSG, 0x71);
    let errors = 0;
    let running = cfg.connections;
    const w = window(() => {});
    const loopDone = () => {
      if (--running === 0) resolve({ ops: w.count, seconds: w.seconds, perSec: w.count / w.seconds, ...latencySummary(hist), errors, capped: w.capped });
    };
    const once = () => {
      if (w.stopped) { loopDone(); return; }
      const t0 = now();
      let got = 0;
      let ok = false;
      const s = net.connect({ host: HOST, port: cfg.port, noDelay: true });
      s.on('connect', () => s.write(req));
      s.on('data', (chunk) => {
        got += chunk.length;
        if (!ok && got >= MSG) {
          ok = true;
          if (w.op()) recordUs(hist, t0);
          s.end();
        }
      });
      s.on('error', () => { errors++; });
      s.on('close', () => {
        if (!ok && errors > 10_000) w.stop(); // something is badly wrong; do not spin
        if (ok) once();
        else setTimeout(once, 10); // back off a little after a failure
      });
    };
    w.begin();
    for (let i = 0; i < cfg.connections; i++) once();
  });
}

function bulk() {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(CHUNK, 0x62); // 'b'
    const s = net.connect({ host: HOST, port: cfg.port, allowHalfOpen: true });
    let written = 0;
    let started = null;
    let ended = false;
    let reply = '';
    let error = null;
    const endWriting = () => {
      if (ended) return;
      ended = true;
      s.end();
      setTimeout(() => s.destroy(), 10_000).unref(); // the count reply never came
    };
    const pump = () => {
      while (!ended) {
        if (written >= cap || secondsSince(started) * 1000 >= cfg.durationMs) { endWriting(); return; }
        written += CHUNK;
        if (!s.write(chunk)) return; // wait for 'drain'
      }
    };
    s.on('connect', () => {
      started = now();
      emit({ event: 'measure-start' });
      setTimeout(endWriting, cfg.durationMs);
      pump();
    });
    s.on('drain', pump);
    s.setEncoding('utf8');
    s.on('data', (d) => { reply += d; });
    s.on('error', (err) => { error = err.code || err.message; });
    s.on('close', () => {
      const seconds = started ? secondsSince(started) : 0;
      emit({ event: 'measure-end' });
      const confirmed = /^\d+\n$/.test(reply) ? Number(reply.trim()) : null;
      const bytes = confirmed ?? written;
      resolve({ bytes, written, confirmed: confirmed !== null, seconds, mibPerSec: bytes / 1024 ** 2 / seconds, errors: error ? 1 : 0, error, capped: written >= cap });
    });
  });
}

/**
 * udp: `udpSockets` connected UDP sockets, each keeping `udpWindow` 64-byte
 * requests outstanding. A request carries a sequence number (uint32 LE at
 * offset 0) that the echo sends back; seq % udpWindow is the slot it belongs
 * to, so a reply for the slot's current seq sends the slot's next request. A
 * request unanswered for udpTimeoutMs is replaced by a fresh one (the slot
 * would stall otherwise); its reply, if it still comes, counts as received but
 * not as a round trip. lost = sent − received after udpGraceMs once sending stops.
 */
function udp() {
  return new Promise((resolve) => {
    const hist = histogram();
    const win = cfg.udpWindow;
    let sent = 0;
    let received = 0;
    let late = 0; // replies to requests already given up on
    let unmatched = 0; // replies with an unknown or repeated seq
    let timeouts = 0;
    let errors = 0;
    let bound = 0;
    const clients = [];
    const w = window(() => finish());

    const send = (c, slot, fresh) => {
      const seq = (c.cur[slot] = (c.cur[slot] + win) >>> 0);
      // The slot's buffer is free again once its reply arrived; after a timeout, do not touch it (the old send may in theory still hold it).
      const buf = fresh ? Buffer.from(c.bufs[slot]) : c.bufs[slot];
      if (fresh) c.bufs[slot] = buf;
      buf.writeUInt32LE(seq, 0);
      c.pending.set(seq, now());
      sent++;
      c.sock.send(buf);
    };

    const sweep = setInterval(() => {
      if (w.stopped) return;
      const limit = BigInt(cfg.udpTimeoutMs) * 1_000_000n;
      const t = now();
      for (const c of clients) {
        for (let slot = 0; slot < win; slot++) {
          const t0 = c.pending.get(c.cur[slot]);
          if (t0 !== undefined && t - t0 > limit) {
            timeouts++;
            send(c, slot, true);
          }
        }
      }
    }, 50);

    const finish = () => {
      clearInterval(sweep);
      const inFlight = () => clients.reduce((n, c) => n + c.pending.size, 0);
      const deadline = Date.now() + cfg.udpGraceMs;
      const check = () => {
        if (inFlight() > 0 && Date.now() < deadline) { setTimeout(check, 10); return; }
        for (const c of clients) c.sock.close();
        resolve({
          ops: w.count, seconds: w.seconds, perSec: w.count / w.seconds, ...latencySummary(hist),
          sent, received, lost: sent - received, late, unmatched, timeouts, errors, capped: w.capped,
          sockets: cfg.udpSockets, window: win,
        });
      };
      check();
    };

    for (let i = 0; i < cfg.udpSockets; i++) {
      const sock = dgram.createSocket('udp4');
      // cur[slot] starts one step before the slot's first seq; slots never collide since seq % win === slot.
      const c = { sock, pending: new Map(), cur: Array.from({ length: win }, (_, slot) => (slot - win) >>> 0), bufs: Array.from({ length: win }, () => Buffer.alloc(MSG, 0x71)) };
      clients.push(c);
      sock.on('message', (msg) => {
        if (msg.length < 4) { unmatched++; return; }
        const seq = msg.readUInt32LE(0);
        const t0 = c.pending.get(seq);
        if (t0 === undefined) { unmatched++; return; }
        c.pending.delete(seq);
        received++;
        const slot = seq % win;
        if (c.cur[slot] !== seq) { late++; return; }
        if (w.op()) recordUs(hist, t0);
        if (!w.stopped) send(c, slot, false);
      });
      // Connected sockets hear of ICMP port-unreachable as ECONNREFUSED; the slot's timeout resends.
      sock.on('error', () => { errors++; });
      sock.bind({ address: HOST, port: 0 }, () => {
        sock.connect(cfg.port, HOST, () => {
          if (++bound < cfg.udpSockets) return;
          w.begin();
          for (const x of clients) for (let slot = 0; slot < win; slot++) send(x, slot, false);
        });
      });
    }
  });
}

/**
 * idle: open `idleConnections` TCP connections (at most `idleParallel` connects
 * in flight), send nothing, and hold them. Emits {"event":"opened",...} once
 * every connect has succeeded or failed, then waits for a line "close" on
 * stdin (the harness has measured the proxy) or for durationMs, closes them all
 * and emits the result. closedEarly counts connections the other side closed
 * while they were held (a proxy limit or timeout would show up there).
 */
function idle() {
  return new Promise((resolve) => {
    const n = Math.min(cfg.idleConnections, cap);
    const socks = [];
    let started = 0;
    let inFlight = 0;
    let connected = 0;
    let failed = 0;
    let closedEarly = 0;
    let closing = false;
    const errorCodes = {};
    const t0 = now();
    let openSeconds = null;

    const finish = () => {
      if (closing) return;
      closing = true;
      clearTimeout(holdTimer);
      const heldSeconds = secondsSince(t0) - openSeconds;
      let left = socks.length;
      const done = () => {
        if (--left > 0) return;
        clearTimeout(force);
        resolve({ ops: connected, wanted: n, connected, failed, closedEarly, openSeconds, heldSeconds, errors: failed + closedEarly, errorCodes });
      };
      const force = setTimeout(() => { for (const s of socks) s.destroy(); }, 5000);
      if (left === 0) { left = 1; done(); return; }
      for (const s of socks) {
        if (s.destroyed) done();
        else { s.once('close', done); s.destroy(); } // close(2): a FIN, nothing unread
      }
    };
    let holdTimer = null;
    const opened = () => {
      openSeconds = secondsSince(t0);
      emit({ event: 'opened', connected, failed, seconds: openSeconds, errorCodes });
      holdTimer = setTimeout(finish, cfg.durationMs);
    };
    process.stdin.setEncoding('utf8');
    let line = '';
    process.stdin.on('data', (d) => {
      line += d;
      if (/(^|\n)close\n/.test(line) && openSeconds !== null) finish();
      line = line.slice(-16);
    });

    const next = () => {
      while (inFlight < cfg.idleParallel && started < n) {
        started++;
        inFlight++;
        const s = net.connect({ host: HOST, port: cfg.port });
        socks.push(s);
        let settled = false;
        let up = false;
        const settle = (ok) => {
          if (settled) return;
          settled = true;
          inFlight--;
          if (ok) connected++;
          else failed++;
          if (connected + failed === n) opened();
          else next();
        };
        s.once('connect', () => { up = true; settle(true); });
        s.on('error', (err) => {
          const code = err.code || err.message;
          errorCodes[code] = (errorCodes[code] || 0) + 1;
          settle(false);
        });
        s.on('close', () => {
          if (!settled) settle(false);
          else if (up && !closing) closedEarly++;
        });
      }
    };
    if (n === 0) opened();
    else next();
  });
}

const scenarios = { rr, connrate, bulk, udp, idle };
if (!scenarios[cfg.scenario]) {
  process.stderr.write(`load: unknown scenario ${cfg.scenario}\n`);
  process.exit(2);
}
scenarios[cfg.scenario]().then((res) => {
  if (cfg.scenario === 'udp' && res.received === 0) {
    process.stderr.write(`load: udp: no reply to any of ${res.sent} datagrams (${res.errors} socket errors)\n`);
    process.exit(1);
  }
  emit({ event: 'result', scenario: cfg.scenario, ...res });
  process.exit(0);
});
