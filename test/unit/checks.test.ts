import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAgentLine } from '../../src/manager/health/agent';
import { applyReport } from '../../src/manager/health/check-agent';
import { SingleWriter } from '../../src/manager/health/single-writer';
import { HostLoadReader, parseCpuTimes } from '../../src/agent/host-load';
import { agentLine, DEFAULT_POLICY, weightFor } from '../../src/agent/policy';
import { parseConfigText } from '../../src/config';
import { Backend, HealthFlag } from '../../src/pool/backend';
import { reasonNames } from '../../src/manager/backend-states';

describe('agent line parsing (HAProxy agent-check protocol)', () => {
  test.each([
    ['75%', { percent: 75 }],
    ['0%', { percent: 0 }],
    ['100%\r', { percent: 100 }],
    ['weight:30', { weight: 30 }],
    ['maxconn:250', { maxconn: 250 }],
    ['ready', { admin: 'ready' }],
    ['drain', { admin: 'drain' }],
    ['maint', { admin: 'maint' }],
    ['up', { operational: 'up' }],
    ['down', { operational: 'down' }],
    ['fail', { operational: 'down' }],
    ['stopped #service stopped by deploy', { operational: 'down', reason: 'service stopped by deploy' }],
    ['UP READY 50%', { operational: 'up', admin: 'ready', percent: 50 }],
    ['up,ready, 80%  maxconn:10', { operational: 'up', admin: 'ready', percent: 80, maxconn: 10 }],
    ['drain #disk 95% full', { admin: 'drain', reason: 'disk 95% full' }],
  ])('%j', (line, report) => {
    expect(parseAgentLine(line)).toEqual(report);
  });

  test.each(['', '   ', '#only a reason', 'hello', '150%', '-5%', '75', 'weight:2000', 'weight:', 'up sideways', 'maxconn:x', '50%%'])('garbage %j is null', (line) => {
    expect(parseAgentLine(line)).toBeNull();
  });
});

describe('applying an agent report to a backend', () => {
  const mk = () => new Backend({ address: { host: '127.0.0.1', port: 1, family: 4, text: '127.0.0.1:1' }, name: 'b', weight: 10, backup: false, maxConnections: 0 });
  function effects() {
    const calls = { weights: 0 };
    return {
      calls,
      update: (b: Backend, set: number, clear: number) => void (b.health = (b.health | set) & ~clear),
      weightsChanged: () => void calls.weights++,
    };
  }
  const apply = (b: Backend, line: string, fx = effects()) => applyReport(b, parseAgentLine(line)!, fx);

  test('the latest weight word wins; a repeat changes nothing', () => {
    const b = mk();
    const fx = effects();
    apply(b, '50%', fx);
    expect([b.effectiveWeight, fx.calls.weights]).toEqual([5, 1]);
    apply(b, '50%', fx);
    expect(fx.calls.weights).toBe(1);
    apply(b, 'weight:30', fx);
    expect(b.effectiveWeight).toBe(30);
    apply(b, '20%', fx);
    expect(b.effectiveWeight).toBe(2);
    b.rampFactor = 0.5; // slow start still applies on top
    expect(b.effectiveWeight).toBe(1);
  });

  test('drain and maint replace each other; ready clears both; down holds until up; a state word keeps the weight', () => {
    const b = mk();
    apply(b, 'drain 50%');
    expect(reasonNames(b.health)).toEqual(['agent_drain']);
    apply(b, 'maint');
    expect(reasonNames(b.health)).toEqual(['agent_maint']);
    apply(b, 'down');
    expect(b.health).toBe(HealthFlag.AgentMaint | HealthFlag.AgentDown);
    apply(b, 'ready');
    expect(reasonNames(b.health)).toEqual(['agent_down']);
    apply(b, 'up maxconn:7');
    expect([b.health, b.maxConnections, b.effectiveWeight]).toEqual([0, 7, 5]);
  });
});

