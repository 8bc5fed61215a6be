/**
 * How `fulcrum run` fails (issue 11, items 14, 15, 18): a config the kernel
 * would refuse is caught before anything opens (exit 2); a bind that still
 * fails is printed once and leaves nothing open behind it.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { start } from '../../src/index';
import { spawn } from 'node:child_process';
import { CLI, runCli } from '../helpers/cli';
import { fulcrumConfig, tcpService, backend, ep } from '../helpers/config';
import { close, listen, refusedPort, until } from '../helpers/net';

let dir: string;
const servers: net.Server[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-start-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => close(s)));
});

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

async function busyPort(): Promise<number> {
  const server = net.createServer();
  servers.push(server);
  return listen(server);
}

test('a YAML alias bomb exits 2 with one ERR_FULCRUM_CONFIG_READ line, no stack', async () => {
  expect.assertions(3);
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const file = writeConfig('bomb.yaml', `${levels.join('\n')}\nservices: *h\n`);
  const res = await runCli(['validate', '-c', file]);
  expect(res.code).toBe(2);
  expect(res.stderr).toMatch(/^fulcrum: cannot parse .*bomb\.yaml as YAML: .*alias.* \[ERR_FULCRUM_CONFIG_READ\]\n$/);
  expect(res.stderr).not.toContain('    at ');
});

test('run refuses a wildcard overlap before opening any listener (exit 2)', async () => {
  expect.assertions(3);
  const port = await refusedPort();
  const svc = (name: string, host: string) => `  - { name: ${name}, listen: "${host}:${port}", health: { enabled: false }, backends: [{ address: 127.0.0.1:1 }] }\n`;
  const file = writeConfig('overlap.yaml', `admin: { enabled: false }\nservices:\n${svc('a', '127.0.0.1')}${svc('b', '0.0.0.0')}`);
  const res = await runCli(['run', '-c', file]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain(`services[1].listen: tcp 0.0.0.0:${port} overlaps (wildcard) with services[0]`);
  expect(res.stdout).not.toContain('service listening');
});

test('a listen error is printed once: the plain line on stderr, no JSON line with a stack', async () => {
  expect.assertions(4);
  const port = await busyPort();
  const res = await runCli(['run', '--listen', `127.0.0.1:${port}`, '--backend', '127.0.0.1:1']);
  expect(res.code).toBe(1);
  expect(res.stderr).toBe(`fulcrum: service quick: cannot listen on 127.0.0.1:${port}: EADDRINUSE [ERR_FULCRUM_LISTEN]\n`);
  expect(res.stdout).not.toContain('listener error');
  expect(res.stdout).not.toContain('"stack"');
});

test('a start that fails at the admin API closes the service listeners it opened', async () => {
  expect.assertions(3);
  const adminPort = await busyPort();
  const servicePort = await refusedPort();
  const config = fulcrumConfig([tcpService([backend(1)], { listen: ep(servicePort) })], { admin: { listen: ep(adminPort) } });
  await expect(start(config)).rejects.toMatchObject({ code: 'ERR_FULCRUM_LISTEN' });
  // The service port is free again at once: a fresh bind succeeds.
  const again = net.createServer();
  servers.push(again);
  await expect(new Promise((resolve, reject) => {
    again.once('error', reject);
    again.listen(servicePort, '127.0.0.1', () => resolve('bound'));
  })).resolves.toBe('bound');
  expect(again.listening).toBe(true);
});

describe('the descriptor budget at start (items 2 and 19)', () => {
  /** `fulcrum run ARGS` under `ulimit -Sn 20000` (as the issue's box), until it listens; then SIGTERM. */
  async function startUnder20k(args: string[]): Promise<string> {
    const child = spawn('sh', ['-c', `ulimit -Sn 20000 2>/dev/null; exec "${process.execPath}" "${CLI}" "$@"`, 'sh', 'run', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, JEST_WORKER_ID: '', FULCRUM_LOG_LEVEL: 'info' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await until(() => out.includes('"service listening"') || child.exitCode !== null, 15_000, 20);
    child.kill('SIGTERM');
    await exited;
    return out;
  }

  test('a default start fits the limit it finds: no warning, the default cap lowered and logged', async () => {
    expect.assertions(3);
    const out = await startUnder20k(['--listen', '127.0.0.1:0', '--backend', '127.0.0.1:1']);
    expect(out).toContain('"service listening"');
    expect(out).not.toContain('file descriptors');
    expect(out).toMatch(/"lowered":\["services\[0\]\.maxConnections 10000 → \d+"\].*"default session caps lowered to fit the open-files limit"/);
  }, 30_000);

  test('an explicit cap above the limit still warns', async () => {
    expect.assertions(2);
    const file = writeConfig('big-cap.yaml', 'admin: { enabled: false }\nservices:\n  - { name: a, listen: 127.0.0.1:0, maxConnections: 5000000, health: { enabled: false }, backends: [{ address: 127.0.0.1:1 }] }\n');
    const out = await startUnder20k(['-c', file]);
    expect(out).toContain('"service listening"');
    expect(out).toMatch(/could need 1000006\d file descriptors but the open-files limit is \d+/);
  }, 30_000);
});
