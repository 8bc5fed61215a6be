import { parseConfigText } from '../../src/config';
import type { DiscoveryEntry, ServiceConfig } from '../../src/config/types';
import { composeBackends, DEFAULT_DISCOVERY, DnsResolver } from '../../src/discovery';
import { LastGood } from '../../src/discovery/last-good';
import type { FoundBackend } from '../../src/discovery/types';
import { previewChange, type RunningBackend } from '../../src/manager/disruption';
import { MAGLEV_TABLE_SIZE } from '../../src/balancer';
import { backend, ep, tcpService } from '../helpers/config';

const problems = (yaml: string) => {
  try {
    parseConfigText(yaml);
    return [];
  } catch (err) {
    return (err as { details: string[] }).details;
  }
};
const service = (backends: string) => `services: [{ name: s, listen: 127.0.0.1:0, backends: ${backends} }]\n`;

describe('config', () => {
  test('hostnames, srv and file entries become discovery entries; IP literals stay backends', () => {
    expect.assertions(4);
    const c = parseConfigText(service('[{ address: 10.0.0.1:80 }, { address: DB.Internal:5432, weight: 3, backup: true }, { srv: _pg._tcp.db.service.consul, optional: true }, { file: /etc/fulcrum/pg.yaml }]'));
    const s = c.services[0];
    expect(s.backends.map((b) => b.name)).toEqual(['10.0.0.1:80']);
    expect(s.discovery).toEqual([
      { kind: 'dns', target: 'db.internal:5432', source: 'dns:db.internal:5432', optional: false, weight: 3, backup: true, maxConnections: 0 },
      { kind: 'srv', target: '_pg._tcp.db.service.consul', source: 'srv:_pg._tcp.db.service.consul', optional: true, backup: false, maxConnections: 0 },
      { kind: 'file', target: '/etc/fulcrum/pg.yaml', source: 'file:/etc/fulcrum/pg.yaml', optional: false, backup: false, maxConnections: 0 },
    ]);
    expect(c.discovery).toEqual({ interval: 10_000, minTtl: 1000, maxTtl: 10_000, timeout: 2000, resolvers: [] });
    // Without entries to look up, neither key appears.
    const plain = parseConfigText(service('[{ address: 10.0.0.1:80 }]'));
    expect([plain.discovery, plain.services[0].discovery]).toEqual([undefined, undefined]);
  });

  test('discovery settings: resolvers with or without a port, TTL bounds', () => {
    expect.assertions(2);
    const c = parseConfigText(`discovery: { interval: 5s, minTtl: 2s, resolvers: [10.0.0.2, "10.0.0.3:5353", "[::1]:53", "::1"] }\n${service('[{ address: db:1 }]')}`);
    expect(c.discovery).toMatchObject({ interval: 5000, minTtl: 2000, maxTtl: 5000, resolvers: [ep(53, '10.0.0.2'), ep(5353, '10.0.0.3'), ep(53, '::1'), ep(53, '::1')] });
    expect([
      ...problems(`discovery: { minTtl: 5s, maxTtl: 1s }\n${service('[{ address: db:1 }]')}`),
      ...problems(`discovery: { resolvers: [dns.example], intreval: 1s }\n${service('[{ address: db:1 }]')}`),
    ]).toEqual([
      'discovery.maxTtl: must not be shorter than discovery.minTtl',
      'discovery.resolvers: "dns.example": "dns.example" is a hostname; only IP addresses are allowed here (backends may use hostnames)',
      'discovery.intreval: unknown key (did you mean "interval"?)',
    ]);
  });

  test('entry mistakes are named by path', () => {
    expect.assertions(1);
    expect(problems(service('[{ address: db:80, name: x }, { srv: a.b, file: /x }, { weight: 2 }, { address: 127.0.0.1:3, optional: true }, { srv: "not a name" }, { srv: _x._tcp.a }, { srv: _X._tcp.a. }]'))).toEqual([
      'services[0].backends[0].name: an entry that is looked up gives one backend per address, named by its address; remove name',
      'services[0].backends[1].file: use one of address, srv or file per entry (also srv)',
      'services[0].backends[2].address: is required (or srv: NAME, or file: PATH)',
      'services[0].backends[3].optional: only for entries that are looked up (hostname, srv, file)',
      'services[0].backends[4].srv: must be a DNS name like "_postgresql._tcp.db.service.consul" (got "not a name")',
      'services[0].backends[6].srv: duplicate backend srv _x._tcp.a (also backends[5])',
    ]);
  });
});

