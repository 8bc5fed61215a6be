/**
 * `fulcrum status|drain|enable|disable|weight` against a real AdminServer in
 * this process with a fake control plane. Uses the built CLI (dist/): run
 * `npx tsc -p tsconfig.json` first (npm test does).
 */
import pino from 'pino';
import { AdminServer } from '../../src/admin/server';
import type { AdminConfig } from '../../src/config/types';
import { FulcrumError } from '../../src/errors';
import type { BackendStatus, ControlPlane, Percentiles, StatusReport } from '../../src/manager/status';
import { runCli } from '../helpers/cli';
import { ep } from '../helpers/config';
import { refusedPort } from '../helpers/net';

const pct = (p99: number | null): Percentiles => ({ count: p99 === null ? 0 : 5, p50: p99, p90: p99, p99, p999: p99, max: p99 });

function backend(name: string, extra: Partial<BackendStatus> = {}): BackendStatus {
  return { name, address: name, state: 'up', reasons: [], backup: false, weight: 10, effectiveWeight: 10, active: 4, total: 1234, connectFailures: 0, bytesIn: 1, bytesOut: 2, health: null, connectTime: pct(0.84), ...extra };
}

const report: StatusReport = {
  version: '0.1.0', pid: 4242, uptimeSeconds: 3725, configFile: '/etc/fulcrum/fulcrum.yaml', peer: null, timerErrors: 0,
  services: [
    {
      name: 'pg', protocol: 'tcp', listen: '0.0.0.0:5432', balance: 'least-conn', active: 5, accepted: 2468, rejected: { no_backend: 2, max_connections: 0 },
      backends: [
        backend('10.0.0.11:5432', { health: { lastCheckMs: 5, lastLatencyMs: 1, lastError: null, type: 'postgres', result: 'pg primary', ok: true }, agent: { result: 'agent ready 75%', ok: true, lastCheckMs: 9 } }),
        backend('[::1]:5433', { state: 'draining', reasons: ['draining'], effectiveWeight: 4, active: 1, total: 1234, connectFailures: 3, connectTime: pct(12.5) }),
        backend('spare', { address: '10.0.0.13:5432', backup: true, active: 0, total: 0, connectTime: pct(null) }),
        backend('flappy', { address: '10.0.0.14:5432', active: 0, total: 0, connectTime: pct(null), state: 'damped', reasons: ['damped'], dampedMs: 12_300, health: { lastCheckMs: 5, lastLatencyMs: null, lastError: 'http 503', type: 'http', result: 'http 503', ok: false } }),
      ],
      connectTime: pct(2), sessionTime: pct(900), udp: null,
    },
    {
      name: 'dns', protocol: 'udp', listen: '127.0.0.1:53', balance: 'source-hash', active: 4, accepted: 9, rejected: {},
      backends: [backend('127.0.0.1:5353', { active: 4, total: 9, connectTime: pct(null) })],
      connectTime: pct(null), sessionTime: pct(3),
      udp: { sessions: 4, datagramsIn: 100, datagramsOut: 90, bytesIn: 1, bytesOut: 2, dropped: { acl: 2, oversize: 1, max_sessions: 0 }, recvBufferSize: null, sendBufferSize: null },
    },
  ],
};

