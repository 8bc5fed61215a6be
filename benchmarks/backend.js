'use strict';
// Benchmark backends, one process, three listeners on 127.0.0.1 (ephemeral ports):
//   rr   — request/response: every 64 bytes received are answered with 64 bytes.
//   sink — swallows everything; when the client half-closes it answers with the
//          byte count it received ("<count>\n") and closes. That count is how
//          the bulk scenario knows how much really went through.
//   udp  — UDP echo: every datagram is sent back, unchanged, to where it came from.
// Prints one JSON line {"ready":true,"rr":PORT,"sink":PORT,"udp":PORT} once all listen.
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
  try { udp.close(); } catch { /* not bound */ }
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(0), 200).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

Promise.all([listen(rr), listen(sink), listenUdp(udp)]).then(
  ([rrPort, sinkPort, udpPort]) => {
    process.stdout.write(`${JSON.stringify({ ready: true, rr: rrPort, sink: sinkPort, udp: udpPort })}\n`);
  },
  (err) => {
    process.stderr.write(`backend: ${err.stack || err}\n`);
    process.exit(1);
  },
);
