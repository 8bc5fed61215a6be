import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { AdminServer } from '../../src/admin/server';
import type { AdminConfig } from '../../src/config/types';
import { FulcrumError } from '../../src/errors';
import type { BackendStatus, ControlPlane, Percentiles, ReloadReport, StatusReport } from '../../src/manager/status';
import { ep } from '../helpers/config';
import { listen, close as closeServer } from '../helpers/net';

const pct = (ms: number | null): Percentiles => ({ count: ms === null ? 0 : 10, p50: ms, p90: ms && ms * 2, p99: ms && ms * 4, p999: ms && ms * 8, max: ms && ms * 9 });

function backendStatus(name: string, address: string, extra: Partial<BackendStatus> = {}): BackendStatus {
  return { name, address, state: 'up', reasons: [], backup: false, weight: 10, effectiveWeight: 10, active: 2, total: 120, connectFailures: 3, bytesIn: 1000, bytesOut: 5000, health: null, connectTime: pct(1), ...extra };
}

const report: StatusReport = {
  version: '0.1.0',
  pid: 42,
  uptimeSeconds: 3725,
  configFile: '/etc/fulcrum.yaml',
  peer: null,
  services: [
    {
      name: 'pg', protocol: 'tcp', listen: '0.0.0.0:5432', balance: 'least-conn', active: 3, accepted: 250,
      rejected: { no_backend: 2, max_connections: 1 },
      backends: [
        backendStatus('10.0.0.11:5432', '10.0.0.11:5432'),
        backendStatus('replica', '[::1]:5433', { state: 'draining', reasons: ['draining'], effectiveWeight: 3, active: 1, total: 130, connectFailures: 0, bytesIn: 7, bytesOut: 9 }),
      ],
      connectTime: pct(2), sessionTime: pct(500), udp: null,
    },
    {
      name: 'cache', protocol: 'tcp', listen: '127.0.0.1:6379', balance: 'round-robin', active: 0, accepted: 0, rejected: {},
      backends: [backendStatus('127.0.0.1:7000', '127.0.0.1:7000', { state: 'down', reasons: ['failed_active_check'], active: 0, total: 0, connectFailures: 5, connectTime: pct(null) })],
      connectTime: pct(null), sessionTime: pct(null), udp: null,
    },
    {
      name: 'dns', protocol: 'udp', listen: '127.0.0.1:53', balance: 'source-hash', active: 4, accepted: 9, rejected: {},
      backends: [backendStatus('127.0.0.1:5353', '127.0.0.1:5353', { active: 4, total: 9 })],
      connectTime: pct(null), sessionTime: pct(3),
      udp: { sessions: 4, datagramsIn: 100, datagramsOut: 90, bytesIn: 4000, bytesOut: 9000, dropped: { acl: 2, oversize: 1 }, recvBufferSize: 212992, sendBufferSize: 212992 },
    },
  ],
};

/** A ControlPlane that records calls and answers from the canned report. */
function fakeControl() {
  const calls: unknown[][] = [];
  let reload: () => Promise<ReloadReport> = async () => ({ servicesAdded: ['web'], servicesRemoved: [], servicesChanged: ['pg'] });
  const find = (service: string, backend: string): BackendStatus => {
    const s = report.services.find((x) => x.name === service);
    if (!s) throw new FulcrumError('ERR_FULCRUM_NOT_FOUND', `no service "${service}"`);
    const b = s.backends.find((x) => x.name === backend);
    if (!b) throw new FulcrumError('ERR_FULCRUM_NOT_FOUND', `service "${service}" has no backend "${backend}"`);
    return b;
  };
  const control: ControlPlane = {
    status: () => report,
    backendAction(service, backend, action) {
      calls.push(['backendAction', service, backend, action]);
      const state = action === 'drain' ? 'draining' : action === 'disable' ? 'disabled' : 'up';
      return { ...find(service, backend), state };
    },
    setWeight(service, backend, weight) {
      calls.push(['setWeight', service, backend, weight]);
      const b = find(service, backend);
      if (!Number.isInteger(weight) || weight < 0 || weight > 1000) throw new FulcrumError('ERR_FULCRUM_BAD_REQUEST', 'weight must be an integer 0..1000');
      return { ...b, weight, effectiveWeight: weight };
    },
    reload: () => (calls.push(['reload']), reload()),
  };
  return { control, calls, onReload: (fn: () => Promise<ReloadReport>) => (reload = fn) };
}

