/**
 * Health-aware answers: members are real listeners on 127.x addresses that
 * the checker probes; stopping one takes it out of the answers, starting it
 * brings it back. Policies are checked through real queries.
 */
import * as packet from 'dns-packet';
import { parseConfigText, start, type FulcrumHandle } from '../../src/index';
import { addresses, dig, DnsClient, freePort, Member, rcode, until } from '../helpers/dns';

const INTERVAL = 200;
const FALL = 2;
const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const MULTI = range('127.0.4.', 12);
const list = (hosts: string[]) => hosts.map((h) => `{ address: ${h} }`).join(', ');

function config(port: number): string {
  const health = `{ interval: ${INTERVAL}ms, timeout: 500ms, rise: 1, fall: ${FALL}, port: ${port} }`;
  return `
log: { level: silent }
admin: { listen: 127.0.0.1:0 }
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:0
    zones:
      - name: gslb.test
        ns: [ { name: ns1.gslb.test, address: 127.0.0.53 } ]
        records:
          - { name: web, health: ${health}, members: [ ${list(range('127.0.3.', 3))} ] }
          - { name: again, health: ${health}, members: [ ${list(range('127.0.3.', 3))} ] }
          - name: fo
            policy: failover
            health: ${health}
            members: [ { address: 127.0.6.1, failover: primary }, { address: 127.0.6.2, failover: secondary } ]
          - name: w
            policy: weighted
            health: ${health}
            members: [ { address: 127.0.7.1, weight: 200 }, { address: 127.0.7.2, weight: 55 }, { address: 127.0.7.3, weight: 0 } ]
          - { name: mv, policy: multivalue, health: ${health}, members: [ ${list(MULTI)} ] }
          - { name: mvdown, policy: multivalue, health: ${health}, members: [ ${list(range('127.0.5.', 10))} ] }
          - { name: sf, whenAllDown: servfail, health: ${health}, members: [ { address: 127.0.5.1 } ] }
          - { name: em, whenAllDown: empty, health: ${health}, members: [ { address: 127.0.5.1 } ] }
`;
}

let handle: FulcrumHandle;
let port: number;
let client: DnsClient;
const members = new Map<string, Member>();

beforeAll(async () => {
  const checkPort = await freePort();
  for (const host of [...range('127.0.3.', 3), '127.0.6.1', '127.0.6.2', ...range('127.0.7.', 3), ...MULTI]) {
    const m = new Member(host, checkPort);
    await m.start();
    members.set(host, m);
  }
  handle = await start(parseConfigText(config(checkPort)));
  port = handle.addresses.get('gslb')!.port;
  client = new DnsClient(port);
});

afterAll(async () => {
  client.close();
  await handle.stop(1000);
  for (const m of members.values()) await m.stop();
});

const answerOf = async (name: string) => addresses(await dig(port, [`${name}.gslb.test`, 'A']));
const inProcess = async (name: string) => {
  const r = await client.query(`${name}.gslb.test`);
  return (r.answers ?? []).map((a) => (a as { data: string }).data);
};
const dnsStatus = async () => {
  await handle.manager.collectStats();
  return handle.manager.status().dns![0]!;
};

test('a member that stops listening leaves the answer within fall × interval, and comes back', async () => {
  expect.assertions(5);
  expect((await answerOf('web')).sort()).toEqual(['127.0.3.1', '127.0.3.2', '127.0.3.3']);
  await members.get('127.0.3.3')!.stop();
  const killedAt = Date.now();
  const dropped = await until(async () => !(await inProcess('web')).includes('127.0.3.3'), 15_000, 20);
  const elapsed = Date.now() - killedAt;
  expect(dropped).toBe(true);
  // fall checks, interval (±10 % jitter) apart, plus one check that may have started just before: generous margin for a loaded machine.
  expect(elapsed).toBeLessThan(FALL * INTERVAL * 1.1 + INTERVAL + 3000);
  expect((await answerOf('web')).sort()).toEqual(['127.0.3.1', '127.0.3.2']);
  await members.get('127.0.3.3')!.start();
  expect(await until(async () => (await inProcess('web')).includes('127.0.3.3'))).toBe(true);
});

test('an address in several records is one member with one check', async () => {
  expect.assertions(3);
  const m = (await dnsStatus()).members.filter((s) => s.address === '127.0.3.1');
  expect(m).toHaveLength(1);
  expect(m[0]!.checks).toHaveLength(1);
  // 127.0.3.1 is in two records, 127.0.6.2 in one: both are probed at the same rate.
  const shared = members.get('127.0.3.1')!;
  const single = members.get('127.0.6.2')!;
  shared.accepted = single.accepted = 0;
  await new Promise((r) => setTimeout(r, 10 * INTERVAL));
  expect(shared.accepted).toBeLessThanOrEqual(single.accepted + 3);
});

