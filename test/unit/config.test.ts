import { resolveWorkers, workersProblem } from '../../src/workers/count';
import { reusePortSupported } from '../../src/proxy/reuse-port';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isFulcrumError } from '../../src/errors';
import {
  formatPath,
  loadConfigFile,
  parseConfigText,
  parseDuration,
  parseEndpoint,
  substituteEnv,
  validateConfig,
} from '../../src/config';
import { thrown } from '../helpers/thrown';
import type { FulcrumConfig } from '../../src/config';

/** The "path: reason" lines for a YAML text. */
function problems(yaml: string, env: Record<string, string> = {}): readonly string[] {
  const err = thrown(() => parseConfigText(yaml, { env }));
  expect(err.code).toBe('ERR_FULCRUM_CONFIG');
  return err.details;
}

const ONE_SERVICE = `
services:
  - name: app
    listen: 127.0.0.1:8000
    backends:
      - address: 10.0.0.1:80
`;

describe('parseDuration', () => {
  test.each([
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['0s', 0],
    ['0ms', 0],
    ['1m30s', 90_000],
    [' 5s ', 5000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each([
    ['30', /"30" has no unit: add one of ms, s, m, h/],
    ['1.5', /has no unit/],
    ['-1s', /negative/],
    ['-5', /negative/],
    ['NaN', /is not a duration/],
    ['abc', /is not a duration/],
    ['', /is empty/],
    ['s', /is not a duration/],
    ['1d', /unknown unit "d"/],
    ['5 sec', /unknown unit "sec"/],
    ['0.5ms', /finer than a millisecond/],
    ['1000h', /too long/],
  ])('%j is refused', (text, reason) => {
    expect(() => parseDuration(text)).toThrow(reason);
  });
});

describe('parseEndpoint', () => {
  test('IPv4 is kept as written', () => {
    expect(parseEndpoint('1.2.3.4:80')).toEqual({ host: '1.2.3.4', port: 80, family: 4, text: '1.2.3.4:80' });
  });

  test('IPv6 is compressed, lowercased and bracketed', () => {
    expect(parseEndpoint('[::1]:80')).toEqual({ host: '::1', port: 80, family: 6, text: '[::1]:80' });
    expect(parseEndpoint('[2001:DB8:0:0:0:0:0:1]:5432')).toEqual({
      host: '2001:db8::1',
      port: 5432,
      family: 6,
      text: '[2001:db8::1]:5432',
    });
    expect(parseEndpoint('[::ffff:10.0.0.1]:80').text).toBe('[::ffff:10.0.0.1]:80');
  });

  test('missing port', () => {
    expect(() => parseEndpoint('10.0.0.1')).toThrow(/^"10.0.0.1" has no port$/);
    expect(() => parseEndpoint('[::1]')).toThrow(/^"\[::1\]" has no port$/);
    expect(() => parseEndpoint('10.0.0.1:')).toThrow(/has no port/);
  });

  test('port range; port 0 only where allowed', () => {
    expect(() => parseEndpoint('10.0.0.1:0')).toThrow(/port 0 is out of range 1..65535/);
    expect(() => parseEndpoint('10.0.0.1:65536')).toThrow(/port 65536 is out of range 1..65535/);
    expect(() => parseEndpoint('10.0.0.1:http')).toThrow(/port "http" is not a number/);
    expect(parseEndpoint('10.0.0.1:65535').port).toBe(65535);
    expect(parseEndpoint('0.0.0.0:0', { allowPortZero: true }).port).toBe(0);
    expect(() => parseEndpoint('0.0.0.0:65536', { allowPortZero: true })).toThrow(/out of range 0..65535/);
  });

  test('hostnames are refused: no DNS', () => {
    expect(() => parseEndpoint('db.example.com:5432')).toThrow(/is a hostname; only IP addresses are allowed here/);
    expect(() => parseEndpoint('localhost:80')).toThrow(/use 127.0.0.1 or \[::1\]/);
  });

  test('IPv6 without brackets', () => {
    expect(() => parseEndpoint('::1')).toThrow(/IPv6 addresses must be in brackets/);
    expect(() => parseEndpoint('2001:db8::1:5432')).toThrow(/e\.g\. "\[2001:db8::1\]:5432"/);
  });

  test('other malformed addresses', () => {
    expect(() => parseEndpoint('[1.2.3.4]:80')).toThrow(/brackets are only for IPv6/);
    expect(() => parseEndpoint('01.2.3.4:80')).toThrow(/not a valid IPv4 address/);
    expect(() => parseEndpoint('1.2.3:80')).toThrow(/not a valid IPv4 address/);
    expect(() => parseEndpoint('10.0.0.0/8:80')).toThrow(/not a valid IPv4 address/);
    expect(() => parseEndpoint('[::1/64]:80')).toThrow(/not a valid IPv6 address/);
    expect(() => parseEndpoint('[::1')).toThrow(/without a closing/);
    expect(() => parseEndpoint(':80')).toThrow(/has no IP address/);
    expect(() => parseEndpoint('')).toThrow(/is empty/);
  });
});

describe('substituteEnv', () => {
  test('replaces ${VAR} in every string, recursively, without touching the input', () => {
    const input = { a: 'x-${A}-y', list: [{ b: '${B}' }, 3, true, null], key: { '${A}': 'plain' } };
    const { value, problems: found } = substituteEnv(input, { A: 'one', B: '' });
    expect(found).toEqual([]);
    expect(value).toEqual({ a: 'x-one-y', list: [{ b: '' }, 3, true, null], key: { '${A}': 'plain' } });
    expect(input.a).toBe('x-${A}-y');
  });

  test('a missing variable is a problem naming the path and the variable', () => {
    const { problems: found } = substituteEnv({ admin: { token: '${FULCRUM_ADMIN_TOKEN}' } }, {});
    expect(found).toEqual([
      { path: ['admin', 'token'], reason: 'environment variable FULCRUM_ADMIN_TOKEN is not set' },
    ]);
  });

  test('$${ is a literal ${', () => {
    expect(substituteEnv('pa$${ss}${A}', { A: '!' }).value).toBe('pa${ss}!');
  });

  test('malformed references are problems', () => {
    expect(substituteEnv('${A', {}).problems[0]?.reason).toMatch(/unclosed/);
    expect(substituteEnv('${A:-x}', {}).problems[0]?.reason).toMatch(/not a valid variable reference/);
  });

  test('in a config file, the missing variable is reported once, at its field', () => {
    const yaml = ONE_SERVICE.replace('127.0.0.1:8000', '"${LISTEN}"');
    expect(problems(yaml)).toEqual(['services[0].listen: environment variable LISTEN is not set']);
    const config = parseConfigText(yaml, { env: { LISTEN: '127.0.0.1:9000' } });
    expect(config.services[0]?.listen.text).toBe('127.0.0.1:9000');
  });
});

const UDP_DEFAULTS = {
  idleTimeout: 60_000,
  maxSessions: 65_536,
  maxSessionsPerSource: 0,
  maxDatagram: 65_507,
  responses: 0,
  maxReplyRatio: 0,
  amplificationLimit: 3,
  onBackendDown: 'reassign' as const,
  allowPrivilegedSources: false,
};

describe('a full config', () => {
  const FULL = `
log: { level: debug, connections: true }
shutdownTimeout: 10s
services:
  - name: pg
    protocol: tcp                 # tcp | udp
    listen: 0.0.0.0:5432
    balance: round-robin
    backends:
      - { address: 10.0.0.11:5432, weight: 10 }
      - { address: 10.0.0.12:5432, weight: 10, name: pg-2 }
      - { address: 10.0.0.13:5432, backup: true, maxConnections: 0 }
    timeouts: { connect: 2s, idle: 0s }
    retries: 0
    maxConnections: 100
  - name: game
    listen: "[::]:7777"
    backends:
      - address: "[2001:db8::10]:7777"
  - name: cache
    listen: 127.0.0.1:0
    backends: [{ address: 10.0.0.21:6379 }]
`;

  test('parses with every default filled in', () => {
    const ep = (host: string, port: number, family: 4 | 6 = 4) => ({
      host,
      port,
      family,
      text: family === 6 ? `[${host}]:${port}` : `${host}:${port}`,
    });
    const expected: FulcrumConfig = {
      log: { level: 'debug', connections: true },
      shutdownTimeout: 10_000,
      workers: 'auto',
      admin: { listen: ep('127.0.0.1', 9090) },
      peer: null,
      services: [
        {
          name: 'pg',
          protocol: 'tcp',
          listen: ep('0.0.0.0', 5432),
          balance: 'round-robin',
          backends: [
            { address: ep('10.0.0.11', 5432), name: '10.0.0.11:5432', weight: 10, backup: false, maxConnections: 0 },
            { address: ep('10.0.0.12', 5432), name: 'pg-2', weight: 10, backup: false, maxConnections: 0 },
            { address: ep('10.0.0.13', 5432), name: '10.0.0.13:5432', weight: 1, backup: true, maxConnections: 0 },
          ],
          timeouts: { connect: 2000, idle: 0, halfClose: 60_000, maxLifetime: 0, proxyHeader: 3000 },
          retries: 0,
          maxConnections: 100,
          health: { enabled: true, interval: 2000, timeout: 1000, rise: 2, fall: 3, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false },
          slowStart: 0,
          drainTimeout: 300_000,
          onBackendDown: 'keep',
          allow: [],
          deny: [],
          perSource: null,
          proxyProtocol: null,
          acceptProxy: [],
          udp: UDP_DEFAULTS,
          defaultedCaps: [],
        },
        {
          name: 'game',
          protocol: 'tcp',
          listen: ep('::', 7777, 6),
          balance: 'least-conn',
          backends: [{ address: ep('2001:db8::10', 7777, 6), name: '[2001:db8::10]:7777', weight: 1, backup: false, maxConnections: 0 }],
          timeouts: { connect: 5000, idle: 3_600_000, halfClose: 60_000, maxLifetime: 0, proxyHeader: 3000 },
          retries: 2,
          maxConnections: 10000,
          health: { enabled: true, interval: 2000, timeout: 1000, rise: 2, fall: 3, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false },
          slowStart: 0,
          drainTimeout: 300_000,
          onBackendDown: 'keep',
          allow: [],
          deny: [],
          perSource: null,
          proxyProtocol: null,
          acceptProxy: [],
          udp: UDP_DEFAULTS,
          defaultedCaps: ['maxConnections'],
        },
        {
          name: 'cache',
          protocol: 'tcp',
          listen: ep('127.0.0.1', 0),
          balance: 'least-conn',
          backends: [{ address: ep('10.0.0.21', 6379), name: '10.0.0.21:6379', weight: 1, backup: false, maxConnections: 0 }],
          timeouts: { connect: 5000, idle: 3_600_000, halfClose: 60_000, maxLifetime: 0, proxyHeader: 3000 },
          retries: 2,
          maxConnections: 10000,
          health: { enabled: true, interval: 2000, timeout: 1000, rise: 2, fall: 3, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false },
          slowStart: 0,
          drainTimeout: 300_000,
          onBackendDown: 'keep',
          allow: [],
          deny: [],
          perSource: null,
          proxyProtocol: null,
          acceptProxy: [],
          udp: UDP_DEFAULTS,
          defaultedCaps: ['maxConnections'],
        },
      ],
    };
    expect(parseConfigText(FULL, { env: {} })).toEqual(expected);
  });

  test('top-level defaults', () => {
    const config = parseConfigText(ONE_SERVICE, { env: {} });
    expect(config.log).toEqual({ level: 'info', connections: false });
    expect(config.shutdownTimeout).toBe(30_000);
    expect(config.services[0]?.balance).toBe('least-conn');
    expect(config.workers).toBe('auto');
  });

  test('workers: auto or 1..256; above 1 needs reusePort (Node 22.12+), said with the version', () => {
    const parse = (workers: unknown) => thrown(() => parseConfigText(`${ONE_SERVICE}\nworkers: ${JSON.stringify(workers)}\n`, { env: {} }));
    for (const bad of [0, 257, 1.5, 'many']) expect(parse(bad).details).toEqual([expect.stringMatching(/^workers: must be auto or an integer between 1 and 256/)]);
    expect(workersProblem(2, '20.20.2')).toMatch(/must be 1 or auto on Node 20\.20\.2: 2 workers need SO_REUSEPORT.*22\.12/);
    expect(workersProblem(1, '20.20.2')).toBeNull();
    expect(workersProblem('auto', '20.20.2')).toBeNull();
    expect(workersProblem(8, '22.12.0')).toBeNull();
    expect(resolveWorkers('auto', '20.20.2')).toBe(1);
    expect(resolveWorkers('auto', '24.11.0')).toBe(os.availableParallelism());
    expect(resolveWorkers(undefined)).toBe(1);
    expect(resolveWorkers(3, '24.11.0')).toBe(3);
    if (!reusePortSupported()) expect(parse(2).details).toEqual([expect.stringContaining(`workers: must be 1 or auto on Node ${process.versions.node}`)]);
    else expect(parseConfigText(`${ONE_SERVICE}\nworkers: 2\n`, { env: {} }).workers).toBe(2);
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-config-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  test('a JSON file', () => {
    const file = write(
      'fulcrum.json',
      JSON.stringify({
        shutdownTimeout: '5s',
        services: [{ name: 'json', listen: '127.0.0.1:7000', backends: [{ address: '127.0.0.1:7001', weight: 3 }] }],
      }),
    );
    const config = loadConfigFile(file, {});
    expect(config.shutdownTimeout).toBe(5000);
    expect(config.services[0]?.backends[0]?.weight).toBe(3);
  });

  test('a YAML file, with ${VAR} from the given env', () => {
    const file = write('fulcrum.yaml', ONE_SERVICE.replace('10.0.0.1:80', '"10.0.0.1:${PORT}"'));
    expect(loadConfigFile(file, { PORT: '81' }).services[0]?.backends[0]?.address.port).toBe(81);
  });

  test('a YAML syntax error names the file, line and column', () => {
    const file = write('broken.yaml', 'services:\n  - name: a\n    listen: [1, 2\n    backends: []\n');
    const err = thrown(() => loadConfigFile(file, {}));
    expect(err.code).toBe('ERR_FULCRUM_CONFIG_READ');
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/line \d+, column \d+/);
  });

  test('unquoted IPv6 in YAML gets a hint', () => {
    const err = thrown(() => parseConfigText('services:\n  - listen: [::1]:80\n', { env: {} }));
    expect(err.code).toBe('ERR_FULCRUM_CONFIG_READ');
    expect(err.message).toMatch(/line 2, column \d+: .*IPv6 addresses must be quoted/);
  });

  test('duplicate YAML keys are syntax errors', () => {
    const err = thrown(() => parseConfigText('log: {}\nlog: {}\n', { env: {} }));
    expect(err.code).toBe('ERR_FULCRUM_CONFIG_READ');
    expect(err.message).toMatch(/line 2, column 1/);
  });

  test('a JSON syntax error', () => {
    const file = write('broken.json', '{\n  "services": [\n    {"name": "a",}\n  ]\n}\n');
    const err = thrown(() => loadConfigFile(file, {}));
    expect(err.code).toBe('ERR_FULCRUM_CONFIG_READ');
    expect(err.message).toMatch(/as JSON: line 3, column 18/);
  });

  test('a missing file', () => {
    const err = thrown(() => loadConfigFile(path.join(dir, 'nope.yaml'), {}));
    expect(err.code).toBe('ERR_FULCRUM_CONFIG_READ');
    expect(err.message).toMatch(/cannot read config file .*nope\.yaml/);
  });

  test('validation errors from a file name the file', () => {
    const file = write('invalid.yaml', ONE_SERVICE.replace('10.0.0.1:80', '10.0.0.1'));
    const err = thrown(() => loadConfigFile(file, {}));
    expect(err.message).toBe(`invalid configuration in ${file} (1 problem)`);
    expect(err.details).toEqual(['services[0].backends[0].address: "10.0.0.1" has no port']);
  });
});

describe('problems', () => {
  test('formatPath', () => {
    expect(formatPath(['services', 0, 'backends', 1, 'address'])).toBe('services[0].backends[1].address');
    expect(formatPath([])).toBe('(root)');
    expect(formatPath(['services', 0, 'a key'])).toBe('services[0]["a key"]');
  });

  test('nested path and reason', () => {
    const yaml = `
services:
  - name: a
    listen: 0.0.0.0:80
    backends:
      - address: 10.0.0.2:80
      - address: 10.0.0.1
`;
    const err = thrown(() => parseConfigText(yaml, { env: {} }));
    expect(isFulcrumError(err, 'ERR_FULCRUM_CONFIG')).toBe(true);
    expect(err.message).toBe('invalid configuration (1 problem)');
    expect(err.details).toEqual(['services[0].backends[1].address: "10.0.0.1" has no port']);
  });

  test('unknown keys at every level, with a hint when one is close', () => {
    const yaml = `
lgo: {}
log: { level: info, colour: true }
services:
  - name: a
    listn: 0.0.0.0:80
    backends:
      - { address: 10.0.0.1:80, wieght: 2 }
    timeouts: { connect: 1s, read: 1s }
`;
    expect(problems(yaml)).toEqual([
      'lgo: unknown key (did you mean "log"?)',
      'log.colour: unknown key',
      'services[0].listn: unknown key (did you mean "listen"?)',
      'services[0].backends[0].wieght: unknown key (did you mean "weight"?)',
      'services[0].timeouts.read: unknown key',
      'services[0].listen: is required',
    ]);
  });

  test('peer: defaults, required key, and field checks', () => {
    const svc = `services: [{ name: a, listen: 127.0.0.1:0, backends: [{ address: 10.0.0.1:80 }] }]\n`;
    const ok = parseConfigText(`peer: { id: lb-a, listen: 127.0.0.1:7946, peers: [127.0.0.2:7946], key: "\${K}" }\n${svc}`, { env: { K: 'a-long-enough-shared-key' } });
    expect(ok.peer).toMatchObject({
      id: 'lb-a', priority: 100, key: 'a-long-enough-shared-key', advertInterval: 100, preempt: true, preemptDelay: 0,
      standby: 'closed', hookTimeout: 10_000, maxSkew: 2000, listen: { text: '127.0.0.1:7946' }, peers: [{ text: '127.0.0.2:7946' }],
    });
    expect(parseConfigText(svc, { env: {} }).peer).toBeNull();
    expect(problems(`peer: { id: lb-a, priority: 300, listen: 127.0.0.1:7946, peers: [], key: short }\n${svc}`)).toEqual([
      'peer.priority: must be an integer between 1 and 255 (got 300)',
      'peer.peers: must list at least one peer',
      'peer.key: must be a string of at least 16 characters (use "${FULCRUM_PEER_KEY}")',
    ]);
    expect(problems(`peer: { id: lb-a, listen: 127.0.0.1:7946, peers: [127.0.0.2:7946] }\n${svc}`)).toEqual([
      'peer.key: is required: heartbeats are authenticated with HMAC-SHA256 under this key',
    ]);
  });


  test('admin: defaults, off switch, token, and no exposure without a token', () => {
    const svc = `services: [{ name: a, listen: 127.0.0.1:0, backends: [{ address: 10.0.0.1:80 }] }]\n`;
    expect(parseConfigText(svc, { env: {} }).admin).toEqual({ listen: { host: '127.0.0.1', port: 9090, family: 4, text: '127.0.0.1:9090' } });
    expect(parseConfigText(`admin: { enabled: false }\n${svc}`, { env: {} }).admin).toBeNull();
    const withToken = parseConfigText(`admin: { listen: 0.0.0.0:9090, token: "\${T}" }\n${svc}`, { env: { T: 's3cret' } });
    expect(withToken.admin).toMatchObject({ token: 's3cret', listen: { text: '0.0.0.0:9090' } });
    expect(problems(`admin: { listen: 0.0.0.0:9090 }\n${svc}`)).toEqual([
      'admin.listen: 0.0.0.0:9090 is not a loopback address; set admin.token to expose the admin API',
    ]);
    expect(parseConfigText(`admin: { listen: "[::1]:9090" }\n${svc}`, { env: {} }).admin?.listen.text).toBe('[::1]:9090');
    expect(problems(`admin: { lisen: 127.0.0.1:1 }\n${svc}`)).toEqual(['admin.lisen: unknown key (did you mean "listen"?)']);
  });

  test('admission keys: allow/deny/acceptProxy CIDRs, perSource, proxyProtocol, timeouts', () => {
    const base = `services:\n  - name: a\n    listen: 127.0.0.1:0\n    backends: [{ address: 10.0.0.1:80, maxConnections: 5, proxyProtocol: none }]\n`;
    const d = parseConfigText(base, { env: {} }).services[0]!;
    expect([d.allow, d.deny, d.acceptProxy, d.perSource, d.proxyProtocol]).toEqual([[], [], [], null, null]);
    expect(d.timeouts).toEqual({ connect: 5000, idle: 3_600_000, halfClose: 60_000, maxLifetime: 0, proxyHeader: 3000 });
    expect(d.backends[0]).toMatchObject({ maxConnections: 5, proxyProtocol: 'none' });
    const full = parseConfigText(
      `${base}    allow: [10.0.0.0/8, "2001:db8::/32"]\n    deny: [10.9.9.9]\n    acceptProxy: [192.0.2.0/24]\n    proxyProtocol: v2\n    perSource: { maxConnections: 10, ratePerSecond: 5 }\n    timeouts: { halfClose: 10s, maxLifetime: 1h, proxyHeader: 1s }\n`,
      { env: {} },
    ).services[0]!;
    expect(full.allow.map((c) => c.text)).toEqual(['10.0.0.0/8', '2001:db8::/32']);
    expect(full.deny.map((c) => c.text)).toEqual(['10.9.9.9/32']);
    expect(full.acceptProxy.map((c) => c.text)).toEqual(['192.0.2.0/24']);
    expect(full.proxyProtocol).toBe('v2');
    expect(full.perSource).toEqual({ maxConnections: 10, ratePerSecond: 5, tableSize: 100_000 });
    expect(full.timeouts).toMatchObject({ halfClose: 10_000, maxLifetime: 3_600_000, proxyHeader: 1000 });
    expect(problems(`${base}    perSource: { burst: 5 }\n`)).toEqual([
      'services[0].perSource.burst: needs perSource.ratePerSecond (burst is the size of the rate limit bucket)',
    ]);
    const bad = problems(`${base}    allow: [10.0.0.0/33, bogus]\n    proxyProtocol: v3\n    perSource: { maxConections: 1 }\n`);
    expect(bad[0]).toMatch(/^services\[0\]\.allow: .*10\.0\.0\.0\/33.*bogus/);
    expect(bad.slice(1)).toEqual([
      'services[0].proxyProtocol: must be one of v1, v2 (got "v3")',
      'services[0].perSource.maxConections: unknown key (did you mean "maxConnections"?)',
    ]);
  });

  test('health, slow start, drain and onBackendDown: defaults and checks', () => {
    const base = `services:\n  - name: a\n    listen: 127.0.0.1:0\n    backends: [{ address: 10.0.0.1:80 }]\n`;
    const s = parseConfigText(base, { env: {} }).services[0]!;
    expect(s.health).toEqual({ enabled: true, interval: 2000, timeout: 1000, rise: 2, fall: 3, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false });
    expect([s.slowStart, s.drainTimeout, s.onBackendDown]).toEqual([0, 300_000, 'keep']);
    const custom = parseConfigText(
      `${base}    health: { interval: 500ms, timeout: 200ms, rise: 1, fall: 2, port: 8080, passiveFailures: 0 }\n    slowStart: 30s\n    drainTimeout: 1m\n    onBackendDown: close\n`,
      { env: {} },
    ).services[0]!;
    expect(custom.health).toEqual({ enabled: true, interval: 500, timeout: 200, rise: 1, fall: 2, port: 8080, passiveFailures: 0, passiveHold: 10_000, proxyProtocol: false });
    expect([custom.slowStart, custom.drainTimeout, custom.onBackendDown]).toEqual([30_000, 60_000, 'close']);
    expect(problems(`${base}    health: { interval: 0s, rise: 0, port: 70000, intervl: 1s }\n    onBackendDown: kill\n`)).toEqual([
      'services[0].health.interval: must be more than 0 (got "0s")',
      'services[0].health.rise: must be an integer between 1 and 100 (got 0)',
      'services[0].health.port: must be an integer between 1 and 65535 (got 70000)',
      'services[0].health.intervl: unknown key (did you mean "interval"?)',
      'services[0].onBackendDown: must be one of keep, close (got "kill")',
    ]);
  });

  test('wrong types and values, all reported at once in document order', () => {
    const yaml = `
log: { level: loud, connections: "yes" }
shutdownTimeout: 30
services:
  - name: "bad name"
    protocol: sctp
    listen: db.local:80
    balance: fastest
    backends:
      - { address: 10.0.0.1:80, weight: 1001, backup: 1 }
      - { address: 10.0.0.2:0, weight: 1.5, name: "" }
    timeouts: { connect: 0s, idle: 1d }
    retries: 11
    maxConnections: 0
  - name: b
    listen: 0.0.0.0:81
    backends: []
  - name: c
    listen: 0.0.0.0:82
  - 5
`;
    expect(problems(yaml)).toEqual([
      'log.level: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'log.connections: must be true or false (got "yes")',
      'shutdownTimeout: 30 has no unit: write a string with one of ms, s, m, h (e.g. "30s" or "30ms")',
      'services[0].name: "bad name" may contain only letters, digits, "_", "." and "-"',
      'services[0].protocol: must be one of tcp, udp, dns (got "sctp")',
      'services[0].listen: "db.local:80": "db.local" is a hostname; only IP addresses are allowed here (backends may use hostnames)',
      'services[0].balance: must be one of round-robin, least-conn, source-hash, random-two (got "fastest")',
      'services[0].backends[0].weight: must be an integer between 0 and 1000 (got 1001)',
      'services[0].backends[0].backup: must be true or false (got 1)',
      'services[0].backends[1].address: "10.0.0.2:0": port 0 is out of range 1..65535',
      'services[0].backends[1].weight: must be an integer between 0 and 1000 (got 1.5)',
      'services[0].backends[1].name: must be a non-empty string (got "")',
      'services[0].timeouts.connect: must be more than 0 (got "0s")',
      'services[0].timeouts.idle: "1d" has an unknown unit "d": use ms, s, m or h',
      'services[0].retries: must be an integer between 0 and 10 (got 11)',
      'services[0].maxConnections: must be an integer >= 1 (got 0)',
      'services[1].backends: must list at least one backend',
      'services[2].backends: is required',
      'services[3]: must be a mapping of service settings (got 5)',
    ]);
  });

  test('required fields and wrong containers', () => {
    expect(problems('services: []')).toEqual(['services: must list at least one service']);
    expect(problems('services: { name: a }')).toEqual(['services: must be a list of services (got a mapping)']);
    expect(problems('log: 3\nservices:\n  - {}\n')).toEqual([
      'log: must be a mapping of log settings (got 3)',
      'services[0].name: is required',
      'services[0].listen: is required',
      'services[0].backends: is required',
    ]);
    expect(problems('')).toEqual(['services: is required']);
    expect(problems('- 1')).toEqual(['(root): must be a mapping with a "services" list (got a list)']);
    expect(problems(ONE_SERVICE.replace('127.0.0.1:8000', '8000'))).toEqual([
      'services[0].listen: must be an address string like "10.0.0.1:80" or "[::1]:80" (got 8000)',
    ]);
  });

  test('duplicates: service names, listen endpoints, backend addresses and names', () => {
    const yaml = `
services:
  - name: a
    listen: 0.0.0.0:80
    backends:
      - address: "[2001:db8::1]:80"
      - address: "[2001:DB8:0::1]:80"
      - { address: 10.0.0.3:80, name: x }
      - { address: 10.0.0.4:80, name: x }
  - name: a
    listen: 0.0.0.0:80
    backends: [{ address: 10.0.0.1:80 }]
`;
    expect(problems(yaml)).toEqual([
      'services[0].backends[1].address: duplicate backend address [2001:db8::1]:80 (also backends[0])',
      'services[0].backends[3].name: duplicate backend name "x" (also backends[2])',
      'services[1].name: duplicate service name "a" (also services[0])',
      'services[1].listen: 0.0.0.0:80/tcp is already used by services[0]',
    ]);
  });

  test('udp services: defaults, settings, probes, and keys that belong to the other protocol', () => {
    const ok = parseConfigText(
      `services:\n  - { name: game, protocol: udp, listen: 0.0.0.0:7777, backends: [{ address: 10.0.0.1:7777 }],\n      udp: { idleTimeout: 2m, responses: 1, maxReplyRatio: 2.5, onBackendDown: drop, recvBufferSize: 4194304 },\n      health: { udpProbe: { send: ffffffff54536f75726365, expect: any } } }\n`,
      { env: {} },
    ).services[0]!;
    expect(ok.balance).toBe('source-hash');
    expect(ok.udp).toEqual({ ...UDP_DEFAULTS, idleTimeout: 120_000, responses: 1, maxReplyRatio: 2.5, onBackendDown: 'drop', recvBufferSize: 4194304 });
    expect(ok.health.udpProbe).toEqual({ send: Buffer.from('ffffffff54536f75726365', 'hex'), expect: 'any' });
    const defaults = parseConfigText(`services:\n  - { name: dns, protocol: udp, listen: 127.0.0.1:53, backends: [{ address: 127.0.0.1:5353 }] }\n`, { env: {} }).services[0]!;
    expect(defaults.udp).toEqual(UDP_DEFAULTS);
    expect(
      problems(
        `services:\n  - { name: a, protocol: udp, listen: 0.0.0.0:1, proxyProtocol: v1, acceptProxy: [10.0.0.0/8], perSource: { maxConnections: 1 }, backends: [{ address: 10.0.0.1:1, proxyProtocol: v1 }], health: { udpProbe: { send: abc } } }\n  - { name: b, listen: 0.0.0.0:2, udp: { responses: 1 }, backends: [{ address: 10.0.0.1:1 }], health: { udpProbe: { send: "00" } } }\n`,
      ),
    ).toEqual([
      'services[0].proxyProtocol: PROXY v1 has no UDP form; use v2',
      'services[0].acceptProxy: only for protocol: tcp',
      'services[0].perSource: only for protocol: tcp; use udp.maxSessionsPerSource',
      'services[0].backends[0].proxyProtocol: PROXY v1 has no UDP form; use v2',
      'services[0].health.udpProbe.send: must be hex bytes like "ffffffff54536f75726365" (got "abc")',
      'services[1].udp: only for protocol: udp',
      'services[1].health.udpProbe: only for protocol: udp (tcp services are checked by TCP connect)',
    ]);
  });

  test('backend names use the service-name alphabet (so they never collide with address names)', () => {
    const yaml = `
services:
  - name: a
    listen: 0.0.0.0:80
    backends:
      - { address: 10.0.0.1:80 }
      - { address: 10.0.0.2:80, name: "10.0.0.1:80" }
`;
    expect(problems(yaml)).toEqual([
      'services[0].backends[1].name: "10.0.0.1:80" may contain only letters, digits, "_", "." and "-"',
    ]);
  });

  test('names are at most 64 characters: longer ones could not cross the pair heartbeat (issue 11 item 1)', () => {
    const long = 'b'.repeat(65);
    const yaml = `
services:
  - name: ${'s'.repeat(65)}
    listen: 0.0.0.0:80
    backends:
      - { address: 10.0.0.1:80, name: ${long} }
      - { address: 10.0.0.2:80, name: ${'c'.repeat(64)} }
peer: { id: ${'p'.repeat(65)}, listen: 127.0.0.1:7946, peers: [127.0.0.1:7947], key: "0123456789abcdef" }
`;
    expect(problems(yaml)).toEqual([
      'services[0].name: is 65 characters long; names may have at most 64',
      'services[0].backends[0].name: is 65 characters long; names may have at most 64',
      'peer.id: is 65 characters long; names may have at most 64',
    ]);
  });

  test('several services may listen on port 0', () => {
    const yaml = `
services:
  - { name: a, listen: 127.0.0.1:0, backends: [{ address: 127.0.0.1:7000 }] }
  - { name: b, listen: 127.0.0.1:0, backends: [{ address: 127.0.0.1:7000 }] }
`;
    expect(parseConfigText(yaml, { env: {} }).services.map((s) => s.listen.port)).toEqual([0, 0]);
  });
});

describe('validateConfig', () => {
  test('the CLI quick mode raw object', () => {
    const config = validateConfig(
      {
        services: [
          {
            name: 'quick',
            listen: '127.0.0.1:6000',
            backends: [{ address: '127.0.0.1:7000' }, { address: '127.0.0.1:7001' }],
            balance: 'round-robin',
            protocol: 'tcp',
          },
        ],
      },
      {},
    );
    expect(config.services).toHaveLength(1);
    expect(config.services[0]?.backends.map((b) => b.name)).toEqual(['127.0.0.1:7000', '127.0.0.1:7001']);
    expect(config.services[0]?.balance).toBe('round-robin');
  });

  test('quick mode with undefined optional fields gets the defaults', () => {
    const config = validateConfig({
      services: [{ name: 'quick', listen: '127.0.0.1:0', backends: [{ address: '127.0.0.1:7000' }], balance: undefined, protocol: undefined }],
    });
    expect(config.services[0]?.balance).toBe('least-conn');
    expect(config.services[0]?.protocol).toBe('tcp');
  });
});

describe('examples', () => {
  const dir = path.resolve(__dirname, '../../examples');
  const files = fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.(ya?ml|json)$/.test(f)) : [];

  test('there are examples', () => {
    expect(files).toEqual(expect.arrayContaining(['single.yaml', 'database.yaml', 'game-server.yaml', 'dns.yaml', path.join('pair', 'lb-a.yaml'), 'patroni.yaml', 'redis.yaml', 'postgres.yaml']));
  });

  test.each(files)('examples/%s is valid', (file) => {
    const config = loadConfigFile(path.join(dir, file), { FULCRUM_ADMIN_TOKEN: 'example-token', FULCRUM_PEER_KEY: 'example-peer-key-0123456789', REDIS_PASSWORD: 'example', PGCHECK_PASSWORD: 'example' });
    expect(config.services.length + (config.dns?.length ?? 0)).toBeGreaterThan(0);
  });
});