test('single writer: the first passing backend holds the role until released', () => {
  const w = new SingleWriter<{ name: string }>();
  const a = { name: 'a' };
  const b = { name: 'b' };
  expect(w.claim(a)).toBeNull();
  expect(w.claim(b)).toBe(a);
  expect(w.claim(a)).toBeNull();
  w.release(b); // not the holder: nothing
  expect(w.current).toBe(a);
  w.release(a);
  expect(w.claim(b)).toBeNull();
});

describe('fulcrum agent: figures and thresholds', () => {
  test('weight stays 100% up to the CPU target, then falls linearly to minWeight', () => {
    expect([0, 70, 85, 100].map((c) => weightFor(c, DEFAULT_POLICY))).toEqual([100, 100, 55, 10]);
    expect(weightFor(100, { ...DEFAULT_POLICY, cpuTarget: 100 })).toBe(100);
  });

  test('drain below the memory floor or above the load bound, with the reason; ready otherwise', () => {
    const load = { cpuPercent: 85, memAvailablePercent: 40, load1: 1.5, cpus: 2 };
    expect(agentLine(load, DEFAULT_POLICY)).toBe('up ready 55% #cpu 85% mem 40% load 1.50/2');
    expect(agentLine({ ...load, memAvailablePercent: 3 }, DEFAULT_POLICY)).toBe('up drain 55% #mem 3% < 5%; cpu 85% mem 3% load 1.50/2');
    expect(agentLine({ ...load, load1: 5 }, DEFAULT_POLICY)).toBe('up drain 55% #load 2.50/cpu > 2; cpu 85% mem 40% load 5.00/2');
    expect(agentLine({ ...load, load1: 5 }, { ...DEFAULT_POLICY, loadMax: 0 })).toBe('up ready 55% #cpu 85% mem 40% load 5.00/2');
    // The weight follows the figure as shown (86.6 → "87%" → 49), never a hidden decimal (86.6 → 50).
    expect(agentLine({ ...load, cpuPercent: 86.6 }, DEFAULT_POLICY)).toBe('up ready 49% #cpu 87% mem 40% load 1.50/2');
    // What fulcrum reads back from it: a state, a weight and the figures as the reason.
    expect(parseAgentLine(agentLine(load, DEFAULT_POLICY))).toEqual({ operational: 'up', admin: 'ready', percent: 55, reason: 'cpu 85% mem 40% load 1.50/2' });
  });

  test('CPU use is the busy share between two readings of /proc/stat (idle + iowait count as idle)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-proc-'));
    const write = (user: number, idle: number, iowait = 0) =>
      fs.writeFileSync(path.join(dir, 'stat'), `cpu  ${user} 0 0 ${idle} ${iowait} 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\nintr 1\n`);
    fs.writeFileSync(path.join(dir, 'meminfo'), 'MemTotal:       1000000 kB\nMemFree:         100000 kB\nMemAvailable:    250000 kB\n');
    fs.writeFileSync(path.join(dir, 'loadavg'), '0.52 0.40 0.30 1/200 12345\n');
    try {
      write(1000, 9000);
      const reader = new HostLoadReader(dir);
      write(1100, 9900); // +100 busy of +1000: 10 %
      expect(reader.read()).toEqual({ cpuPercent: 10, memAvailablePercent: 25, load1: 0.52, cpus: 2 });
      write(1900, 10000, 100); // a burner: +800 busy of +1000
      expect(reader.read().cpuPercent).toBe(80);
      write(1900, 10000, 100); // no time passed: 0, not NaN
      expect(reader.read().cpuPercent).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => parseCpuTimes('intr 1\n')).toThrow('/proc/stat has no "cpu" line');
  });
});