test('failover: the primary while it is healthy, the secondary when it is down, and back', async () => {
  expect.assertions(4);
  expect(await answerOf('fo')).toEqual(['127.0.6.1']);
  await members.get('127.0.6.1')!.stop();
  expect(await until(async () => (await inProcess('fo'))[0] === '127.0.6.2')).toBe(true);
  expect(await answerOf('fo')).toEqual(['127.0.6.2']);
  await members.get('127.0.6.1')!.start();
  expect(await until(async () => (await inProcess('fo'))[0] === '127.0.6.1')).toBe(true);
});

test('weighted: one address per answer, shares within ±3 % over 10,000 queries; weight 0 only when the rest are down', async () => {
  expect.assertions(6);
  const counts = new Map<string, number>();
  const total = 10_000;
  for (let sent = 0; sent < total; sent += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, () => inProcess('w')));
    for (const answer of batch) {
      if (answer.length !== 1) throw new Error(`weighted answer with ${answer.length} records`);
      counts.set(answer[0]!, (counts.get(answer[0]!) ?? 0) + 1);
    }
  }
  expect(Math.abs(counts.get('127.0.7.1')! / total - 200 / 255)).toBeLessThan(0.03);
  expect(Math.abs(counts.get('127.0.7.2')! / total - 55 / 255)).toBeLessThan(0.03);
  expect(counts.get('127.0.7.3') ?? 0).toBe(0);
  const dig1 = await dig(port, ['w.gslb.test', 'A']);
  expect(addresses(dig1)).toHaveLength(1);
  await members.get('127.0.7.1')!.stop();
  await members.get('127.0.7.2')!.stop();
  expect(await until(async () => (await inProcess('w'))[0] === '127.0.7.3')).toBe(true);
  await members.get('127.0.7.1')!.start();
  await members.get('127.0.7.2')!.start();
  expect(await until(async () => (await inProcess('w'))[0] !== '127.0.7.3')).toBe(true);
});

test('multivalue: at most 8 healthy addresses, a varying subset of 12; all down → 8 anyway', async () => {
  expect.assertions(4);
  const seen = new Set<string>();
  let largest = 0;
  for (let i = 0; i < 24; i++) {
    const a = await inProcess('mv');
    largest = Math.max(largest, a.length);
    for (const x of a) seen.add(x);
  }
  expect(largest).toBe(8);
  expect([...seen].sort()).toEqual([...MULTI].sort());
  const down = await dig(port, ['mvdown.gslb.test', 'A']);
  expect(down.status).toBe('NOERROR');
  expect(addresses(down)).toHaveLength(8);
});

test('whenAllDown: servfail answers SERVFAIL, empty answers NODATA', async () => {
  expect.assertions(4);
  const sf = await dig(port, ['sf.gslb.test', 'A']);
  expect(sf.status).toBe('SERVFAIL');
  const em = await dig(port, ['em.gslb.test', 'A']);
  expect(em.status).toBe('NOERROR');
  expect(em.answer).toEqual([]);
  expect(em.authority[0]).toMatch(/^gslb\.test\. \d+ IN SOA /);
});

test('the admin API drains and disables a member as a backend; status says what each record answers and why', async () => {
  expect.assertions(7);
  const admin = `http://127.0.0.1:${handle.admin!.port}`;
  const post = (path: string) => fetch(`${admin}${path}`, { method: 'POST' });
  const drained = await post('/services/gslb/backends/127.0.3.2/drain');
  expect(drained.status).toBe(200);
  expect(((await drained.json()) as { state: string }).state).toBe('draining');
  expect((await answerOf('web')).sort()).toEqual(['127.0.3.1', '127.0.3.3']);
  const web = (await dnsStatus()).records.find((r) => r.name === 'web.gslb.test')!;
  expect(web.answering[0]).toEqual({ location: null, mode: 'answer', addresses: ['127.0.3.1', '127.0.3.3'], why: '2 of 3 up' });
  await post('/services/gslb/backends/127.0.3.2/enable');
  expect((await answerOf('web')).sort()).toEqual(['127.0.3.1', '127.0.3.2', '127.0.3.3']);
  const missing = await post('/services/gslb/backends/127.9.9.9/disable');
  expect(missing.status).toBe(404);
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  expect(metrics).toMatch(/fulcrum_dns_answers_total\{service="gslb",record="w\.gslb\.test\/A",member="127\.0\.7\.1"\} \d+/);
});

test('a raw query with an unknown class is refused', async () => {
  const q = packet.encode({ id: 99, type: 'query', questions: [{ name: 'web.gslb.test', type: 'A', class: 'CH' }] });
  const reply = await client.sendRaw(q);
  expect(rcode(reply!)).toBe('REFUSED');
});
