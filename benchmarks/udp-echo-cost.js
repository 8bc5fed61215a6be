'use strict';
// Where a UDP datagram's time goes in Node (issue #13 item 4): CPU per datagram of a bare
// echo on dgram against the same echo on the raw udp_wrap handle that dgram is built on
// (no 'message' event, no dgram.send() checks, no lookup). If the raw handle costs the
// same, the JS layer is not where the time goes, and a handle data plane for UDP does not pay.
//   node benchmarks/udp-echo-cost.js            (both modes, twice, interleaved)
//   node benchmarks/udp-echo-cost.js serve MODE PORT   (one echo; used by the above)
// The echo runs pinned to core 1 and 32 client sockets (2 datagrams each in flight, 64 B)
// on core 0, loopback only; each echo stops after 220,000 datagrams (the first 20,000 warm up).
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');

const COUNT = 200_000;
const WARMUP = 20_000;

function serve(mode, port) {
  let n = 0;
  let t0 = null;
  const tick = () => {
    if (++n === WARMUP) t0 = process.cpuUsage();
    if (n === WARMUP + COUNT) {
      const u = process.cpuUsage(t0);
      console.log(JSON.stringify({ mode, cpuUsPerDgram: (u.user + u.system) / COUNT, userUs: u.user / COUNT, sysUs: u.system / COUNT }));
      process.exit(0);
    }
  };
  if (mode === 'dgram') {
    const s = dgram.createSocket({ type: 'udp4', lookup: (a, o, cb) => (typeof o === 'function' ? o : cb)(null, a, 4) });
    s.on('error', () => {});
    s.on('message', (m, r) => {
      s.send(m, r.port, r.address);
      tick();
    });
    s.bind(port, '127.0.0.1', () => console.log('ready'));
    return;
  }
  const { UDP, SendWrap } = process.binding('udp_wrap');
  const h = new UDP();
  if (h.bind('127.0.0.1', port, 0) !== 0) throw new Error('bind failed');
  h.onmessage = (nread, _handle, buf, rinfo) => {
    if (nread < 0) return;
    h.send(new SendWrap(), [buf], 1, rinfo.port, rinfo.address, false);
    tick();
  };
  h.recvStart();
  console.log('ready');
}

function pinned(core, args) {
  const taskset = spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
  return taskset ? spawn('taskset', ['-c', String(core), process.execPath, ...args]) : spawn(process.execPath, args);
}

async function measure(mode, port) {
  const echo = pinned(1, [__filename, 'serve', mode, String(port)]);
  let out = '';
  await new Promise((resolve) => echo.stdout.on('data', (d) => ((out += d), out.includes('ready') && resolve())));
  const msg = Buffer.alloc(64, 1);
  const clients = [];
  for (let i = 0; i < 32; i++) {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {});
    s.on('message', () => s.send(msg, port, '127.0.0.1'));
    s.bind(0, '127.0.0.1', () => {
      s.send(msg, port, '127.0.0.1');
      s.send(msg, port, '127.0.0.1');
    });
    clients.push(s);
  }
  const timer = setTimeout(() => echo.kill(), 60_000);
  await new Promise((resolve) => echo.on('exit', resolve));
  clearTimeout(timer);
  for (const s of clients) s.close();
  const line = out.split('\n').find((l) => l.startsWith('{'));
  return line === undefined ? null : JSON.parse(line);
}

async function main() {
  if (process.argv[2] === 'serve') return serve(process.argv[3], Number(process.argv[4]));
  // The load runs in this process: pin it to core 0.
  spawnSync('sh', ['-c', `command -v taskset >/dev/null && taskset -pc 0 ${process.pid} >/dev/null`]);
  const port = 41_000 + (process.pid % 1000);
  for (const mode of ['dgram', 'raw', 'dgram', 'raw']) {
    const r = await measure(mode, port);
    console.log(r === null ? `${mode}: no result (timed out)` : `${mode.padEnd(5)} ${r.cpuUsPerDgram.toFixed(2)} CPU-µs/datagram (user ${r.userUs.toFixed(2)}, sys ${r.sysUs.toFixed(2)})`);
  }
}

main();