describe('config: check types, agent, damping', () => {
  const base = 'services:\n  - name: a\n    listen: 127.0.0.1:1\n    backends: [{ address: 127.0.0.1:2 }]\n';
  const problems = (text: string, env: Record<string, string> = {}) => {
    try {
      parseConfigText(text, { env });
      return [];
    } catch (err) {
      return (err as { details: string[] }).details;
    }
  };

  test('defaults: tcp (no type key), no agent, no damping', () => {
    const s = parseConfigText(base).services[0];
    expect([s.health.type, s.health.damping, s.agent]).toEqual([undefined, undefined, undefined]);
  });

  test('each type normalizes its own settings, with defaults', () => {
    const svc = (health: string, env = {}) => parseConfigText(`${base}    health: ${health}\n`, { env }).services[0].health;
    expect(svc('{ type: http, path: /primary, port: 8008, expectStatus: 200 }')).toMatchObject({ type: 'http', port: 8008, http: { method: 'GET', path: '/primary', expectStatus: [200] } });
    expect(svc('{ type: http }').http).toEqual({ method: 'GET', path: '/', expectStatus: null });
    expect(svc('{ type: http, method: HEAD, expectStatus: [200, 204], expectBody: ok, host: db.example }').http).toEqual({ method: 'HEAD', path: '/', expectStatus: [200, 204], expectBody: 'ok', host: 'db.example' });
    expect(svc('{ type: redis, role: master, password: "${R}" }', { R: 'pw' }).redis).toEqual({ role: 'master', password: 'pw' });
    expect(svc('{ type: postgres }').postgres).toEqual({ role: 'any', user: 'postgres', database: 'postgres' });
    expect(svc('{ type: postgres, role: replica, user: f, database: d, password: p, maxLagBytes: 1048576 }').postgres).toEqual({ role: 'replica', user: 'f', database: 'd', password: 'p', maxLagBytes: 1048576 });
    expect(svc('{ damping: { changes: 3 } }').damping).toEqual({ changes: 3, window: 60_000, hold: 30_000, maxHold: 600_000 });
    expect(parseConfigText(`${base}    agent: { port: 9777 }\n`).services[0].agent).toEqual({ port: 9777, interval: 2000, timeout: 1000 });
  });

  test('keys of another type, roles of another type, a missing agent port and bad values are named', () => {
    expect(problems(`${base}    health: { type: redis, role: primary, path: /x, database: d, expectStatus: 700 }\n    agent: { interval: 1s, prt: 3 }\n`)).toEqual([
      'services[0].health.role: must be one of master, replica, any for type: redis (got "primary")',
      'services[0].health.path: only for type: http (this check is type: redis)',
      'services[0].health.database: only for type: postgres (this check is type: redis)',
      'services[0].health.expectStatus: must be an HTTP status (100..599) or a list of them (got 700)',
      'services[0].health.expectStatus: only for type: http (this check is type: redis)',
      'services[0].agent.prt: unknown key (did you mean "port"?)',
      "services[0].agent.port: is required (the port the backend host's agent listens on, e.g. 9777)",
    ]);
    expect(problems(`${base}    health: { type: pg, damping: { window: 0s, hlod: 1s } }\n`)).toEqual([
      'services[0].health.type: must be one of tcp, http, redis, postgres (got "pg")',
      'services[0].health.damping.window: must be more than 0 (got "0s")',
      'services[0].health.damping.hlod: unknown key (did you mean "hold"?)',
    ]);
    expect(problems(`${base}    health: { type: http, path: primary, proxyProtocol: true }\n`)).toEqual([
      'services[0].health.path: must start with "/" (got "primary")',
      'services[0].health.proxyProtocol: only for type: tcp',
    ]);
    expect(problems('services:\n  - { name: g, protocol: udp, listen: 127.0.0.1:1, backends: [{ address: 127.0.0.1:2 }], health: { type: http } }\n')).toEqual([
      'services[0].health.type: a http check of a udp service needs health.port (the TCP port it answers on)',
    ]);
    expect(problems(`${base}    health: { type: postgres, password: "\${PGPW}" }\n`)).toEqual(['services[0].health.password: environment variable PGPW is not set']);
  });
});
