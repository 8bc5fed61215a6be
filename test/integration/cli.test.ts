import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { listeningPort, runCli, spawnCli, type CliProcess } from '../helpers/cli';
import { close, connect, echoServer, listen, readAll, refusedPort } from '../helpers/net';

const procs: CliProcess[] = [];
const servers: net.Server[] = [];
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-cli-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => close(s)));
});

function spawnTracked(args: string[], env?: NodeJS.ProcessEnv): CliProcess {
  const p = spawnCli(args, env);
  procs.push(p);
  return p;
}

async function roundTrip(port: number, text: string): Promise<string> {
  const c = await connect(port);
  const r = readAll(c);
  c.end(text);
  return (await r).toString();
}

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

test('quick mode: --listen and two --backend flags balance and SIGTERM exits 0', async () => {
  const a = await echoServer();
  const b = await echoServer();
  servers.push(a.server, b.server);
  // Count sessions that carried data: health checks connect too, but send nothing.
  const accepted = [0, 0];
  a.server.on('connection', (s: net.Socket) => s.once('data', () => accepted[0]++));
  b.server.on('connection', (s: net.Socket) => s.once('data', () => accepted[1]++));
  const p = spawnTracked(['run', '--listen', '127.0.0.1:0', '--backend', `127.0.0.1:${a.port}`, '--backend', `127.0.0.1:${b.port}`, '--balance', 'round-robin']);
  const port = await listeningPort(p, 'quick');
  for (let i = 0; i < 6; i++) expect(await roundTrip(port, `hi ${i}`)).toBe(`hi ${i}`);
  expect(accepted).toEqual([3, 3]);
  p.child.kill('SIGTERM');
  expect((await p.exited).code).toBe(0);
});

