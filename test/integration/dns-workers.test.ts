/**
 * DNS served by every data-plane worker (issue #16 item 5): the main thread
 * keeps the checks and zones, each worker answers over UDP and TCP from its
 * own copy. Two workers need SO_REUSEPORT (Node 22.12+): on an older Node
 * the same paths run with one worker thread, and what needs two is skipped
 * and says why.
 */
import * as packet from 'dns-packet';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile, start, type FulcrumHandle } from '../../src/index';
import type { DnsServiceStatus } from '../../src/dns/status';
import { reusePortSupported } from '../../src/proxy/reuse-port';
import { addresses, dig, DnsClient, freePort, Member, until } from '../helpers/dns';

const MULTI = reusePortSupported();
const WHY = MULTI ? 'two workers' : 'one worker thread: SKIPPED the two-worker checks on this Node (SO_REUSEPORT listeners need Node 22.12+)';
const N = MULTI ? 2 : 1;
const multi = MULTI ? test : test.skip;
const WEB = ['127.0.8.1', '127.0.8.2', '127.0.8.3'];
/** Client sockets (source ports): the kernel spreads them over the workers by hash. */
const CLIENTS = 24;

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-dns-workers-')), 'fulcrum.yaml');
const write = (port: number, checkPort: number, web: string) =>
  fs.writeFileSync(
    file,
    `
log: { level: silent }
admin: { listen: 127.0.0.1:0 }
workers: ${N}
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:${port}
    zones:
      - name: gslb.test
        ns: [ { name: ns1.gslb.test, address: 127.0.0.53 } ]
        records:
          - { name: web, health: { interval: 200ms, timeout: 500ms, rise: 1, fall: 2, port: ${checkPort} }, members: [ ${web} ] }
          - { name: fixed, health: { enabled: false }, members: [ { address: 127.0.9.1 } ] }
`,
  );

let handle: FulcrumHandle;
let port: number;
let checkPort: number;
const members: Member[] = [];
const clients: DnsClient[] = [];

beforeAll(async () => {
  checkPort = await freePort();
  for (const host of WEB) {
    const m = new Member(host, checkPort);
    await m.start();
    members.push(m);
  }
  write(0, checkPort, WEB.map((a) => `{ address: ${a} }`).join(', '));
  handle = await start(loadConfigFile(file), { configFile: file, threads: true });
  port = handle.addresses.get('gslb')!.port;
  for (let i = 0; i < CLIENTS; i++) clients.push(new DnsClient(port));
});

afterAll(async () => {
  for (const c of clients) c.close();
  await handle.stop(1000);
  for (const m of members) await m.stop();
});

async function dnsStatus(): Promise<DnsServiceStatus> {
  await handle.manager.collectStats();
  return handle.manager.status().dns!.find((d) => d.name === 'gslb')!;
}

const total = (s: DnsServiceStatus) => Object.values(s.queries).reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
const delta = (after: number[], before: number[]) => after.map((n, w) => n - (before[w] ?? 0));

/** `rounds` A queries for `name` from every client socket; the address lists answered. */
async function fromEveryClient(name: string, rounds: number): Promise<string[][]> {
  const out: string[][] = [];
  for (let r = 0; r < rounds; r++) {
    const replies = await Promise.all(clients.map((c) => c.query(name, 'A')));
    for (const reply of replies) out.push(reply.answers!.map((a) => (a as { data: unknown }).data as string).sort());
  }
  return out;
}

test(`UDP and TCP queries are answered by every worker and counted exactly (${WHY})`, async () => {
  expect.assertions(8);
  const before = await dnsStatus();
  expect(before.workerReplies).toHaveLength(N);
  const udp = await fromEveryClient('fixed.gslb.test', 5);
  expect(udp.every((a) => a.join() === '127.0.9.1')).toBe(true);
  const afterUdp = await dnsStatus();
  // dig over TCP: one connection each, spread over the workers by the kernel.
  const TCP = 16;
  const tcp = [];
  for (let i = 0; i < TCP; i += 4) tcp.push(...(await Promise.all([0, 1, 2, 3].map(() => dig(port, ['fixed.gslb.test', 'A', '+tcp'])))));
  expect(tcp.map(addresses).every((a) => a.join() === '127.0.9.1')).toBe(true);
  const after = await dnsStatus();
  // N queries sent, N counted: the sum over the workers, exactly.
  expect(total(afterUdp) - total(before)).toBe(CLIENTS * 5);
  expect(after.queries.A!.NOERROR! - (before.queries.A?.NOERROR ?? 0)).toBe(CLIENTS * 5 + TCP);
  expect(after.records.find((r) => r.name === 'fixed.gslb.test')!.answered['127.0.9.1']! - (before.records.find((r) => r.name === 'fixed.gslb.test')!.answered['127.0.9.1'] ?? 0)).toBe(CLIENTS * 5 + TCP);
  // Each worker answered some of each (one worker thread: it answered all).
  expect(delta(afterUdp.workerReplies!, before.workerReplies!).every((n) => n > 0)).toBe(true);
  expect(delta(after.workerReplies!, afterUdp.workerReplies!).every((n) => n > 0)).toBe(true);
});

