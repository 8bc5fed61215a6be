'use strict';
// The things the load generator talks to. Each contender is
//   { name, proxy: boolean, unavailable(protocol): string|null, start({ backendPort, core, protocol }) }
// where `protocol` is 'tcp' or 'udp' (the scenario's), unavailable() returns why
// the contender cannot run (the row is then listed as skipped), and start()
// resolves to { port, pid, stop() }: `port` is where the load goes, `pid` the
// process whose CPU and RSS are reported (null when there is no proxy), and
// `stop()` must leave no process behind. A third-party proxy (nginx below;
// HAProxy next) renders a config into a temp dir, spawns the binary in the
// foreground pinned to `core` with a watchdog (spawnPinned(..., { guard: true })),
// waits with waitReady(), and is stopped with stopChild().

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { HOST, spawnPinned, stopChild, freePort, waitForPort, waitForUdpEcho } = require('./proc');

const ROOT = path.resolve(__dirname, '..');
const FULCRUM_CLI = path.join(ROOT, 'dist', 'cli', 'fulcrum.js');
const READY_TIMEOUT_MS = 10_000;

/** TCP: a connect succeeds. UDP: a datagram comes back through the proxy from the echo backend. */
function waitReady(protocol, port, child, what) {
  return protocol === 'udp' ? waitForUdpEcho(port, child, READY_TIMEOUT_MS, what) : waitForPort(port, child, READY_TIMEOUT_MS, what);
}

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
  async start({ backendPort, core, protocol }) {
    const port = await freePort(protocol);
    // Quick mode; --udp makes it a UDP service (balance defaults to source-hash).
    const args = [FULCRUM_CLI, 'run', ...(protocol === 'udp' ? ['--udp'] : []), '--listen', `${HOST}:${port}`, '--backend', `${HOST}:${backendPort}`];
    const child = spawnPinned(core, process.execPath, args, {
      cwd: ROOT,
      // warn hides the info line "service listening", so readiness is probed, not read (waitReady).
      env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn' },
      guard: true,
    });
    child.stdout.resume(); // warn-level lines only; do not let the pipe fill up
    try {
      await waitReady(protocol, port, child, 'fulcrum');
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

// ---------------------------------------------------------------- nginx (stream module)

const STREAM_MODULE_DIRS = ['/usr/lib/nginx/modules', '/usr/lib64/nginx/modules', '/usr/share/nginx/modules', '/usr/local/nginx/modules', '/etc/nginx/modules'];
const INSTALL_HINT = 'apt-get install nginx libnginx-mod-stream';

const versionAtLeast = (v, want) => {
  const a = v.split('.').map(Number);
  const b = want.split('.').map(Number);
  for (let i = 0; i < b.length; i++) if ((a[i] || 0) !== b[i]) return (a[i] || 0) > b[i];
  return true;
};

let nginxProbe = null;
/**
 * Find nginx and its stream module once: { bin, version, modulePath (null when
 * stream is built in), reason (null when usable) }. The rendered config is
 * checked with `nginx -t`, so a module built for another nginx version shows
 * up here as a skip reason rather than as a failed run.
 */
function nginxSetup() {
  if (nginxProbe) return nginxProbe;
  nginxProbe = probeNginx();
  return nginxProbe;
}

function probeNginx() {
  let bin;
  try {
    bin = execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return { reason: `nginx not on PATH (${INSTALL_HINT})` };
  }
  let info;
  try {
    // nginx -V prints to stderr; run it through sh to catch both.
    info = execFileSync('sh', ['-c', '"$0" -V 2>&1', bin], { encoding: 'utf8', timeout: 5000 });
  } catch (err) {
    return { reason: `nginx -V failed: ${String(err.message).split('\n')[0]}` };
  }
  const version = (/nginx\/(\d+\.\d+\.\d+)/.exec(info) || [])[1] || '0.0.0';
  const modulesPath = (/--modules-path=(\S+)/.exec(info) || [])[1];
  const dirs = [...(modulesPath ? [modulesPath] : []), ...STREAM_MODULE_DIRS];
  const found = dirs.map((d) => path.join(d, 'ngx_stream_module.so')).find((f) => fs.existsSync(f));
  const staticStream = /--with-stream(\s|$)/.test(info);
  if (!found && !staticStream) return { reason: `nginx ${version} has no stream module (${INSTALL_HINT})` };
  const setup = { bin, version, modulePath: staticStream ? null : found, reason: null };
  // Check that a config like the real ones loads (module/ABI mismatch, unknown directives).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-nginx-t-'));
  try {
    const conf = writeNginxConf(dir, setup, { port: 1, backendPort: 2, protocol: 'udp' });
    execFileSync(bin, [...nginxPrefixArgs(setup, dir), '-t', '-q', '-c', conf], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const text = `${err.stderr || ''}${err.stdout || ''}`.trim() || String(err.message);
    setup.reason = `nginx -t failed: ${text.split('\n')[0]}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return setup;
}

/** -p DIR, and -e FILE (1.19.5+) so nginx never opens the system error log. */
function nginxPrefixArgs(setup, dir) {
  return ['-p', `${dir}/`, ...(versionAtLeast(setup.version, '1.19.5') ? ['-e', path.join(dir, 'error.log')] : [])];
}

/**
 * One process (master_process off): the process we start is the one that moves
 * the bytes, so its pid's CPU and RSS are nginx's whole cost, like fulcrum's
 * single process. worker_processes 1 says the same for readers of the file.
 */
function writeNginxConf(dir, setup, { port, backendPort, protocol }) {
  const udp = protocol === 'udp';
  const lines = [
    '# generated by benchmarks/contenders.js; removed after the run',
    ...(setup.modulePath ? [`load_module ${setup.modulePath};`] : []),
    'worker_processes 1;',
    'master_process off;',
    'daemon off;',
    `error_log ${path.join(dir, 'error.log')} warn;`,
    `pid ${path.join(dir, 'nginx.pid')};`,
    'events { worker_connections 4096; }',
    'stream {',
    `  upstream u { server ${HOST}:${backendPort}; }`,
    '  server {',
    `    listen ${HOST}:${port}${udp ? ' udp' : ''};`,
    '    proxy_pass u;',
    ...(udp
      ? ['    proxy_responses 1;', '    proxy_timeout 10s;']
      : // bulk half-closes and waits for the sink's count; without this nginx closes both ways at the client's FIN.
        versionAtLeast(setup.version, '1.21.4') ? ['    proxy_half_close on;'] : []),
    '  }',
    '}',
    '',
  ];
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

const nginx = {
  name: 'nginx',
  proxy: true,
  unavailable: () => nginxSetup().reason,
  async start({ backendPort, core, protocol }) {
    const setup = nginxSetup();
    const port = await freePort(protocol);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-nginx-'));
    const conf = writeNginxConf(dir, setup, { port, backendPort, protocol });
    const child = spawnPinned(core, setup.bin, [...nginxPrefixArgs(setup, dir), '-c', conf], { cwd: dir, guard: true });
    child.stdout.resume();
    const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
    try {
      await waitReady(protocol, port, child, 'nginx');
    } catch (err) {
      await stopChild(child, 'SIGKILL');
      let log = '';
      try { log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-3).join(' | '); } catch { /* none */ }
      cleanup();
      throw log ? new Error(`${err.message} (error.log: ${log})`) : err;
    }
    return {
      port,
      pid: child.pid,
      // SIGTERM is nginx's fast shutdown (SIGQUIT's graceful one would wait out idle UDP sessions' proxy_timeout).
      stop: async () => {
        await stopChild(child, 'SIGTERM', 3000);
        cleanup();
      },
    };
  },
};

// Order matters: the first one is the baseline for the ÷ columns; PEERS get a
// "fulcrum ÷ PEER" column when they ran (HAProxy joins the list next).
module.exports = { CONTENDERS: [direct, fulcrum, nginx], BASELINE: 'direct', SUBJECT: 'fulcrum', PEERS: ['nginx'] };