test('SIGTERM: stops accepting, lets a live session finish, then exits 0', async () => {
  const e = await echoServer();
  servers.push(e.server);
  const p = spawnTracked(['run', '--listen', '127.0.0.1:0', '--backend', `127.0.0.1:${e.port}`]);
  const port = await listeningPort(p, 'quick');
  const live = await connect(port);
  live.write('before ');
  await new Promise((r) => live.once('data', r));
  p.child.kill('SIGTERM');
  await p.waitFor((l) => l.includes('stopping'));
  // New connections are refused while the old one drains.
  await expect(connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  const rest = readAll(live);
  live.end('after');
  expect((await rest).toString()).toBe('after');
  expect((await p.exited).code).toBe(0);
});

test('SIGTERM: sessions still open at shutdownTimeout are reset and the process exits 0', async () => {
  const e = await echoServer();
  servers.push(e.server);
  const file = writeConfig(
    'drain.yaml',
    `shutdownTimeout: 300ms\nadmin: { enabled: false }\nservices:\n  - name: web\n    listen: 127.0.0.1:0\n    backends: [{ address: 127.0.0.1:${e.port} }]\n`,
  );
  const p = spawnTracked(['run', '-c', file]);
  const port = await listeningPort(p, 'web');
  const live = await connect(port);
  const closed = readAll(live);
  const t0 = Date.now();
  p.child.kill('SIGTERM');
  await expect(closed).rejects.toMatchObject({ code: 'ECONNRESET' }); // cut, so not a FIN
  expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  expect((await p.exited).code).toBe(0);
  expect(p.stdout()).toContain('"aborted":1');
});

test('a second SIGTERM resets the live sessions at once and the final line counts them as aborted', async () => {
  expect.assertions(4);
  const e = await echoServer();
  servers.push(e.server);
  const file = writeConfig(
    'abort.yaml',
    `shutdownTimeout: 30s\nadmin: { enabled: false }\nservices:\n  - name: web\n    listen: 127.0.0.1:0\n    backends: [{ address: 127.0.0.1:${e.port} }]\n`,
  );
  const p = spawnTracked(['run', '-c', file]);
  const port = await listeningPort(p, 'web');
  const live = await connect(port);
  live.write('x');
  await new Promise((r) => live.once('data', r));
  const closed = readAll(live);
  p.child.kill('SIGTERM');
  await p.waitFor((l) => l.includes('stopping'));
  p.child.kill('SIGTERM');
  await expect(closed).rejects.toMatchObject({ code: 'ECONNRESET' }); // a forced close is a reset, not a FIN
  expect((await p.exited).code).toBe(0);
  const last = JSON.parse(p.stdout().trim().split('\n').pop()!);
  expect(last.msg).toBe('stopped');
  expect(last.aborted).toBe(1);
});

test('validate: a valid file exits 0, an invalid one exits 2 naming the field path', async () => {
  const good = writeConfig('good.yaml', 'services:\n  - name: pg\n    listen: 127.0.0.1:5432\n    backends: [{ address: 10.0.0.11:5432 }]\n');
  const ok = await runCli(['validate', '-c', good]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain('valid');
  const bad = writeConfig('bad.yaml', 'services:\n  - name: pg\n    listen: 127.0.0.1:5432\n    backends: [{ address: 10.0.0.11:5432 }, { address: 10.0.0.1 }]\n');
  const res = await runCli(['validate', '-c', bad]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('services[0].backends[1].address: "10.0.0.1" has no port');
});

test('run with an invalid config starts nothing and exits 2', async () => {
  const bad = writeConfig('bad-run.yaml', 'services:\n  - name: x\n    listen: 127.0.0.1:0\n    balance: fastest\n    backends: [{ address: 127.0.0.1:1 }]\n');
  const res = await runCli(['run', '-c', bad]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('services[0].balance');
  expect(res.stdout).not.toContain('service listening');
});

test('bad arguments exit 2; a port in use exits 1', async () => {
  expect((await runCli(['run'])).code).toBe(2);
  const badBackend = await runCli(['run', '--listen', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--backend', 'nope']);
  expect(badBackend.code).toBe(2);
  expect(badBackend.stderr).toContain('--backend #2: ');
  expect((await runCli(['frobnicate'])).code).toBe(2);
  expect((await runCli(['--help'])).code).toBe(0);
  const busy = net.createServer();
  servers.push(busy);
  const port = await listen(busy);
  const res = await runCli(['run', '--listen', `127.0.0.1:${port}`, '--backend', `127.0.0.1:${await refusedPort()}`]);
  expect(res.code).toBe(1);
  expect(res.stderr).toContain('ERR_FULCRUM_LISTEN');
});

test('demo: echo backends behind a round-robin service, Ctrl-C exits 0', async () => {
  const p = spawnTracked(['demo', '--port', '0']);
  const line = await p.waitFor((l) => l.startsWith('service "demo"'));
  const port = Number(/:(\d+)$/.exec(line.trim())![1]);
  const replies = new Set<string>();
  for (let i = 0; i < 3; i++) replies.add((await roundTrip(port, 'hello\n')).split(']')[0]);
  expect([...replies].sort()).toEqual(['[echo-1', '[echo-2', '[echo-3']);
  p.child.kill('SIGINT');
  expect((await p.exited).code).toBe(0);
});

test('SIGTERM still exits 0 when whoever read stdout has gone away (EPIPE on the log)', async () => {
  const p = spawnTracked(['run', '--listen', '127.0.0.1:0', '--backend', `127.0.0.1:${await refusedPort()}`]);
  await listeningPort(p, 'quick');
  p.child.stdout!.destroy();
  p.child.kill('SIGTERM');
  expect((await p.exited).code).toBe(0);
});

test('SIGHUP reloads the file: a valid change applies, an invalid one is logged and the old config kept', async () => {
  const a = await echoServer();
  const b = await echoServer();
  servers.push(a.server, b.server);
  const port = await refusedPort();
  const conf = (backends: string) =>
    `admin: { enabled: false }\nservices:\n  - name: web\n    listen: 127.0.0.1:${port}\n    backends: [${backends}]\n`;
  const file = writeConfig('hup.yaml', conf(`{ address: 127.0.0.1:${a.port} }`));
  const p = spawnTracked(['run', '-c', file]);
  await listeningPort(p, 'web');
  fs.writeFileSync(file, conf(`{ address: 127.0.0.1:${b.port} }`));
  p.child.kill('SIGHUP');
  await p.waitFor((l) => l.includes('configuration reloaded'));
  const seen: number[] = [];
  b.server.on('connection', (s: net.Socket) => s.once('data', () => seen.push(b.port)));
  expect(await roundTrip(port, 'after reload')).toBe('after reload');
  expect(seen).toEqual([b.port]);
  fs.writeFileSync(file, conf(`{ address: nope }`));
  p.child.kill('SIGHUP');
  const line = await p.waitFor((l) => l.includes('reload rejected'));
  expect(line).toContain('services[0].backends[0].address');
  expect(await roundTrip(port, 'still')).toBe('still');
  p.child.kill('SIGTERM');
  expect((await p.exited).code).toBe(0);
});

test('an admin API on a non-loopback address without a token is refused at start (exit 2)', async () => {
  const file = writeConfig('exposed.yaml', 'admin: { listen: 0.0.0.0:0 }\nservices:\n  - { name: x, listen: 127.0.0.1:0, backends: [{ address: 127.0.0.1:1 }] }\n');
  const res = await runCli(['run', '-c', file]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('admin.listen: 0.0.0.0:0 is not a loopback address; set admin.token');
});

test('admin end to end: token required, fulcrum status and drain through the real manager', async () => {
  const a = await echoServer();
  servers.push(a.server);
  const file = writeConfig(
    'admin.yaml',
    `admin: { listen: 127.0.0.1:0, token: "\${TOK}" }\nservices:\n  - name: web\n    listen: 127.0.0.1:0\n    backends: [{ address: 127.0.0.1:${a.port}, name: a1 }]\n`,
  );
  const p = spawnTracked(['run', '-c', file], { TOK: 's3cret' });
  const line = await p.waitFor((l) => l.includes('admin API listening'));
  const url = `http://${JSON.parse(line).admin}`;
  const http = await import('node:http');
  const get = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => http.get(`${url}/status`, { headers }, (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject));
  expect(await get({})).toBe(401);
  expect(await get({ authorization: 'Bearer wrong' })).toBe(401);
  expect(await get({ authorization: 'Bearer s3cret' })).toBe(200);
  const status = await runCli(['status', '--admin', url, '--token', 's3cret']);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/web\s+a1 \(127\.0\.0\.1:\d+\)\s+up/);
  const drain = await runCli(['drain', 'web', 'a1', '--admin', url], { FULCRUM_ADMIN_TOKEN: 's3cret' });
  expect(drain.code).toBe(0);
  expect(drain.stdout).toContain('draining');
  const denied = await runCli(['enable', 'web', 'a1', '--admin', url, '--token', 'nope']);
  expect(denied.code).toBe(1);
  expect(denied.stderr).toContain('ERR_FULCRUM_UNAUTHORIZED');
  const json = JSON.parse((await runCli(['status', '--json', '--admin', url, '--token', 's3cret'])).stdout);
  expect(json.services[0].backends[0].state).toBe('draining');
  p.child.kill('SIGTERM');
  expect((await p.exited).code).toBe(0);
});