function fakeControl() {
  const calls: unknown[][] = [];
  const find = (service: string, name: string): BackendStatus => {
    const b = report.services.find((s) => s.name === service)?.backends.find((x) => x.name === name);
    if (!b) throw new FulcrumError('ERR_FULCRUM_NOT_FOUND', `service "${service}" has no backend "${name}"`);
    return b;
  };
  const control: ControlPlane = {
    status: () => report,
    backendAction: (service, name, action) => {
      calls.push([service, name, action]);
      return { ...find(service, name), state: action === 'drain' ? 'draining' : action === 'disable' ? 'disabled' : 'up', reasons: action === 'enable' ? [] : [action === 'drain' ? 'draining' : 'disabled'] };
    },
    setWeight: (service, name, weight) => {
      calls.push([service, name, 'weight', weight]);
      if (weight > 1000) throw new FulcrumError('ERR_FULCRUM_BAD_REQUEST', 'weight must be an integer 0..1000');
      return { ...find(service, name), weight, effectiveWeight: weight };
    },
    reload: async () => ({ servicesAdded: [], servicesRemoved: [], servicesChanged: [] }),
  };
  return { control, calls };
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(config: Partial<AdminConfig> = {}) {
  const fake = fakeControl();
  const server = new AdminServer(fake.control, { listen: ep(0), ...config }, pino({ level: 'silent' }));
  servers.push(server);
  const { port } = await server.listen();
  return { ...fake, url: `http://127.0.0.1:${port}` };
}

/** No admin URL or token leaks in from the environment running the tests. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { FULCRUM_ADMIN_URL: '', FULCRUM_ADMIN_TOKEN: '', ...env });

test('status: an aligned table with a row per backend and a line per service', async () => {
  const { url } = await start();
  const r = await cli(['status', '--admin', url]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const lines = r.stdout.split('\n');
  expect(lines[0]).toBe('fulcrum 0.1.0, pid 4242, up 1h02m, config /etc/fulcrum/fulcrum.yaml');
  const header = lines.find((l) => l.startsWith('SERVICE'))!;
  expect(header.split(/\s{2,}/)).toEqual(['SERVICE', 'BACKEND', 'STATE', 'WEIGHT', 'ACTIVE', 'TOTAL', 'FAILURES', 'P99 CONNECT', 'CHECK']);
  const row = (name: string) => lines.find((l) => l.startsWith('pg') && l.includes(name))!.trim().split(/\s{2,}/);
  expect(row('10.0.0.11:5432')).toEqual(['pg', '10.0.0.11:5432', 'up', '10', '4', '1234', '0', '0.84ms', 'pg primary; agent ready 75%']);
  expect(row('[::1]:5433')).toEqual(['pg', '[::1]:5433', 'draining', '4/10', '1', '1234', '3', '12.5ms', '-']);
  expect(row('spare')).toEqual(['pg', 'spare (10.0.0.13:5432)', 'up (backup)', '10', '0', '0', '0', '-', '-']);
  // A damped backend shows the hold left (rounded up to whole seconds).
  expect(row('flappy')).toEqual(['pg', 'flappy (10.0.0.14:5432)', 'damped (13s left)', '10', '0', '0', '0', '-', 'http 503']);
  // Columns line up: every table line has the STATE column at the same offset.
  const at = header.indexOf('STATE');
  for (const name of ['10.0.0.11:5432', '[::1]:5433', 'spare', 'flappy']) expect(lines.find((l) => l.includes(name))!.slice(at, at + 2)).toMatch(/^(up|dr|da)/);
  expect(r.stdout).toContain('pg: tcp 0.0.0.0:5432, least-conn, 5 active, 2468 accepted, rejected 2 (no_backend 2)\n');
  expect(r.stdout).toContain('dns: udp 127.0.0.1:53, source-hash, 4 sessions, 9 created, datagrams 100 in / 90 out, dropped 3 (acl 2, oversize 1)\n');
  expect(r.stdout).toContain('peer: not configured\n');
});

test('status --json prints the report; FULCRUM_ADMIN_URL sets the address', async () => {
  const { url } = await start();
  const r = await cli(['status', '--json'], { FULCRUM_ADMIN_URL: url });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual(report);
});

test('drain / enable / disable print the new state; names are URL-encoded on the way', async () => {
  const { url, calls } = await start();
  const drain = await cli(['drain', 'pg', '[::1]:5433', '--admin', url]);
  expect([drain.code, drain.stdout]).toEqual([0, 'pg/[::1]:5433: draining (1 active, weight 4/10)\n']);
  const disable = await cli(['disable', 'pg', '10.0.0.11:5432', '--admin', url]);
  expect(disable.stdout).toBe('pg/10.0.0.11:5432: disabled (4 active, weight 10)\n');
  expect((await cli(['enable', 'pg', '10.0.0.11:5432', '--admin', url])).stdout).toBe('pg/10.0.0.11:5432: up (4 active, weight 10)\n');
  expect(calls).toEqual([['pg', '[::1]:5433', 'drain'], ['pg', '10.0.0.11:5432', 'disable'], ['pg', '10.0.0.11:5432', 'enable']]);
});

test('weight sets the weight; a refused weight or unknown backend exits 1 with the server message; bad args exit 2', async () => {
  const { url, calls } = await start();
  const ok = await cli(['weight', 'pg', 'spare', '7', '--admin', url]);
  expect([ok.code, ok.stdout]).toEqual([0, 'pg/spare: up (0 active, weight 7)\n']);
  const range = await cli(['weight', 'pg', 'spare', '5000', '--admin', url]);
  expect([range.code, range.stderr]).toEqual([1, 'fulcrum: weight must be an integer 0..1000 (ERR_FULCRUM_BAD_REQUEST, HTTP 400) [ERR_FULCRUM_ADMIN]\n']);
  const missing = await cli(['drain', 'pg', 'nope', '--admin', url]);
  expect([missing.code, missing.stderr]).toEqual([1, 'fulcrum: service "pg" has no backend "nope" (ERR_FULCRUM_NOT_FOUND, HTTP 404) [ERR_FULCRUM_ADMIN]\n']);
  expect((await cli(['weight', 'pg', 'spare', 'lots', '--admin', url])).code).toBe(2);
  expect((await cli(['drain', 'pg', '--admin', url])).code).toBe(2);
  expect(calls).toEqual([['pg', 'spare', 'weight', 7], ['pg', 'spare', 'weight', 5000], ['pg', 'nope', 'drain']]);
});

test('with a token: --token or FULCRUM_ADMIN_TOKEN; without it exit 1 naming the 401', async () => {
  const { url } = await start({ token: 's3cret' });
  expect((await cli(['status', '--admin', url, '--token', 's3cret'])).code).toBe(0);
  expect((await cli(['status', '--admin', url], { FULCRUM_ADMIN_TOKEN: 's3cret' })).code).toBe(0);
  const denied = await cli(['status', '--admin', url]);
  expect(denied.code).toBe(1);
  expect(denied.stderr).toContain('ERR_FULCRUM_UNAUTHORIZED, HTTP 401');
});

test('an unreachable admin API exits 1 with a clear message', async () => {
  const port = await refusedPort();
  const r = await cli(['status', '--admin', `http://127.0.0.1:${port}`]);
  expect([r.code, r.stdout]).toEqual([1, '']);
  expect(r.stderr).toBe(`fulcrum: cannot reach the admin API at http://127.0.0.1:${port}: ECONNREFUSED [ERR_FULCRUM_ADMIN]\n`);
});