test(`the metrics endpoint shows the workers' sum (${WHY})`, async () => {
  expect.assertions(2);
  const s = await dnsStatus();
  const text = await (await fetch(`http://127.0.0.1:${handle.admin!.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('fulcrum_dns_queries_total{') && l.includes('qtype="A"') && l.includes('rcode="NOERROR"'));
  expect(line).toBeDefined();
  // No query in between: the same sum as /status.
  expect(Number(line!.split(' ').pop())).toBe(s.queries.A!.NOERROR);
});

test(`a member killed leaves the answers of every worker (${WHY})`, async () => {
  expect.assertions(3);
  expect(new Set((await fromEveryClient('web.gslb.test', 1)).flat())).toEqual(new Set(WEB));
  await members[1]!.stop();
  expect(await until(async () => !addresses(await dig(port, ['web.gslb.test', 'A'])).includes(WEB[1]!))).toBe(true);
  const before = await dnsStatus();
  const answers = await fromEveryClient('web.gslb.test', 2);
  const after = await dnsStatus();
  expect({ answers: answers.every((a) => a.join() === [WEB[0], WEB[2]].join()), everyWorker: delta(after.workerReplies!, before.workerReplies!).every((n) => n > 0) }).toEqual({ answers: true, everyWorker: true });
});

test(`a member drained through the admin API leaves every worker's answers before the reply (${WHY})`, async () => {
  expect.assertions(3);
  const url = `http://127.0.0.1:${handle.admin!.port}/services/gslb/backends/${WEB[2]}`;
  expect((await fetch(`${url}/drain`, { method: 'POST' })).status).toBe(200);
  // No wait: the reply comes once every worker has the new answers.
  const answers = await fromEveryClient('web.gslb.test', 2);
  expect(answers.every((a) => a.join() === WEB[0])).toBe(true);
  await fetch(`${url}/enable`, { method: 'POST' });
  expect((await fromEveryClient('web.gslb.test', 1)).every((a) => a.join() === [WEB[0], WEB[2]].join())).toBe(true);
});

test(`reload swaps the records in every worker, the port stays (${WHY})`, async () => {
  expect.assertions(3);
  write(port, checkPort, `{ address: 127.0.8.1 }, { address: 127.0.8.9 }`);
  const report = await handle.reload();
  expect(report.servicesChanged).toEqual(['gslb']);
  const before = await dnsStatus();
  // Right after the reload returns: every worker has the new zones.
  const answers = await fromEveryClient('web.gslb.test', 2);
  const after = await dnsStatus();
  expect(answers.every((a) => a.join() === '127.0.8.1')).toBe(true); // 127.0.8.9 has no listener: down
  expect(delta(after.workerReplies!, before.workerReplies!).every((n) => n > 0)).toBe(true);
});

multi(`a worker that dies is replaced and binds its dns listeners again; its counts stay (${WHY})`, async () => {
  expect.assertions(5);
  const before = await dnsStatus();
  expect(before.workerReplies![0]).toBeGreaterThan(0);
  handle.manager.threads!.post(0, { t: 'crash' });
  expect(await until(() => handle.manager.threads!.restarts === 1)).toBe(true);
  // The sibling answers meanwhile; the replacement replays the zones, binds, and answers its share.
  expect(
    await until(async () => {
      await fromEveryClient('fixed.gslb.test', 1);
      return (await dnsStatus()).workerReplies![0]! > 0;
    }),
  ).toBe(true);
  const mid = await dnsStatus();
  // The dead worker's counts (to its last snapshot, taken just before) are still in the sum.
  expect(total(mid)).toBeGreaterThanOrEqual(total(before) + CLIENTS);
  await fromEveryClient('fixed.gslb.test', 3);
  const after = await dnsStatus();
  expect(total(after) - total(mid)).toBe(CLIENTS * 3);
});

test(`stop closes the listeners of every worker (${WHY})`, async () => {
  expect.assertions(2);
  await handle.stop(1000);
  const reply = await clients[0]!.sendRaw(packet.encode({ id: 7, type: 'query', questions: [{ name: 'fixed.gslb.test', type: 'A', class: 'IN' }] }), 500);
  expect(reply).toBeNull();
  expect((await dig(port, ['fixed.gslb.test', 'A', '+tcp'])).status).toBe('none');
});
