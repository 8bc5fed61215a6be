/**
 * The dns service as a resolver sees it: real dig over UDP and TCP against
 * fulcrum on 127.0.0.1 port 0. Members have checks off here (dns-health
 * covers checks), so every answer is the configured data.
 */
import net from 'node:net';
import * as packet from 'dns-packet';
import { parseConfigText, start, type FulcrumHandle } from '../../src/index';
import { addresses, dig, DnsClient, rcode, until } from '../helpers/dns';

const BIG = Array.from({ length: 100 }, (_, i) => `{ address: 127.0.2.${i + 1} }`).join(', ');
const CONFIG = `
log: { level: silent }
admin: { enabled: false }
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:0
    tcp: { idleTimeout: 500ms }
    locations: { eu: [10.1.0.0/16, "2001:db8:1::/48"], eu-paris: [10.1.5.0/24], us: [10.2.0.0/16] }
    zones:
      - name: gslb.example.com
        soa: { minimum: 20s }
        ns: [ { name: ns1.gslb.example.com, address: 127.0.0.53 }, { name: ns.other.example.net } ]
        records:
          - { name: www, health: { enabled: false }, members: [ { address: 127.0.0.10 }, { address: 127.0.0.11 }, { address: 127.0.0.12 } ] }
          - { name: www, type: AAAA, ttl: 1m, health: { enabled: false }, members: [ { address: "::1" } ] }
          - { name: a.deep, health: { enabled: false }, members: [ { address: 127.0.0.20 } ] }
          - { name: big, health: { enabled: false }, members: [ ${BIG} ] }
          - name: geo
            policy: geolocation
            health: { enabled: false }
            members:
              - { address: 127.0.1.1, location: eu }
              - { address: 127.0.1.5, location: eu-paris }
              - { address: 127.0.1.2, location: us }
              - { address: 127.0.1.3, location: "*" }
          - { name: alias, type: CNAME, target: www.gslb.example.com }
          - { name: ext, type: CNAME, target: www.example.net }
`;

let handle: FulcrumHandle;
let port: number;
let client: DnsClient;

beforeAll(async () => {
  handle = await start(parseConfigText(CONFIG));
  port = handle.addresses.get('gslb')!.port;
  client = new DnsClient(port);
});

afterAll(async () => {
  client.close();
  await handle.stop(1000);
});

/** As the admin API reads it: the workers' counters collected first (DNS is answered in every worker where Node has reusePort). */
const status = async () => {
  await handle.manager.collectStats();
  return handle.manager.status().dns![0]!;
};

