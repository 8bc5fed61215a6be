'use strict';
/**
 * RSS per idle proxied connection for each data plane (issue #13): a minimal
 * splice proxy on src/proxy/conn (one listener, one backend dial per client,
 * reads both ways, backpressure) runs in a child process; this process holds
 * N idle clients through it to a local backend. Reports the child's RSS and
 * heap growth per connection, after a GC, on loopback.
 *
 *   npm run build && node benchmarks/conn-idle-memory.js [N=5000]
 */
const { fork } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const N = Number(process.argv[2] || 5000);

if (process.argv[2] === 'child') {
  const { handleDataPlane, netDataPlane } = require(path.join(__dirname, '../dist/src/proxy/conn/probe.js'));
  const { loadBindings, useBindings } = require(path.join(__dirname, '../dist/src/proxy/conn/handle-connection.js'));
  const kind = process.argv[3];
  const backendPort = Number(process.argv[4]);
  if (kind === 'handle') useBindings(loadBindings());
  const plane = kind === 'handle' ? handleDataPlane : netDataPlane;
  const events = {
    connect(c) {
      const peer = c.owner;
      c.readStart(onRead);
      peer.readStart(onRead);
    },
    end(c) { c.owner.shutdown(); },
    error(c) { c.owner.reset(); },
    drain(c) { c.owner.resume(); },
    close() {},
  };
  function onRead(c, n, buf) { if (!c.owner.write(buf, 0, n, false)) c.pause(); }
  const listener = plane.listener({
    connection(client) {
      const up = plane.connect({ host: '127.0.0.1', port: backendPort }, events, client);
      client.owner = up;
    },
    error() {},
  }, events);
  listener.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }).then((b) => process.send({ port: b.port }));
  process.on('message', (m) => {
    if (m === 'measure') {
      global.gc(); global.gc();
      const mu = process.memoryUsage();
      process.send({ rss: mu.rss, heap: mu.heapUsed, external: mu.external });
    }
  });
  return;
}

function ask(child, msg) {
  return new Promise((resolve) => { child.once('message', resolve); child.send(msg); });
}

async function run(kind, backendPort) {
  const child = fork(__filename, ['child', kind, String(backendPort)], { execArgv: ['--expose-gc'], env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent' } });
  const { port } = await new Promise((resolve) => child.once('message', resolve));
  const clients = [];
  // Warm up (code paths compiled, pools allocated) with 200 connections, then measure from there.
  const open = async (count) => {
    for (let i = 0; i < count; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          s.write('x');
          s.once('data', () => resolve());
        });
        s.on('error', reject);
        clients.push(s);
      })));
    }
  };
  await open(200);
  const before = await ask(child, 'measure');
  await open(N);
  await new Promise((r) => setTimeout(r, 500));
  const after = await ask(child, 'measure');
  for (const s of clients) s.destroy();
  child.kill();
  return {
    kind,
    rssPerConnKiB: ((after.rss - before.rss) / N / 1024).toFixed(2),
    heapPerConnKiB: ((after.heap - before.heap) / N / 1024).toFixed(2),
    externalPerConnKiB: ((after.external - before.external) / N / 1024).toFixed(2),
  };
}

(async () => {
  const backendSockets = [];
  const backend = net.createServer((s) => { backendSockets.push(s); s.on('error', () => {}); s.pipe(s); });
  await new Promise((r) => backend.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  const bp = backend.address().port;
  const results = [];
  for (const kind of ['net', 'handle']) {
    results.push(await run(kind, bp));
    for (const s of backendSockets.splice(0)) s.destroy();
  }
  console.log(JSON.stringify({ node: process.version, connections: N, results }, null, 1));
  backend.close();
})();
