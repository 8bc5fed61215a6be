/**
 * A fuzzed corpus of malformed packets (what dns-packet.decode refuses, plus
 * responses and runts) sent to a running dns service over UDP and TCP: none
 * gets a reply, every one is counted, and the service keeps answering.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import * as packet from 'dns-packet';
import { parseConfigText, start, type FulcrumHandle } from '../../src/index';
import { DnsClient, until } from '../helpers/dns';
import { prng } from '../helpers/prng';

const SEED = 16;
const CONFIG = `
log: { level: silent }
admin: { enabled: false }
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:0
    locations: { eu: [10.1.0.0/16] }
    zones:
      - name: gslb.test
        ns: [ { name: ns1.gslb.test, address: 127.0.0.53 } ]
        records:
          - { name: www, policy: geolocation, health: { enabled: false }, members: [ { address: 127.0.0.10, location: eu }, { address: 127.0.0.11 } ] }
`;

function malformed(bytes: Buffer): boolean {
  if (bytes.length < 12 || (bytes[2]! & 0x80) !== 0) return true;
  try {
    packet.decode(bytes);
    return false;
  } catch {
    return true;
  }
}

function corpus(size: number): Buffer[] {
  const random = prng(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const seeds = [
    packet.encode({ id: 1, type: 'query', questions: [{ name: 'www.gslb.test', type: 'A' }] }),
    packet.encode({
      id: 2,
      type: 'query',
      questions: [{ name: 'www.gslb.test', type: 'AAAA' }],
      additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, flags: 0, options: [{ code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: '10.1.2.0' } as packet.PacketOpt] } as packet.Answer],
    }),
  ];
  const mutate = (b: Buffer): Buffer => {
    const m = Buffer.from(b);
    switch (int(7)) {
      case 0: return m.subarray(0, int(m.length)); // truncated
      case 1: for (let i = 0; i < 1 + int(4); i++) m[int(m.length)] = int(256); return m; // flipped bytes
      case 2: m[12 + int(Math.max(1, m.length - 12))] = 0x40 + int(0x80); return m; // reserved label types / wild lengths
      case 3: m.writeUInt16BE(1 + int(0xffff), 4 + 2 * int(4)); return m; // counts that overrun the packet
      case 4: m[12] = 0xc0; m[13] = 12 + int(20); return m; // pointers forward or into themselves
      case 5: return Buffer.concat([m.subarray(0, 12), Buffer.from(Array.from({ length: int(40) }, () => int(256)))]); // garbage after a header
      default: m[2]! |= 0x80; return m; // a response
    }
  };
  const out: Buffer[] = [Buffer.alloc(0), Buffer.alloc(5), Buffer.alloc(11)];
  while (out.length < size) {
    const candidate = mutate(seeds[int(seeds.length)]!);
    if (malformed(candidate)) out.push(candidate);
  }
  return out;
}

let handle: FulcrumHandle;
let port: number;

beforeAll(async () => {
  handle = await start(parseConfigText(CONFIG));
  port = handle.addresses.get('gslb')!.port;
});

afterAll(() => handle.stop(1000));

/** As the admin API reads it: the workers' counters collected first. */
const dnsStatus = async () => {
  await handle.manager.collectStats();
  return handle.manager.status().dns![0]!;
};
const dropped = async () => {
  const d = (await dnsStatus()).dropped;
  return d.malformed! + d.response!;
};

test(`${2000} malformed datagrams (seed ${SEED}): no reply, each counted, the service still answers`, async () => {
  expect.assertions(4);
  const packets = corpus(2000);
  const socket = dgram.createSocket('udp4');
  let replies = 0;
  socket.on('message', () => replies++);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const before = await dropped();
  // In small batches, each waited for, so that no datagram is lost in a full socket buffer.
  for (let i = 0; i < packets.length; i += 50) {
    for (const p of packets.slice(i, i + 50)) socket.send(p, port, '127.0.0.1');
    await until(async () => (await dropped()) - before >= Math.min(i + 50, packets.length), 10_000, 5);
  }
  await new Promise((r) => setTimeout(r, 200)); // a late reply would arrive now
  expect((await dropped()) - before).toBe(packets.length);
  expect(replies).toBe(0);
  expect((await dnsStatus()).dropped.internal_error).toBe(0);
  socket.close();
  const client = new DnsClient(port);
  const answer = await client.query('www.gslb.test');
  client.close();
  expect(answer.answers).toHaveLength(1);
});

test('malformed messages over TCP get no reply; a good one after them does', async () => {
  expect.assertions(2);
  const packets = corpus(50).filter((p) => p.length > 0);
  const good = packet.encode({ id: 4242, type: 'query', questions: [{ name: 'www.gslb.test', type: 'A' }] });
  const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = Buffer.alloc(0);
  socket.on('data', (d) => (received = Buffer.concat([received, d])));
  socket.write(Buffer.concat([...packets.map(frame), frame(good)]));
  expect(await until(() => received.length >= 2 && received.length >= 2 + received.readUInt16BE(0))).toBe(true);
  // The only reply is the good query's.
  expect(packet.decode(received.subarray(2)).id).toBe(4242);
  socket.destroy();
});