describe('answers over UDP and TCP (real dig)', () => {
  test.each([[[]], [['+tcp']]])('A record, flags %p: authoritative, no recursion, all members, order rotated', async (extra) => {
    expect.assertions(5);
    const firsts = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await dig(port, ['www.gslb.example.com', 'A', ...extra]);
      if (i === 0) {
        expect(r.status).toBe('NOERROR');
        expect(r.flags).toEqual(expect.arrayContaining(['qr', 'aa']));
        expect(r.flags).not.toContain('ra');
        expect(addresses(r).sort()).toEqual(['127.0.0.10', '127.0.0.11', '127.0.0.12']);
      }
      firsts.add(addresses(r)[0]!);
    }
    expect(firsts.size).toBe(3);
  });

  test('names are case-insensitive and the question keeps its case', async () => {
    expect.assertions(3);
    const r = await dig(port, ['WwW.GSLB.example.COM', 'AAAA']);
    expect(r.status).toBe('NOERROR');
    expect(r.answer).toEqual(['WwW.GSLB.example.COM. 60 IN AAAA ::1']);
    expect(r.flags).toContain('aa');
  });

  test('NXDOMAIN carries the SOA in authority with the negative TTL (SOA minimum)', async () => {
    expect.assertions(4);
    const r = await dig(port, ['nothing.gslb.example.com', 'A']);
    expect(r.status).toBe('NXDOMAIN');
    expect(r.answer).toEqual([]);
    expect(r.authority).toHaveLength(1);
    expect(r.authority[0]).toMatch(/^gslb\.example\.com\. 20 IN SOA ns1\.gslb\.example\.com\. hostmaster\.gslb\.example\.com\. \d+ 3600 600 604800 20$/);
  });

  test.each([
    ['www.gslb.example.com', 'MX'],
    ['deep.gslb.example.com', 'A'], // an empty non-terminal exists: NODATA, not NXDOMAIN
  ])('NODATA for %s %s: NOERROR, no answer, SOA in authority', async (name, type) => {
    expect.assertions(3);
    const r = await dig(port, [name, type]);
    expect(r.status).toBe('NOERROR');
    expect(r.answer).toEqual([]);
    expect(r.authority[0]).toMatch(/^gslb\.example\.com\. 20 IN SOA /);
  });

  test('REFUSED for a name outside the zones: not authoritative, no records', async () => {
    expect.assertions(4);
    const r = await dig(port, ['www.example.org', 'A']);
    expect(r.status).toBe('REFUSED');
    expect(r.flags).not.toContain('aa');
    expect(r.answer).toEqual([]);
    expect(r.authority).toEqual([]);
  });

  test('NS at the apex with glue in the additional section; SOA at the apex', async () => {
    expect.assertions(4);
    const ns = await dig(port, ['gslb.example.com', 'NS']);
    expect(ns.answer.sort()).toEqual(['gslb.example.com. 3600 IN NS ns.other.example.net.', 'gslb.example.com. 3600 IN NS ns1.gslb.example.com.']);
    expect(ns.additional).toEqual(['ns1.gslb.example.com. 3600 IN A 127.0.0.53']);
    const glue = await dig(port, ['ns1.gslb.example.com', 'A']);
    expect(addresses(glue)).toEqual(['127.0.0.53']);
    const soa = await dig(port, ['gslb.example.com', 'SOA']);
    expect(soa.answer[0]).toMatch(/^gslb\.example\.com\. 3600 IN SOA ns1\.gslb\.example\.com\. /);
  });

  test('ANY is answered with one RRset (RFC 8482)', async () => {
    expect.assertions(2);
    const r = await dig(port, ['www.gslb.example.com', 'ANY']);
    expect(r.status).toBe('NOERROR');
    expect(r.answer.every((l) => l.includes(' IN A '))).toBe(true);
  });

  test('a CNAME to a name we serve is followed; to another name it is alone', async () => {
    expect.assertions(4);
    const r = await dig(port, ['alias.gslb.example.com', 'A']);
    expect(r.answer[0]).toBe('alias.gslb.example.com. 30 IN CNAME www.gslb.example.com.');
    expect(addresses(r).sort()).toEqual(['127.0.0.10', '127.0.0.11', '127.0.0.12']);
    const ext = await dig(port, ['ext.gslb.example.com', 'A']);
    expect(ext.answer).toEqual(['ext.gslb.example.com. 30 IN CNAME www.example.net.']);
    expect(ext.status).toBe('NOERROR');
  });
});

describe('geolocation', () => {
  test.each([
    ['10.1.2.0/24', '127.0.1.1', '10.1.2.0/24/16'],
    ['10.1.5.0/24', '127.0.1.5', '10.1.5.0/24/24'], // most specific network wins
    ['10.2.0.0/16', '127.0.1.2', '10.2.0.0/16/16'],
    ['10.9.0.0/16', '127.0.1.3', '10.9.0.0/16/16'], // no match: the default location
    ['2001:db8:1:5::/64', '127.0.1.1', '2001:db8:1:5::/64/48'], // IPv6 client subnets too
  ])('client subnet %s → %s, ECS echoed with scope', async (subnet, expected, echoed) => {
    expect.assertions(2);
    const r = await dig(port, ['geo.gslb.example.com', 'A', `+subnet=${subnet}`]);
    expect(addresses(r)).toEqual([expected]);
    expect(r.subnet).toBe(echoed);
  });

  test('without ECS the resolver address decides (127.0.0.1: default)', async () => {
    expect.assertions(2);
    const r = await dig(port, ['geo.gslb.example.com', 'A']);
    expect(addresses(r)).toEqual(['127.0.1.3']);
    expect(r.subnet).toBeNull();
  });

  test('ECS on a non-geolocation record is echoed with scope 0', async () => {
    expect.assertions(1);
    const r = await dig(port, ['www.gslb.example.com', 'A', '+subnet=10.1.2.0/24']);
    expect(r.subnet).toBe('10.1.2.0/24/0');
  });
});