test('the next lookup follows the TTL within [minTtl, maxTtl]; without one, the interval', () => {
  expect.assertions(1);
  const r = new DnsResolver({ ...DEFAULT_DISCOVERY, interval: 10_000, minTtl: 1000, maxTtl: 30_000 });
  expect([r.nextDelay(0), r.nextDelay(5000), r.nextDelay(3_600_000), r.nextDelay(undefined)]).toEqual([1000, 5000, 30_000, 10_000]);
});

describe('failure policy (LastGood)', () => {
  const found = (...ports: number[]): FoundBackend[] => ports.map((p) => ({ address: ep(p) }));

  test('failures keep the set and are counted; a reordered answer is no change', () => {
    expect.assertions(7);
    const p = new LastGood();
    expect(p.record({ result: 'ok', backends: found(1, 2) }, 100)).toBe(true);
    expect(p.record({ result: 'servfail', reason: 'x' }, 200)).toBe(false);
    expect(p.record({ result: 'empty', reason: 'y' }, 300)).toBe(false);
    expect([p.backends!.length, p.failure]).toEqual([2, { since: 200, result: 'empty', reason: 'y' }]);
    expect(p.record({ result: 'ok', backends: found(2, 1) }, 400)).toBe(false);
    expect([p.failure, p.lastSuccessAt, p.lastChangeAt]).toEqual([null, 400, 100]);
    expect(p.counts).toMatchObject({ ok: 2, servfail: 1, empty: 1, timeout: 0 });
  });
});

describe('composeBackends', () => {
  const entry = (kind: DiscoveryEntry['kind'], extra: Partial<DiscoveryEntry> = {}): DiscoveryEntry => ({ kind, target: kind, source: kind, optional: false, backup: false, maxConnections: 0, ...extra });
  const compose = (config: ServiceConfig, sets: Record<string, FoundBackend[]>) =>
    composeBackends(config, (s) => sets[s] ?? []).map((b) => `${b.name} w${b.weight}${b.backup ? ' backup' : ''}${b.source ? ` <${b.source}>` : ''}`);

  test('IP literals first; the first of a name or address wins; settings by precedence', () => {
    expect.assertions(1);
    const config = tcpService([backend(1)], { discovery: [entry('dns', { weight: 5 }), entry('srv', { backup: true }), entry('file', { weight: 2 })] });
    expect(
      compose(config, {
        dns: [{ address: ep(1) }, { address: ep(2) }],
        srv: [{ address: ep(2), weight: 9 }, { address: ep(3), weight: 9 }],
        file: [{ address: ep(4), name: 'four', weight: 7 }, { address: ep(5) }],
      }),
    ).toEqual(['127.0.0.1:1 w1', '127.0.0.1:2 w5 <dns>', '127.0.0.1:3 w9 backup <srv>', 'four w7 <file>', '127.0.0.1:5 w2 <file>']);
  });

  test('an explicit weight on an srv entry wins over the records', () => {
    expect.assertions(1);
    expect(compose(tcpService([], { discovery: [entry('srv', { weight: 4 })] }), { srv: [{ address: ep(3), weight: 9 }] })).toEqual(['127.0.0.1:3 w4 <srv>']);
  });
});

describe('previewChange', () => {
  const run = (name: string, extra: Partial<RunningBackend> = {}): RunningBackend => ({ name, address: name, weight: 1, backup: false, up: true, ...extra });
  const next = (b: RunningBackend) => ({ name: b.name, address: b.address, weight: b.weight, backup: b.backup });
  const five = ['a', 'b', 'c', 'd', 'e'].map((n) => run(n));

  test('added, removed, re-weighted; an address change is a removal and an addition', () => {
    expect.assertions(1);
    const c = previewChange(five, [...five.slice(0, 3).map(next), { ...next(five[3]), weight: 3 }, { ...next(five[4]), address: 'elsewhere' }, next(run('f'))], { before: 'least-conn', after: 'least-conn' });
    expect(c).toEqual({ added: ['e', 'f'], removed: ['e'], reweighted: [{ name: 'd', from: 1, to: 3 }], movedSlots: null, slots: MAGLEV_TABLE_SIZE });
  });

  test('source-hash: no change moves nothing; adding a backup while primaries are up moves nothing; a new algorithm moves all', () => {
    expect.assertions(4);
    const sh = { before: 'source-hash', after: 'source-hash' };
    expect(previewChange(five, five.map(next), sh).movedSlots).toBe(0);
    expect(previewChange(five, [...five.map(next), { ...next(run('z')), backup: true }], sh).movedSlots).toBe(0);
    expect(previewChange(five, five.map(next), { before: 'round-robin', after: 'source-hash' }).movedSlots).toBe(MAGLEV_TABLE_SIZE);
    // A backend that is down now is in neither table: removing it moves nobody.
    const withDown = [...five, run('f', { up: false })];
    expect(previewChange(withDown, five.map(next), sh).movedSlots).toBe(0);
  });
});
