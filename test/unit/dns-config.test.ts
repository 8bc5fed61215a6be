/** Config of protocol: dns services: normalization, cross-record rules, and the GSLB examples. */
import { parseConfigText } from '../../src/config';
import { FulcrumError } from '../../src/errors';

const service = (zone: string, extra = '') => `
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:5353
${extra}
    zones:
${zone}`;

function problems(yaml: string): readonly string[] {
  try {
    parseConfigText(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(FulcrumError);
    expect((err as FulcrumError).code).toBe('ERR_FULCRUM_CONFIG');
    return (err as FulcrumError).details;
  }
  throw new Error('expected a config error');
}

test('a dns service is normalized: absolute lowercase names, TTLs in seconds, SOA and policy defaults', () => {
  const config = parseConfigText(
    service(
      `      - name: GSLB.Example.com.
        ns: [ { name: ns1.gslb.example.com, address: 192.0.2.53 } ]
        records:
          - { name: www, health: { port: 443 }, members: [ { address: 192.0.2.10, location: eu } ] }
          - { name: "@", type: AAAA, ttl: 5m, health: { enabled: false }, members: [ { address: "2001:DB8::1", name: v6 } ] }
          - { name: alias, type: CNAME, target: WWW.gslb.example.com. }`,
      '    locations: { eu: [ 10.1.0.0/16, "2001:db8:1::/48" ] }',
    ),
  );
  expect(config.services).toEqual([]);
  const dns = config.dns![0]!;
  expect(dns.locations.map((l) => `${l.cidr.text}=${l.location}`)).toEqual(['10.1.0.0/16=eu', '2001:db8:1::/48=eu']);
  const zone = dns.zones[0]!;
  expect(zone.name).toBe('gslb.example.com');
  expect(zone.soa).toMatchObject({ mname: 'ns1.gslb.example.com', rname: 'hostmaster.gslb.example.com', refresh: 3600, retry: 600, expire: 604800, minimum: 30, ttl: 3600 });
  const [www, apex, alias] = zone.records;
  expect(www).toMatchObject({ name: 'www.gslb.example.com', type: 'A', ttl: 30, policy: 'simple', whenAllDown: 'answer-all', target: null });
  expect(www!.health).toMatchObject({ enabled: true, interval: 2000, timeout: 1000, rise: 2, fall: 3, port: 443 });
  expect(www!.members).toEqual([{ address: '192.0.2.10', name: '192.0.2.10', weight: 1, failover: 'primary', location: 'eu' }]);
  expect(apex).toMatchObject({ name: 'gslb.example.com', ttl: 300, members: [{ address: '2001:db8::1', name: 'v6' }] });
  expect(alias).toMatchObject({ type: 'CNAME', target: 'www.gslb.example.com', members: [] });
});

test('problems across records and zones are reported together, with their paths', () => {
  const zone = `      - name: gslb.example.com
        ns: [ { name: ns1.gslb.example.com }, { name: ns.example.net } ]
        records:
          - { name: www, members: [ { address: 192.0.2.10 } ] }
          - { name: www, health: { enabled: false }, members: [ { address: "2001:db8::1", location: mars } ] }
          - { name: www, type: CNAME, target: x.example.net }
          - { name: c, type: CNAME, members: [ { address: 192.0.2.1 } ], health: { enabled: false } }
          - { name: out.example.net., health: { enabled: false }, members: [ { address: 192.0.2.1, name: web } ] }`;
  expect(problems(service(zone))).toEqual([
    'services[0].zones[0].ns[0].address: is required: ns1.gslb.example.com is inside the zone, so the parent needs its address as glue',
    'services[0].zones[0].records[0].health.port: is required: members are addresses without a port, checked by TCP connect to this port (or set enabled: false)',
    'services[0].zones[0].records[1].name: www.gslb.example.com already has a A record in this zone',
    'services[0].zones[0].records[1].members[0].address: 2001:db8::1 is not an IPv4 address (record type A)',
    'services[0].zones[0].records[1].members[0].location: unknown location "mars" (define it under "locations", or use "*")',
    'services[0].zones[0].records[2].type: www.gslb.example.com already has other records: a CNAME must be alone at its name',
    'services[0].zones[0].records[3].members: a CNAME record has a target, not members',
    'services[0].zones[0].records[3].target: is required for a CNAME record',
    'services[0].zones[0].records[4].name: out.example.net is not inside the zone gslb.example.com',
  ]);
});

test('field problems name the field (rules across records run once the fields are valid)', () => {
  const zone = `      - name: gslb.example.com
        ns: [ { name: ns.example.net } ]
        records:
          - { name: d, health: { enabled: false }, polcy: weighted, members: [ { address: 192.0.2.2, weight: 300 } ] }
          - { name: "bad name", members: [] }`;
  expect(problems(service(zone))).toEqual([
    'services[0].zones[0].records[0].polcy: unknown key (did you mean "policy"?)',
    'services[0].zones[0].records[0].members[0].weight: must be an integer between 0 and 255 (got 300)',
    'services[0].zones[0].records[1].name: "bad name": label "bad name" may use only letters, digits, "-" and "_" (1 to 63)',
  ]);
});

test('a member name means one address in the whole service', () => {
  const zone = `      - name: gslb.example.com
        ns: [ { name: ns.example.net } ]
        records:
          - { name: a, health: { enabled: false }, members: [ { address: 192.0.2.1, name: web } ] }
          - { name: b, health: { enabled: false }, members: [ { address: 192.0.2.2, name: web } ] }`;
  expect(problems(service(zone))).toEqual(['services[0].zones[0].records[1].members[0].name: member name "web" already names 192.0.2.1 in this service']);
});

test('a dns service takes its listen address on UDP and TCP; an unknown protocol names dns among the choices', () => {
  const text = `
services:
  - { name: game, protocol: udp, listen: 127.0.0.1:5353, backends: [ { address: 127.0.0.1:7000 } ] }
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:5353
    zones: [ { name: gslb.example.com, ns: [ { name: ns.example.net } ] } ]
  - { name: x, protocol: dsn, listen: 127.0.0.1:1, backends: [ { address: 127.0.0.1:7000 } ] }`;
  expect(problems(text)).toEqual([
    'services[1].listen: 127.0.0.1:5353/udp is already used by services[0]',
    'services[2].protocol: must be one of tcp, udp, dns (got "dsn")',
  ]);
});
