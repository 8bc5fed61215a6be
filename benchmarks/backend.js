'use strict';
// Benchmark backends, one process, five listeners on 127.0.0.1 (ephemeral ports):
//   rr   — request/response: every 64 bytes received are answered with 64 bytes.
//   sink — swallows everything; when the client half-closes it answers with the
//          byte count it received ("<count>\n") and closes. That count is how
//          the bulk scenario knows how much really went through.
//   udp  — UDP echo: every datagram is sent back, unchanged, to where it came from.
//   http — raw TCP, not an HTTP parser: every request head (each "\r\n\r\n"
//          received) is answered with "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
//          keep-alive. For wrk (keepalive scenario), which sends GETs without a body.
//   idle — accepts and holds connections, never sends; closes when the peer does.
//          Counts the ones open (the idle scenario's "established end to end").
// Prints one JSON line {"ready":true,"rr":PORT,"sink":PORT,"udp":PORT,"http":PORT,"idle":PORT} once all listen.
// A line "idle?" on stdin is answered with {"idle":N} (connections open on `idle` now).
// Exits on SIGTERM/SIGINT or when its stdin closes (the harness went away).

const dgram = require('node:dgram');
const net = require('node:net');

const HOST = '127.0.0.1';
const MSG = 64;
const REPLY = Buffer.alloc(MSG, 0x72); // 'r'

const sockets = new Set();
function track(socket) {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {}); // resets are expected when a load generator stops
}

const rr = net.createServer({ noDelay: true }, (socket) => {
  track(socket);
  socket.setNoDelay(true);
  let partial = 0;
  socket.on('data', (chunk) => {
    partial += chunk.length;
    const n = Math.floor(partial / MSG);
    partial -= n * MSG;
    if (n === 1) socket.write(REPLY);
    else if (n > 1) socket.write(Buffer.alloc(n * MSG, 0x72));
  });
  socket.on('end', () => socket.end());
});

const sink = net.createServer({ allowHalfOpen: true }, (socket) => {
  track(socket);
  let received = 0;
  socket.on('data', (chunk) => { received += chunk.length; });
  socket.on('end', () => socket.end(`${received}\n`));
});

const HTTP_REPLY = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
const http = net.createServer({ noDelay: true }, (socket) => {
  track(socket);
  socket.setNoDelay(true);
  let matched = 0; // bytes of "\r\n\r\n" matched so far; requests may be split anywhere
  socket.on('data', (chunk) => {
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === (matched & 1 ? 10 : 13)) {
        if (++matched === 4) { n++; matched = 0; }
      } else matched = b === 13 ? 1 : 0;
    }
    if (n === 1) socket.write(HTTP_REPLY);
    else if (n > 1) socket.write(Buffer.concat(new Array(n).fill(HTTP_REPLY)));
  });
  socket.on('end', () => socket.end());
});

let idleOpen = 0;
const idle = net.createServer((socket) => {
  track(socket);
  idleOpen++;
  socket.on('close', () => idleOpen--);
  socket.on('end', () => socket.end());
});

// The payload (sequence number included) goes back as it came: the load generator matches on it.
const udp = dgram.createSocket({ type: 'udp4' });
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
udp.on('error', () => {}); // ICMP refusals from a client socket that has gone away

function listenUdp(socket) {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: HOST, port: 0 }, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, backlog: 4096 }, () => resolve(server.address().port));
  });
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  rr.close();
  sink.close();
  http.close();
  idle.close();
  try { udp.close(); } catch { /* not bound */ }
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(0), 200).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
let command = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  command += d;
  let i;
  while ((i = command.indexOf('\n')) >= 0) {
    const line = command.slice(0, i).trim();
    command = command.slice(i + 1);
    if (line === 'idle?') process.stdout.write(`${JSON.stringify({ idle: idleOpen })}\n`);
  }
});

Promise.all([listen(rr), listen(sink), listenUdp(udp), listen(http), listen(idle)]).then(
  ([rrPort, sinkPort, udpPort, httpPort, idlePort]) => {
    process.stdout.write(`${JSON.stringify({ ready: true, rr: rrPort, sink: sinkPort, udp: udpPort, http: httpPort, idle: idlePort })}\n`);
  },
  (err) => {
    process.stderr.write(`backend: ${err.stack || err}\n`);
    process.exit(1);
  },
);
