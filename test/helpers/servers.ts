/**
 * Real Redis and PostgreSQL servers for the check tests, on 127.0.0.1 and
 * free ports, in temp dirs. A missing binary fails the test with what to
 * install (CI's .ci/run installs them): these tests never skip.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { refusedPort, sleep } from './net';

export function run(cmd: string, args: string[], options: { user?: string; timeoutMs?: number } = {}): Promise<string> {
  const [file, argv] = options.user === undefined ? [cmd, args] : ['runuser', ['-u', options.user, '--', cmd, ...args]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: options.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Poll an async condition until it holds (bounded): for servers that take a while to come up. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(100);
  }
}

export function requireBinary(file: string, install: string): string {
  if (!fs.existsSync(file)) throw new Error(`${file} not found: install ${install} (.ci/run does)`);
  return file;
}

// ---- Redis

export interface RedisServer {
  port: number;
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

export async function startRedis(extra: string[] = [], port?: number): Promise<RedisServer> {
  requireBinary(REDIS_SERVER, 'redis-server');
  const p = port ?? (await refusedPort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-redis-'));
  const child = spawn(REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' });
  const auth = extra.includes('--requirepass') ? ['--no-auth-warning', '-a', extra[extra.indexOf('--requirepass') + 1]] : [];
  const cli = (...args: string[]) => run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(p), ...auth, ...args], { timeoutMs: 10_000 });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await eventually(`redis on ${p}`, async () => (await cli('PING')).trim() === 'PONG');
  return {
    port: p,
    cli,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- PostgreSQL

export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error(`no ${root}/*/bin/initdb: install postgresql (.ci/run does)`);
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(root, versions[0], 'bin');
}

export interface PgNode {
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  promote(): Promise<void>;
}

/**
 * A primary (initdb) in `root`, run as the postgres user (initdb refuses root).
 * Only 127.0.0.1, the socket in `root`, fsync off for speed. `user` with
 * `password` must log in with SCRAM; everyone else is trusted (loopback only).
 */
export async function startPrimary(root: string, name: string, login: { user: string; password: string }): Promise<PgNode> {
  const bin = postgresBin();
  const dataDir = path.join(root, name);
  await run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync'], { user: 'postgres' });
  fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), `host all ${login.user} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n`);
  const node = await startNode(root, dataDir);
  await run(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(node.port), '-U', 'postgres', '-qc', `CREATE ROLE ${login.user} LOGIN PASSWORD '${login.password}'`]);
  return node;
}

/** A streaming standby of `primary` made with pg_basebackup -R, on its own port. */
export async function startStandby(root: string, name: string, primary: PgNode): Promise<PgNode> {
  const dataDir = path.join(root, name);
  await run(path.join(postgresBin(), 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '--no-sync'], { user: 'postgres' });
  return startNode(root, dataDir);
}

async function startNode(root: string, dataDir: string): Promise<PgNode> {
  const bin = postgresBin();
  const port = await refusedPort();
  const opts = `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  await run(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-l', `${dataDir}.log`, '-o', opts, '-w', '-t', '60', 'start'], { user: 'postgres' });
  const ctl = (...args: string[]) => run(path.join(bin, 'pg_ctl'), ['-D', dataDir, ...args], { user: 'postgres' }).then(() => {});
  return {
    port,
    dataDir,
    stop: () => ctl('-m', 'immediate', '-w', 'stop').catch(() => {}),
    promote: () => ctl('-w', 'promote'),
  };
}

/** A temp dir the postgres user owns (the Debian package creates that user). */
export function postgresRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-pg-'));
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  fs.chownSync(root, id('-u'), id('-g'));
  return root;
}