interface Answer { status: number; headers: http.IncomingHttpHeaders; text: string; json: any }

function request(port: number, method: string, path: string, body?: string, headers: http.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends raw bytes and resolves with everything received until the server closes. */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
    let text = '';
    s.on('data', (d) => (text += d));
    s.on('close', () => resolve(text));
    s.on('error', reject);
  });
}

const servers: AdminServer[] = [];
const logLines: any[] = [];
const log = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, cb) => (logLines.push(JSON.parse(String(chunk))), cb()) }));

async function start(config: Partial<AdminConfig> = {}) {
  const fake = fakeControl();
  const server = new AdminServer(fake.control, { listen: ep(0), ...config }, log);
  servers.push(server);
  const bound = await server.listen();
  return { ...fake, server, port: bound.port };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const errorOf = (a: Answer) => a.json.error as { code: string; message: string; details: string[] };

test('GET /status: the report as pretty-printed JSON; HEAD works too', async () => {
  const { port } = await start();
  const a = await request(port, 'GET', '/status');
  expect(a.status).toBe(200);
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  expect(a.json).toEqual(report);
  expect(a.text).toContain('\n  "services": [');
  const head = await request(port, 'HEAD', '/status');
  expect([head.status, head.text]).toEqual([200, '']);
});

/** Prometheus text: `name{a="x",b="y"} value` per sample, `# TYPE name type` per metric. */
function parseProm(text: string) {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types[type[1]] = type[2];
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  const value = (name: string, labels: Record<string, string>) => {
    const hits = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
    return hits.length === 1 ? hits[0].value : `${hits.length} samples of ${name} ${JSON.stringify(labels)}`;
  };
  return { samples, types, value };
}

test('GET /metrics: every DESIGN.md metric with its labels and values from the report', async () => {
  const { port } = await start();
  const a = await request(port, 'GET', '/metrics');
  expect(a.status).toBe(200);
  expect(a.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const { types, value, samples } = parseProm(a.text);
  expect(types).toEqual({
    fulcrum_connections_total: 'counter', fulcrum_connections_active: 'gauge', fulcrum_connect_failures_total: 'counter',
    fulcrum_rejected_total: 'counter', fulcrum_bytes_total: 'counter', fulcrum_backend_up: 'gauge', fulcrum_backend_weight: 'gauge',
    fulcrum_accepted_total: 'counter', fulcrum_connect_seconds: 'summary', fulcrum_session_seconds: 'summary',
    fulcrum_udp_sessions: 'gauge', fulcrum_udp_datagrams_total: 'counter', fulcrum_udp_dropped_total: 'counter',
  });
  expect(value('fulcrum_udp_sessions', { service: 'dns' })).toBe(4);
  expect(value('fulcrum_udp_datagrams_total', { service: 'dns', direction: 'in' })).toBe(100);
  expect(value('fulcrum_udp_datagrams_total', { service: 'dns', direction: 'out' })).toBe(90);
  expect(value('fulcrum_udp_dropped_total', { service: 'dns', reason: 'acl' })).toBe(2);
  expect(value('fulcrum_udp_dropped_total', { service: 'dns', reason: 'oversize' })).toBe(1);
  const pg = (backend: string) => ({ service: 'pg', backend });
  expect(value('fulcrum_connections_total', pg('10.0.0.11:5432'))).toBe(120);
  expect(value('fulcrum_connections_total', pg('replica'))).toBe(130);
  expect(value('fulcrum_connections_active', pg('replica'))).toBe(1);
  expect(value('fulcrum_connect_failures_total', pg('10.0.0.11:5432'))).toBe(3);
  expect(value('fulcrum_connect_failures_total', { service: 'cache', backend: '127.0.0.1:7000' })).toBe(5);
  expect(value('fulcrum_rejected_total', { service: 'pg', reason: 'no_backend' })).toBe(2);
  expect(value('fulcrum_rejected_total', { service: 'pg', reason: 'max_connections' })).toBe(1);
  expect(value('fulcrum_bytes_total', { ...pg('replica'), direction: 'in' })).toBe(7);
  expect(value('fulcrum_bytes_total', { ...pg('replica'), direction: 'out' })).toBe(9);
  expect(value('fulcrum_backend_up', pg('10.0.0.11:5432'))).toBe(1);
  expect(value('fulcrum_backend_up', pg('replica'))).toBe(0);
  expect(value('fulcrum_backend_up', { service: 'cache', backend: '127.0.0.1:7000' })).toBe(0);
  expect(value('fulcrum_backend_weight', pg('replica'))).toBe(3);
  expect(value('fulcrum_accepted_total', { service: 'pg' })).toBe(250);
  expect(value('fulcrum_accepted_total', { service: 'cache' })).toBe(0);
  // pg connect: 2, 4, 8, 16 ms; session: 500 ms ... 4 s.
  expect(value('fulcrum_connect_seconds', { service: 'pg', quantile: '0.5' })).toBeCloseTo(0.002);
  expect(value('fulcrum_connect_seconds', { service: 'pg', quantile: '0.9' })).toBeCloseTo(0.004);
  expect(value('fulcrum_connect_seconds', { service: 'pg', quantile: '0.99' })).toBeCloseTo(0.008);
  expect(value('fulcrum_connect_seconds', { service: 'pg', quantile: '0.999' })).toBeCloseTo(0.016);
  expect(value('fulcrum_session_seconds', { service: 'pg', quantile: '0.999' })).toBeCloseTo(4);
  // Nothing recorded for cache: no quantile series rather than a fake 0.
  expect(samples.filter((s) => s.name.endsWith('_seconds') && s.labels.service === 'cache')).toEqual([]);
  expect(samples.filter((s) => s.name === 'fulcrum_connections_total')).toHaveLength(4);
});

test('POST drain/enable/disable: URL-decoded names reach the control plane; the new backend is returned', async () => {
  const { port, calls } = await start();
  const drained = await request(port, 'POST', `/services/pg/backends/${encodeURIComponent('10.0.0.11:5432')}/drain`);
  expect([drained.status, drained.json.state, drained.json.name]).toEqual([200, 'draining', '10.0.0.11:5432']);
  expect((await request(port, 'POST', '/services/pg/backends/10.0.0.11:5432/disable')).json.state).toBe('disabled');
  expect((await request(port, 'POST', '/services/pg/backends/replica/enable/')).json.state).toBe('up');
  expect(calls).toEqual([
    ['backendAction', 'pg', '10.0.0.11:5432', 'drain'],
    ['backendAction', 'pg', '10.0.0.11:5432', 'disable'],
    ['backendAction', 'pg', 'replica', 'enable'],
  ]);
  const audit = logLines.filter((l) => l.msg === 'admin request' && l.path === '/services/pg/backends/10.0.0.11:5432/disable');
  expect(audit).toEqual([expect.objectContaining({ level: 30, method: 'POST', status: 200, remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })]);
});

test('PUT weight: {"weight": N}; 400 for bad JSON, a non-number, or a weight the control plane refuses', async () => {
  const { port, calls } = await start();
  const ok = await request(port, 'PUT', '/services/pg/backends/replica/weight', '{"weight": 5}', { 'content-type': 'application/json' });
  expect([ok.status, ok.json.weight, ok.json.effectiveWeight]).toEqual([200, 5, 5]);
  for (const body of ['{"weight": ', '', '[]', '{"weight": "5"}', '{"w": 5}', 'null']) {
    const bad = await request(port, 'PUT', '/services/pg/backends/replica/weight', body);
    expect([body, bad.status, errorOf(bad).code]).toEqual([body, 400, 'ERR_FULCRUM_BAD_REQUEST']);
  }
  const range = await request(port, 'PUT', '/services/pg/backends/replica/weight', '{"weight": 5000}');
  expect([range.status, errorOf(range).message]).toEqual([400, 'weight must be an integer 0..1000']);
  expect(calls).toEqual([['setWeight', 'pg', 'replica', 5], ['setWeight', 'pg', 'replica', 5000]]);
});

test('404: unknown service or backend (NOT_FOUND) and unknown routes; 400: bad percent-encoding', async () => {
  const { port } = await start();
  const svc = await request(port, 'POST', '/services/nope/backends/x/drain');
  expect([svc.status, errorOf(svc)]).toEqual([404, { code: 'ERR_FULCRUM_NOT_FOUND', message: 'no service "nope"', details: [] }]);
  const be = await request(port, 'PUT', `/services/pg/backends/${encodeURIComponent('[::1]:80')}/weight`, '{"weight":1}');
  expect([be.status, errorOf(be).message]).toEqual([404, 'service "pg" has no backend "[::1]:80"']);
  for (const path of ['/', '/nope', '/status/extra', '/services/pg/backends/x/explode', '/services/pg']) {
    const a = await request(port, 'GET', path);
    expect([path, a.status, errorOf(a).code]).toEqual([path, 404, 'ERR_FULCRUM_BAD_REQUEST']);
  }
  const enc = await request(port, 'POST', '/services/pg/backends/%E0%A4%A/drain');
  expect([enc.status, errorOf(enc).code]).toEqual([400, 'ERR_FULCRUM_BAD_REQUEST']);
});

test('405 with an Allow header for a known route and the wrong method', async () => {
  const { port, calls } = await start();
  const cases: Array<[string, string, string]> = [['GET', '/reload', 'POST'], ['POST', '/status', 'GET'], ['DELETE', '/metrics', 'GET'], ['GET', '/services/pg/backends/replica/drain', 'POST'], ['POST', '/services/pg/backends/replica/weight', 'PUT']];
  for (const [method, path, allow] of cases) {
    const a = await request(port, method, path);
    expect([method, path, a.status, a.headers.allow, errorOf(a).code]).toEqual([method, path, 405, allow, 'ERR_FULCRUM_BAD_REQUEST']);
  }
  expect(calls).toEqual([]);
});

test('413 for a body over 64 KiB, declared or streamed; the server keeps serving', async () => {
  const { port } = await start();
  const declared = await raw(port, 'PUT /services/pg/backends/replica/weight HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
  expect(declared).toMatch(/^HTTP\/1\.1 413 /);
  expect(declared).toContain('ERR_FULCRUM_BAD_REQUEST');
  const big = `{"weight": 1, "pad": "${'x'.repeat(70 * 1024)}"}`;
  const streamed = await raw(port, `PUT /services/pg/backends/replica/weight HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`);
  expect(streamed).toMatch(/^HTTP\/1\.1 413 /);
  expect((await request(port, 'GET', '/status')).status).toBe(200);
});

test('malformed HTTP gets a 400 and the server keeps serving', async () => {
  const { port } = await start();
  expect(await raw(port, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  expect((await request(port, 'GET', '/status')).status).toBe(200);
});

test('POST /reload: 200 with the report; 400 with field-path details; 409 without a config file; 500 on a bug', async () => {
  const { port, onReload } = await start();
  const ok = await request(port, 'POST', '/reload');
  expect([ok.status, ok.json]).toEqual([200, { servicesAdded: ['web'], servicesRemoved: [], servicesChanged: ['pg'] }]);
  const details = ['services[0].backends[1].address: "10.0.0.1" has no port', 'services[1].balance: unknown algorithm'];
  onReload(async () => { throw new FulcrumError('ERR_FULCRUM_CONFIG', 'invalid configuration (2 problems)', details); });
  const bad = await request(port, 'POST', '/reload');
  expect([bad.status, bad.json]).toEqual([400, { error: { code: 'ERR_FULCRUM_CONFIG', message: 'invalid configuration (2 problems)', details } }]);
  onReload(async () => { throw new FulcrumError('ERR_FULCRUM_CONFIG_READ', 'cannot read fulcrum.yaml: ENOENT'); });
  expect((await request(port, 'POST', '/reload')).status).toBe(400);
  onReload(async () => { throw new FulcrumError('ERR_FULCRUM_RELOAD_UNAVAILABLE', 'no config file to reload (quick mode)'); });
  const unavailable = await request(port, 'POST', '/reload');
  expect([unavailable.status, errorOf(unavailable).code]).toEqual([409, 'ERR_FULCRUM_RELOAD_UNAVAILABLE']);
  onReload(async () => { throw new TypeError('boom'); });
  const bug = await request(port, 'POST', '/reload');
  expect([bug.status, errorOf(bug).message]).toEqual([500, 'internal error: boom']);
  expect((await request(port, 'GET', '/status')).status).toBe(200);
});

test('with a token: 401 (WWW-Authenticate: Bearer) when missing or wrong, on every route; 200 with it', async () => {
  const { port, calls, server } = await start({ token: 's3cret' });
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret' }, { authorization: 'Basic czNjcmV0' }]) {
    for (const [method, path] of [['GET', '/status'], ['GET', '/metrics'], ['POST', '/reload'], ['GET', '/no-such-route']]) {
      const a = await request(port, method, path, undefined, headers);
      expect([method, path, a.status, a.headers['www-authenticate'], errorOf(a).code]).toEqual([method, path, 401, 'Bearer realm="fulcrum"', 'ERR_FULCRUM_UNAUTHORIZED']);
    }
  }
  expect(calls).toEqual([]);
  expect((await request(port, 'GET', '/status', undefined, { authorization: 'Bearer s3cret' })).status).toBe(200);
  expect((await request(port, 'POST', '/services/pg/backends/replica/drain', undefined, { authorization: 'bearer s3cret' })).status).toBe(200);
  server.setToken('n3w');
  expect((await request(port, 'GET', '/status', undefined, { authorization: 'Bearer s3cret' })).status).toBe(401);
  expect((await request(port, 'GET', '/status', undefined, { authorization: 'Bearer n3w' })).status).toBe(200);
});

test('a non-loopback address without a token is refused before binding; with a token it binds', async () => {
  const refused = new AdminServer(fakeControl().control, { listen: ep(0, '0.0.0.0') }, log);
  servers.push(refused);
  await expect(refused.listen()).rejects.toMatchObject({
    code: 'ERR_FULCRUM_CONFIG',
    details: ['admin.listen: 0.0.0.0:0 is not a loopback address; set admin.token to expose the admin API'],
  });
  const withToken = await start({ listen: ep(0, '0.0.0.0'), token: 's3cret' });
  expect(withToken.port).toBeGreaterThan(0);
  // Removing the token of a public admin API on reload is refused too.
  withToken.server.setToken(undefined);
  expect((await request(withToken.port, 'GET', '/status')).status).toBe(401);
});

test('a taken port fails with ERR_FULCRUM_LISTEN naming the address', async () => {
  const taken = net.createServer();
  const port = await listen(taken);
  try {
    const server = new AdminServer(fakeControl().control, { listen: ep(port) }, log);
    await expect(server.listen()).rejects.toMatchObject({ code: 'ERR_FULCRUM_LISTEN', message: expect.stringContaining(`127.0.0.1:${port}: EADDRINUSE`) });
  } finally {
    await closeServer(taken);
  }
});

test('close() is prompt with an idle keep-alive connection open', async () => {
  const { port, server } = await start();
  const agent = new http.Agent({ keepAlive: true });
  const idle = await new Promise<http.IncomingMessage>((resolve) => http.get({ host: '127.0.0.1', port, path: '/status', agent }, resolve));
  idle.resume();
  await new Promise((r) => idle.on('end', r));
  const t0 = Date.now();
  await server.close();
  expect(Date.now() - t0).toBeLessThan(1000);
  agent.destroy();
  // Never listened: nothing to close.
  await expect(new AdminServer(fakeControl().control, { listen: ep(0) }, log).close()).resolves.toBeUndefined();
});

test('fake control plane errors thrown synchronously from status() become a 500, not a crash', async () => {
  const { port, control } = await start();
  const status = control.status;
  control.status = () => { throw new Error('status broke'); };
  try {
    expect((await request(port, 'GET', '/metrics')).status).toBe(500);
  } finally {
    control.status = status;
  }
});
