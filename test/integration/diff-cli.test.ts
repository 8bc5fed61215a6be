import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MaglevBalancer, MAGLEV_TABLE_SIZE } from '../../src/balancer';
import { loadConfigFile } from '../../src/config';
import { start, type FulcrumHandle } from '../../src/index';
import { Backend } from '../../src/pool/backend';
import { backend } from '../helpers/config';
import { runCli, spawnCli } from '../helpers/cli';
import { echoServer, until } from '../helpers/net';

/**
 * `fulcrum diff -c new.yaml` against a running fulcrum: what a reload would
 * change, and the exact share of source-hash clients that would move,
 * checked against the real balancer picking every slot of both tables.
 */

let dir: string;
let h: FulcrumHandle;
let ports: number[];
const servers: Array<{ server: import('node:net').Server }> = [];

function configText(hashBackends: number[], rrBackends: number[]): string {
  const list = (idx: number[]) => idx.map((i) => `      - { address: "127.0.0.1:${ports[i]}", name: b${i + 1} }`).join('\n');
  return `
admin: { listen: 127.0.0.1:0 }
services:
  - name: hash
    listen: 127.0.0.1:0
    balance: source-hash
    health: { interval: 100ms, rise: 1 }
    backends:
${list(hashBackends)}
  - name: rr
    listen: 127.0.0.1:0
    balance: round-robin
    health: { interval: 100ms, rise: 1 }
    backends:
${list(rrBackends)}
`;
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-diff-'));
  for (let i = 0; i < 6; i++) servers.push(await echoServer());
  ports = servers.map((s) => (s.server.address() as import('node:net').AddressInfo).port);
  const file = write('running.yaml', configText([0, 1, 2, 3, 4], [5]));
  const config = loadConfigFile(file);
  config.log.level = 'silent';
  h = await start(config, { configFile: file });
  await until(() => h.manager.services.every((s) => s.pool.backends.every((b) => b.usable)), 10_000);
});
afterAll(async () => {
  await h.stop(0);
  for (const s of servers) s.server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Slots whose owner differs, picked by the balancer itself (sourceHash % M is the slot). */
function expectedMoves(before: number[], after: number[]): number {
  const table = (idx: number[]) => {
    const m = new MaglevBalancer();
    m.rebuild(idx.map((i) => new Backend(backend(ports[i], { name: `b${i + 1}` }))));
    return m;
  };
  const a = table(before);
  const b = table(after);
  let moved = 0;
  for (let slot = 0; slot < MAGLEV_TABLE_SIZE; slot++) {
    if (a.pick({ sourceHash: slot, tried: [] })!.name !== b.pick({ sourceHash: slot, tried: [] })!.name) moved++;
  }
  return moved;
}

async function diff(file: string, json = true) {
  const r = await runCli(['diff', '-c', file, '--admin', `http://${h.admin!.text}`, ...(json ? ['--json'] : [])]);
  expect(r.code).toBe(0);
  return json ? JSON.parse(r.stdout).services : r.stdout;
}

test('removing one of five source-hash backends moves exactly the slots whose owner changes', async () => {
  expect.assertions(7);
  const moved = expectedMoves([0, 1, 2, 3, 4], [0, 1, 3, 4]);
  // The removed backend's fifth of the table, and only a little more.
  expect(moved / MAGLEV_TABLE_SIZE).toBeGreaterThan(0.19);
  const [hash, rr] = await diff(write('minus-b3.yaml', configText([0, 1, 3, 4], [5])));
  expect(hash).toMatchObject({ name: 'hash', status: 'changed', change: { removed: ['b3'], added: [], reweighted: [], movedSlots: moved, slots: 65537 } });
  expect(hash.movedShare).toBe(moved / 65537);
  expect(rr).toMatchObject({ name: 'rr', status: 'unchanged', movedShare: null });
  const text = await diff(write('minus-b3.yaml', configText([0, 1, 3, 4], [5])), false);
  expect(text).toContain(`hash (source-hash): 1 removed; source-hash clients that move: ${((100 * moved) / 65537).toFixed(2)} % (${moved} of 65537 table slots)\n  - b3\n`);
});

test('a change that does not touch a source-hash service moves no source-hash client', async () => {
  expect.assertions(3);
  const [hash, rr] = await diff(write('rr-plus.yaml', configText([0, 1, 2, 3, 4], [5, 0])));
  expect(hash).toMatchObject({ status: 'unchanged', movedShare: 0, change: { movedSlots: 0 } });
  expect(rr).toMatchObject({ status: 'changed', change: { added: ['b1'], movedSlots: null } });
});

test('a reload logs the figure diff predicted', async () => {
  expect.assertions(4);
  const file = write('cli.yaml', configText([0, 1, 2, 3, 4], [5]));
  const p = spawnCli(['run', '-c', file]);
  try {
    const admin = JSON.parse(await p.waitFor((l) => l.includes('"admin API listening"'))).admin;
    await p.waitFor((l) => l.includes('"service listening"') && l.includes('"service":"rr"'));
    fs.writeFileSync(file, configText([0, 1, 3, 4], [5]));
    const predicted = JSON.parse((await runCli(['diff', '-c', file, '--admin', admin, '--json'])).stdout).services[0].change;
    expect(predicted.movedSlots).toBe(expectedMoves([0, 1, 2, 3, 4], [0, 1, 3, 4]));
    p.child.kill('SIGHUP');
    const logged = JSON.parse(await p.waitFor((l) => l.includes('"backends changed"')));
    expect(logged).toMatchObject({ service: 'hash', cause: 'reload', removed: ['b3'], movedSlots: predicted.movedSlots, slots: 65537 });
    expect(logged.moved).toBe(`${((100 * predicted.movedSlots) / 65537).toFixed(2)} %`);
  } finally {
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  }
});
