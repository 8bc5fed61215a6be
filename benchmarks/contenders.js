'use strict';
// The things the load generator talks to. Each contender is
//   { name, proxy: boolean, unavailable(): string|null, start({ backendPort, core }) }
// where start() resolves to { port, pid, stop() }: `port` is where the load goes,
// `pid` the process whose CPU and RSS are reported (null when there is no proxy),
// `stop()` must leave no process behind. To add HAProxy or nginx later, write a
// start() that renders a config into benchmarks/out/, spawns the binary pinned to
// `core` in the foreground (haproxy -db -f FILE, nginx -g 'daemon off;' -c FILE),
// waits with waitForPort(), and stops it with stopChild(); then append it below.

const path = require('node:path');
const fs = require('node:fs');
const { HOST, spawnPinned, stopChild, freePort, waitForPort } = require('./proc');

const ROOT = path.resolve(__dirname, '..');
const FULCRUM_CLI = path.join(ROOT, 'dist', 'cli', 'fulcrum.js');

const direct = {
  name: 'direct',
  proxy: false,
  unavailable: () => null,
  async start({ backendPort }) {
    return { port: backendPort, pid: null, stop: async () => {} };
  },
};

const fulcrum = {
  name: 'fulcrum',
  proxy: true,
  unavailable: () => (fs.existsSync(FULCRUM_CLI) ? null : `${path.relative(ROOT, FULCRUM_CLI)} missing (run npm run build)`),
  async start({ backendPort, core }) {
    const port = await freePort();
    const child = spawnPinned(core, process.execPath, [FULCRUM_CLI, 'run', '--listen', `${HOST}:${port}`, '--backend', `${HOST}:${backendPort}`], {
      cwd: ROOT,
      env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn' },
      guard: true,
    });
    child.stdout.resume(); // warn-level lines only; do not let the pipe fill up
    try {
      await waitForPort(port, child, 10_000, 'fulcrum');
    } catch (err) {
      await stopChild(child, 'SIGKILL');
      throw err;
    }
    return {
      port,
      pid: child.pid,
      // SIGTERM drains; the load generator has closed its connections by now.
      stop: () => stopChild(child, 'SIGTERM', 5000),
    };
  },
};

// Order matters: the first one is the baseline for the ratio column.
module.exports = { CONTENDERS: [direct, fulcrum], BASELINE: 'direct' };
