import type net from 'node:net';
import { parseConfigText } from '../../src/config';
import { redisProbe } from '../../src/manager/health/redis-probe';
import { start, type FulcrumHandle } from '../../src/index';
import { ep } from '../helpers/config';
import { connect, readAll, refusedPort } from '../helpers/net';
import { eventually, startRedis, type RedisServer } from '../helpers/servers';

/** Real redis-server master and replica; `role: master` sends only to the master, and follows a role swap. */
const servers: RedisServer[] = [];
const handles: FulcrumHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
});
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function redis(extra: string[] = [], port?: number): Promise<RedisServer> {
  const s = await startRedis(extra, port);
  servers.push(s);
  return s;
}

/** The port of the Redis that served one connection through fulcrum (INFO server: tcp_port). */
async function servedBy(port: number, password?: string): Promise<number> {
  const c: net.Socket = await connect(port);
  const reply = readAll(c);
  const auth = password === undefined ? '' : `*2\r\n$4\r\nAUTH\r\n$${password.length}\r\n${password}\r\n`;
  c.end(`${auth}*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n*1\r\n$4\r\nQUIT\r\n`);
  return Number(/tcp_port:(\d+)/.exec((await reply).toString())?.[1]);
}

const INTERVAL = 200;
const FALL = 2;
const RISE = 2;

async function fulcrumFor(backends: number[], role: string, extra = '') {
  const text = `services:
  - name: cache
    listen: 127.0.0.1:0
    balance: round-robin
    backends: [${backends.map((p) => `{ address: 127.0.0.1:${p} }`).join(', ')}]
    health: { type: redis, role: ${role}, interval: ${INTERVAL}ms, timeout: 500ms, rise: ${RISE}, fall: ${FALL}${extra} }
admin: { enabled: false }
log: { level: silent }
`;
  const h = await start(parseConfigText(text, { env: { REDIS_PASSWORD: 'sekret-pw' } }));
  handles.push(h);
  return { h, port: h.addresses.get('cache')!.port, svc: h.manager.services[0] };
}

/** A master and a replica linked to it. */
async function masterAndReplica(): Promise<[RedisServer, RedisServer]> {
  const a = await redis();
  const b = await redis(['--replicaof', '127.0.0.1', String(a.port)]);
  await eventually('replica linked', async () => (await b.cli('INFO', 'replication')).includes('master_link_status:up'));
  return [a, b];
}

const result = (h: FulcrumHandle, i: number) => h.manager.status().services[0].backends[i];

test('role: master picks the master; a swap moves traffic within fall x interval; a second master is held down (split brain)', async () => {
  expect.assertions(12);
  const [a, b] = await masterAndReplica();

  const { h, port, svc } = await fulcrumFor([a.port, b.port], 'master');
  const [ba, bb] = svc.pool.backends;
  expect([ba.usable, bb.usable]).toEqual([true, false]);
  expect(result(h, 1).health?.result).toBe('redis role:slave');
  for (let i = 0; i < 6; i++) expect(await servedBy(port)).toBe(a.port);

  // Promote b while a is still master: two masters. a keeps the role; b is held down and says why.
  await b.cli('REPLICAOF', 'NO', 'ONE');
  await eventually('b seen as a second master', async () => result(h, 1).health?.result === `redis role:master; 127.0.0.1:${a.port} holds the role`);
  expect(bb.usable).toBe(false);

  // Demote a: it fails its check, goes down after `fall` checks, and b takes the role after `rise`.
  const t0 = Date.now();
  await a.cli('REPLICAOF', '127.0.0.1', String(b.port));
  await eventually('traffic follows to b', async () => bb.usable && !ba.usable);
  // Expected: fall + rise checks plus up to one interval of phase (~1 s here). The bound only says the checks
  // drove it (not a timing goal): generous, for a loaded machine.
  expect(Date.now() - t0).toBeLessThan((FALL + RISE + 1) * INTERVAL * 1.1 + 10_000);
  expect(await servedBy(port)).toBe(b.port);
  expect(result(h, 0).health?.result).toMatch(/^redis role:slave/);
});

test('a restarted old master that comes back as master (no replicaof) is held down while the current master is up', async () => {
  expect.assertions(4);
  const [a, b] = await masterAndReplica();
  const { h, port, svc } = await fulcrumFor([a.port, b.port], 'master');
  const [ba, bb] = svc.pool.backends;
  // The master dies; the replica is promoted (as Sentinel would), and traffic moves to it.
  await a.stop();
  servers.splice(servers.indexOf(a), 1);
  await b.cli('REPLICAOF', 'NO', 'ONE');
  await eventually('b takes over', async () => bb.usable && !ba.usable);
  // The old master restarts from its config, which says nothing of replicaof: it announces itself master.
  await redis([], a.port);
  await eventually('a answers its checks again', async () => result(h, 0).health?.result === `redis role:master; 127.0.0.1:${b.port} holds the role`);
  expect(ba.usable).toBe(false);
  expect(await servedBy(port)).toBe(b.port);
  expect(result(h, 0).state).toBe('down');
  expect(result(h, 1).health?.result).toBe('redis role:master');
});

test('role: replica picks a linked replica; AUTH with a password from ${VAR}; a wrong password and a non-Redis port fail with a clear text', async () => {
  expect.assertions(6);
  const a = await redis(['--requirepass', 'sekret-pw']);
  const b = await redis(['--replicaof', '127.0.0.1', String(a.port), '--masterauth', 'sekret-pw', '--requirepass', 'sekret-pw']);
  await eventually('replica linked', async () => (await b.cli('INFO', 'replication')).includes('master_link_status:up'));
  const { h, port } = await fulcrumFor([a.port, b.port], 'replica', ', password: "${REDIS_PASSWORD}"');
  expect(result(h, 0).health?.result).toBe('redis role:master');
  expect(await servedBy(port, 'sekret-pw')).toBe(b.port);
  expect(result(h, 1).health).toMatchObject({ type: 'redis', result: 'redis role:slave', ok: true });

  const wrong = await redisProbe(ep(a.port), undefined, 1000, { role: 'any', password: 'nope' });
  expect(wrong).toMatchObject({ ok: false, reason: expect.stringMatching(/^redis auth: WRONGPASS/) });
  const noAuth = await redisProbe(ep(a.port), undefined, 1000, { role: 'any' });
  expect(noAuth).toMatchObject({ ok: false, reason: expect.stringMatching(/^redis ping: NOAUTH/) });
  const refused = await redisProbe(ep(await refusedPort()), undefined, 1000, { role: 'any' });
  expect(refused).toEqual({ ok: false, reason: 'ECONNREFUSED' });
});
