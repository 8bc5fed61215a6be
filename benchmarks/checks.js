'use strict';
// What one health check costs fulcrum: checks per CPU-second of the checking
// process (= checks/s one core can run), per check type, against real local
// servers in other processes. Bounded: a fixed number of checks per type, 16 in
// flight. Needs `npm run build` first; redis-server and postgresql for those rows.
//
//   node benchmarks/checks.js                       every type
//   node benchmarks/checks.js --only tcp,http       some
//   node benchmarks/checks.js --count 2000          checks per type (postgres: a fifth)

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, makeTempDir } = require('./proc');

const dist = path.resolve(__dirname, '../dist/src/manager/health');
const { tcpProbe } = require(`${dist}/tcp-probe`);
const { httpProbe } = require(`${dist}/http-probe`);
const { redisProbe } = require(`${dist}/redis-probe`);
const { postgresProbe } = require(`${dist}/postgres-probe`);
const { agentProbe } = require(`${dist}/agent`);

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const ONLY = opt('--only', 'tcp,http,agent,redis,postgres').split(',');
const COUNT = Number(opt('--count', '3000'));
const IN_FLIGHT = 16;
const HOST = '127.0.0.1';
const ep = (port) => ({ host: HOST, port, family: 4, text: `${HOST}:${port}` });
const cleanups = [];

/** tcp, http and agent targets in one child process: what they cost is not ours. */
async function nodeTargets() {
  const [tcp, http, agent] = await Promise.all([freePort(), freePort(), freePort()]);
  const code = `
    const net = require('net'); const http = require('http');
    net.createServer((c) => { c.on('error', () => {}); c.end(); }).listen(${tcp}, '${HOST}');
    http.createServer((q, r) => r.end('ok')).listen(${http}, '${HOST}');
    net.createServer((c) => { c.on('error', () => {}); c.end('up ready 75%\\n'); }).listen(${agent}, '${HOST}', () => console.log('ready'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return { tcp, http, agent };
}

async function redisTarget() {
  const port = await freePort();
  const tmp = makeTempDir('fulcrum-bench-redis-');
  const child = spawn('redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', tmp.dir], { stdio: 'ignore' });
  cleanups.push(() => { child.kill('SIGKILL'); tmp.remove(); });
  for (let i = 0; i < 100; i++) {
    if ((await redisProbe(ep(port), undefined, 500, { role: 'any' })).ok) return port;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
}

async function postgresTarget() {
  const root = '/usr/lib/postgresql';
  const version = fs.readdirSync(root).sort((a, b) => b - a)[0];
  const bin = (n) => path.join(root, version, 'bin', n);
  const tmp = makeTempDir('fulcrum-bench-pg-');
  const id = (f) => Number(execFileSync('id', [f, 'postgres']).toString());
  fs.chownSync(tmp.dir, id('-u'), id('-g'));
  const as = (cmd, a) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...a], { stdio: 'ignore' });
  const data = path.join(tmp.dir, 'data');
  const port = await freePort();
  as(bin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
  as(bin('pg_ctl'), ['-D', data, '-l', `${data}.log`, '-o', `-c port=${port} -c listen_addresses=${HOST} -c unix_socket_directories=${tmp.dir} -c fsync=off`, '-w', 'start']);
  cleanups.push(() => { try { as(bin('pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']); } catch { /* gone */ } tmp.remove(); });
  return port;
}

/** Run `count` probes, IN_FLIGHT at a time; CPU time of this process per check. */
async function measure(name, count, probe) {
  for (let i = 0; i < 50; i++) await probe(); // warm up (JIT, first connects)
  let failed = 0;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    while (next++ < count) if (!(await probe()).ok) failed++;
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return { name, count, failed, perCpuSecond: Math.round(count / cpuSec), cpuUsPerCheck: Math.round((cpuSec / count) * 1e6), wallPerSecond: Math.round(count / wall) };
}

async function main() {
  const rows = [];
  const node = ONLY.some((t) => ['tcp', 'http', 'agent'].includes(t)) ? await nodeTargets() : null;
  const http = { method: 'GET', path: '/', expectStatus: null };
  if (ONLY.includes('tcp')) rows.push(await measure('tcp', COUNT, () => tcpProbe(ep(node.tcp), undefined, 2000)));
  if (ONLY.includes('http')) rows.push(await measure('http', COUNT, () => httpProbe(ep(node.http), undefined, 2000, http)));
  if (ONLY.includes('agent')) rows.push(await measure('agent', COUNT, () => agentProbe(ep(node.agent), node.agent, 2000)));
  if (ONLY.includes('redis')) {
    const port = await redisTarget();
    rows.push(await measure('redis', COUNT, () => redisProbe(ep(port), undefined, 2000, { role: 'master' })));
  }
  if (ONLY.includes('postgres')) {
    const port = await postgresTarget();
    const check = { role: 'primary', user: 'postgres', database: 'postgres' };
    rows.push(await measure('postgres', Math.ceil(COUNT / 5), () => postgresProbe(ep(port), undefined, 5000, check)));
  }
  console.log('| check | checks | failed | checks per CPU-second (one core) | CPU µs per check | checks/s wall (16 in flight) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.name} | ${r.count} | ${r.failed} | ${r.perCpuSecond.toLocaleString('en')} | ${r.cpuUsPerCheck} | ${r.wallPerSecond.toLocaleString('en')} |`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of cleanups.reverse()) c();
  });
