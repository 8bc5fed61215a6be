import fs from 'node:fs';
import { Client } from 'pg';
import { parseConfigText } from '../../src/config';
import { postgresProbe } from '../../src/manager/health/postgres-probe';
import { start, type FulcrumHandle } from '../../src/index';
import { ep } from '../helpers/config';
import { eventually, postgresRoot, startPrimary, startStandby, type PgNode } from '../helpers/servers';

/**
 * One real primary and a streaming standby (pg_basebackup -R) for the whole
 * file: `role: primary` picks the primary, `role: replica` the standby, the lag
 * bound fails a paused replica, and after promote + stop of the old primary
 * traffic follows. The checks log in as `fulcrum` with SCRAM, the password from ${VAR}.
 */
jest.setTimeout(120_000);

const LOGIN = { user: 'fulcrum', password: 'check-pw-1' };
let root: string;
let primary: PgNode;
let standby: PgNode;
const handles: FulcrumHandle[] = [];

beforeAll(async () => {
  root = postgresRoot();
  primary = await startPrimary(root, 'a', LOGIN);
  standby = await startStandby(root, 'b', primary);
  await eventually('standby streaming', async () => (await sql(standby.port, "SELECT count(*)::int AS n FROM pg_stat_wal_receiver WHERE status = 'streaming'")).n === 1);
});

afterAll(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all([primary?.stop(), standby?.stop()]);
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
});

async function sql(port: number, text: string): Promise<Record<string, unknown>> {
  const c = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(text)).rows[0] ?? {};
  } finally {
    await c.end();
  }
}

async function fulcrumFor(role: string, extra = '') {
  const text = `services:
  - name: pg
    listen: 127.0.0.1:0
    balance: round-robin
    backends: [{ address: 127.0.0.1:${primary.port} }, { address: 127.0.0.1:${standby.port} }]
    health: { type: postgres, role: ${role}, user: fulcrum, password: "\${PGCHECK_PASSWORD}", interval: 200ms, timeout: 2s, rise: 2, fall: 2${extra} }
admin: { enabled: false }
log: { level: silent }
`;
  const h = await start(parseConfigText(text, { env: { PGCHECK_PASSWORD: LOGIN.password } }));
  handles.push(h);
  return { h, port: h.addresses.get('pg')!.port, svc: h.manager.services[0] };
}

/** The backend port that served a session through fulcrum. */
const servedBy = async (port: number) => Number((await sql(port, 'SELECT inet_server_port() AS p')).p);
const result = (h: FulcrumHandle, i: number) => h.manager.status().services[0].backends[i].health?.result;

test('role: primary sends every session to the primary; role: replica to the standby', async () => {
  expect.assertions(8);
  const p = await fulcrumFor('primary');
  expect([result(p.h, 0), result(p.h, 1)]).toEqual(['pg primary', expect.stringMatching(/^pg in recovery/)]);
  for (let i = 0; i < 4; i++) expect(await servedBy(p.port)).toBe(primary.port);
  const r = await fulcrumFor('replica');
  expect(await servedBy(r.port)).toBe(standby.port);
  expect(r.h.manager.status().services[0].backends[0]).toMatchObject({ state: 'down', health: { type: 'postgres', result: 'pg primary', ok: false } });
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  expect(handles).toHaveLength(0);
});

test('a wrong password and a closed port fail with the reason as text', async () => {
  expect.assertions(2);
  const wrong = await postgresProbe(ep(primary.port), undefined, 2000, { role: 'any', user: 'fulcrum', database: 'postgres', password: 'nope' });
  expect(wrong).toEqual({ ok: false, reason: 'pg: password authentication failed for user "fulcrum"' });
  const ok = await postgresProbe(ep(standby.port), undefined, 2000, { role: 'any', user: 'fulcrum', database: 'postgres', password: LOGIN.password });
  expect(ok).toMatchObject({ ok: true, text: expect.stringMatching(/^pg in recovery/) });
});

test('maxLagBytes: a replica whose replay is paused falls behind and fails; resumed, it passes again', async () => {
  expect.assertions(2);
  const check = { role: 'replica' as const, user: 'fulcrum', database: 'postgres', password: LOGIN.password, maxLagBytes: 1024 };
  await sql(standby.port, 'SELECT pg_wal_replay_pause()');
  try {
    await sql(primary.port, 'CREATE TABLE IF NOT EXISTS lag_test AS SELECT g, repeat(\'x\', 100) AS pad FROM generate_series(1, 2000) g');
    const behind = await eventually('replica behind', async () => {
      const r = await postgresProbe(ep(standby.port), undefined, 2000, check);
      return !r.ok && /lag \d+B > 1024B$/.test(r.reason) ? r : undefined;
    });
    expect(behind.ok).toBe(false);
  } finally {
    await sql(standby.port, 'SELECT pg_wal_replay_resume()');
  }
  const caughtUp = await eventually('replica caught up', async () => {
    const r = await postgresProbe(ep(standby.port), undefined, 2000, check);
    return r.ok ? r : undefined;
  });
  expect(caughtUp.ok).toBe(true);
});

test('promote the standby and stop the old primary: traffic follows; meanwhile the second primary is held down', async () => {
  expect.assertions(5);
  const { h, port, svc } = await fulcrumFor('primary');
  const [a, b] = svc.pool.backends;
  expect(await servedBy(port)).toBe(primary.port);
  await standby.promote();
  await eventually('two primaries, the new one held', async () => result(h, 1) === `pg primary; 127.0.0.1:${primary.port} holds the role`);
  expect(b.usable).toBe(false);
  await primary.stop();
  await eventually('traffic follows to the promoted standby', async () => b.usable && !a.usable);
  expect(await servedBy(port)).toBe(standby.port);
  expect(result(h, 0)).toMatch(/^pg: ECONNREFUSED/);
  expect(h.manager.status().services[0].backends[1].health).toMatchObject({ result: 'pg primary', ok: true });
});