describe('sizes', () => {
  test('an answer too large for UDP sets TC with no records; over TCP it is whole', async () => {
    expect.assertions(6);
    const classic = await dig(port, ['big.gslb.example.com', 'A', '+noedns', '+ignore']);
    expect(classic.flags).toContain('tc');
    expect(classic.answer).toEqual([]);
    const edns = await dig(port, ['big.gslb.example.com', 'A', '+bufsize=4096', '+ignore']);
    expect(edns.flags).toContain('tc'); // we never exceed 1232 bytes over UDP
    expect(edns.raw).toMatch(/udp: 1232/);
    const tcp = await dig(port, ['big.gslb.example.com', 'A', '+tcp']);
    expect(tcp.flags).not.toContain('tc');
    expect(addresses(tcp)).toHaveLength(100);
  });

  test('a REFUSED reply is no larger than its query (no amplification)', async () => {
    expect.assertions(2);
    const query = packet.encode({ id: 7, type: 'query', questions: [{ name: 'x.example.org', type: 'A', class: 'IN' }] });
    const reply = await client.sendRaw(query);
    expect(reply!.length).toBe(query.length);
    expect(rcode(reply!)).toBe('REFUSED');
  });
});

describe('unusual queries', () => {
  const header = (id: number, flags: number, qd: number) => {
    const b = Buffer.alloc(12);
    b.writeUInt16BE(id, 0);
    b.writeUInt16BE(flags, 2);
    b.writeUInt16BE(qd, 4);
    return b;
  };

  test('FORMERR for a query without a question, or with two', async () => {
    expect.assertions(3);
    const none = await client.sendRaw(header(11, 0, 0));
    expect(rcode(none!)).toBe('FORMERR');
    const q = packet.encode({ id: 12, type: 'query', questions: [{ name: 'www.gslb.example.com', type: 'A' }, { name: 'www.gslb.example.com', type: 'AAAA' }] });
    const two = await client.sendRaw(q);
    expect(rcode(two!)).toBe('FORMERR');
    expect(packet.decode(two!).answers).toEqual([]);
  });

  test('NOTIMP for an opcode other than QUERY; BADVERS for EDNS version 1', async () => {
    expect.assertions(2);
    const q = packet.encode({ id: 13, type: 'query', questions: [{ name: 'www.gslb.example.com', type: 'A' }] });
    q.writeUInt16BE(2 << 11, 2); // STATUS
    const reply = await client.sendRaw(q);
    expect(rcode(reply!)).toBe('NOTIMP');
    const r = await dig(port, ['www.gslb.example.com', 'A', '+edns=1', '+noednsneg']);
    expect(r.status).toBe('BADVERS');
  });

  test('several queries on one TCP connection are answered in order; idle connections close', async () => {
    expect.assertions(4);
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const frames = [1, 2, 3].map((id) => {
      const q = packet.encode({ id, type: 'query', questions: [{ name: 'www.gslb.example.com', type: 'A' }] });
      const f = Buffer.alloc(q.length + 2);
      f.writeUInt16BE(q.length, 0);
      q.copy(f, 2);
      return f;
    });
    let received = Buffer.alloc(0);
    socket.on('data', (d) => (received = Buffer.concat([received, d])));
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const sentAt = Date.now();
    socket.write(Buffer.concat(frames)); // all three in one segment
    const ids: number[] = [];
    await until(() => {
      ids.length = 0;
      for (let at = 0; at + 2 <= received.length; ) {
        const size = received.readUInt16BE(at);
        if (at + 2 + size > received.length) break;
        ids.push(packet.decode(received.subarray(at + 2, at + 2 + size)).id!);
        at += 2 + size;
      }
      return ids.length === 3;
    });
    expect(ids).toEqual([1, 2, 3]);
    expect((await status()).tcpConnections).toBeGreaterThanOrEqual(1);
    const closedAt = await closed;
    expect(closedAt - sentAt).toBeGreaterThanOrEqual(400);
    expect(closedAt - sentAt).toBeLessThan(10_000);
  });
});

test('fulcrum_dns_queries_total counts replies by qtype and rcode', async () => {
  const q = (await status()).queries;
  expect(q.A!.NOERROR).toBeGreaterThan(5);
  expect(q.A!.NXDOMAIN).toBeGreaterThanOrEqual(1);
  expect(q.A!.REFUSED).toBeGreaterThanOrEqual(1);
  expect(q.none!.FORMERR).toBeGreaterThanOrEqual(1);
  expect((await status()).udpRecvBufferSize).toBeGreaterThan(0);
});
