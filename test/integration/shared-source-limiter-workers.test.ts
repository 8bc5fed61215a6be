/**
 * SharedSourceLimiter across real worker threads: one table, four workers
 * racing on it. The workers load the module (and the one it imports,
 * source-limiter) as plain JavaScript, transpiled here with TypeScript's
 * transpileModule, so this runs the same under ts-jest on every Node.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { SharedSourceLimiter, sharedClock } from '../../src/admission/shared-source-limiter';
import type { SourceLimiterOptions } from '../../src/admission/source-limiter';

const WORKERS = 4;
let dir: string;
let modulePath: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-ssl-'));
  for (const name of ['shared-source-limiter', 'source-limiter']) {
    const source = fs.readFileSync(path.join(__dirname, `../../src/admission/${name}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    });
    fs.writeFileSync(path.join(dir, `${name}.js`), outputText);
  }
  modulePath = path.join(dir, 'shared-source-limiter.js');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Runs in each worker: attach, then one scenario. `ctl` words: 0 barrier count, 1 barrier generation,
// 2.. scenario results. A barrier lines all workers up before each racing step.
const WORKER_CODE = `
const { workerData, parentPort } = require('node:worker_threads');
const { SharedSourceLimiter, sharedClock } = require(workerData.modulePath);
const { memory, options, scenario, id, n } = workerData;
const ctl = new Int32Array(workerData.ctl);
const lim = SharedSourceLimiter.attach(memory, options);
function barrier() {
  const gen = Atomics.load(ctl, 1);
  if (Atomics.add(ctl, 0, 1) === n - 1) {
    Atomics.store(ctl, 0, 0);
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  } else {
    while (Atomics.load(ctl, 1) === gen) Atomics.wait(ctl, 1, gen);
  }
}
const R = 2; // first result word
const out = {};
if (scenario === 'hold') {
  // Each round: everyone tries to hold 3 connections of one IP at once; ctl[R + round] counts the admitted.
  const { rounds, tries } = workerData;
  const refused = {};
  for (let round = 0; round < rounds; round++) {
    barrier();
    let got = 0;
    for (let t = 0; t < tries; t++) {
      const r = lim.acquire('198.51.100.7');
      if (r === 'ok') got++;
      else refused[r] = (refused[r] || 0) + 1;
    }
    Atomics.add(ctl, R + round, got);
    barrier();
    for (let t = 0; t < got; t++) lim.release('::ffff:198.51.100.7');
  }
  out.refused = refused;
} else if (scenario === 'churn') {
  // acquire/release thousands of times over a few IPs; ctl[R + k] counts what is held of IP k right now,
  // ctl[R + 8 + k] the most ever held at once.
  const { iterations, ips } = workerData;
  let seed = 12345 + id * 7919;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const held = [];
  let oks = 0;
  barrier();
  for (let i = 0; i < iterations; i++) {
    if (held.length < 2 && (held.length === 0 || rand() < 0.5)) {
      const k = Math.floor(rand() * ips.length);
      if (lim.acquire(ips[k]) === 'ok') {
        oks++;
        const now = Atomics.add(ctl, R + k, 1) + 1;
        let max = Atomics.load(ctl, R + 8 + k);
        while (now > max) {
          const seen = Atomics.compareExchange(ctl, R + 8 + k, max, now);
          if (seen === max) break;
          max = seen;
        }
        held.push(k);
      }
    } else {
      const k = held.splice(Math.floor(rand() * held.length), 1)[0];
      Atomics.sub(ctl, R + k, 1); // before release: the count can only lag the limiter's, never lead it
      lim.release(ips[k]);
    }
  }
  for (const k of held) {
    Atomics.sub(ctl, R + k, 1);
    lim.release(ips[k]);
  }
  out.oks = oks;
} else if (scenario === 'script') {
  // Steps, each after a barrier: acquire or release a list of IPs; results go back in order.
  const results = [];
  for (const step of workerData.steps[id]) {
    barrier();
    results.push(step.ips.map((ip) => (step.op === 'acquire' ? lim.acquire(ip) : (lim.release(ip), 'released'))));
  }
  out.results = results;
} else if (scenario === 'die-holding-lock') {
  lim.acquire('192.0.2.1');
  lim.lock(); // as if terminate() stopped this thread inside an operation
  parentPort.postMessage({ locked: true });
  Atomics.wait(ctl, 63, 0); // parked until terminated
} else if (scenario === 'clock') {
  out.now = sharedClock.now();
}
parentPort.postMessage(out);
`;

interface Run {
  ctl: Int32Array;
  outs: Record<string, unknown>[];
}

async function runWorkers(lim: SharedSourceLimiter, options: SourceLimiterOptions, scenario: string, data: Record<string, unknown> = {}, ctlWords = 64): Promise<Run> {
  const ctl = new SharedArrayBuffer(ctlWords * 4);
  const outs = await Promise.all(
    Array.from(
      { length: WORKERS },
      (_, id) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const worker = new Worker(WORKER_CODE, {
            eval: true,
            workerData: { modulePath, memory: lim.memory, options, scenario, id, n: WORKERS, ctl, ...data },
          });
          let out: Record<string, unknown> | undefined;
          worker.on('message', (m: Record<string, unknown>) => (out = m));
          worker.on('error', reject);
          worker.on('exit', (code) => (code === 0 && out !== undefined ? resolve(out) : reject(new Error(`worker ${id} exited ${code}`))));
        }),
    ),
  );
  return { ctl: new Int32Array(ctl), outs };
}

test('maxConnections 5, four workers each trying to hold 3 of one IP: exactly 5 admitted, every round', async () => {
  const options = { maxConnections: 5 };
  const lim = SharedSourceLimiter.create(options);
  const rounds = 500;
  const { ctl, outs } = await runWorkers(lim, options, 'hold', { rounds, tries: 3 }, 2 + rounds);
  const admitted = Array.from(ctl.subarray(2, 2 + rounds));
  expect(admitted.filter((a) => a !== 5)).toEqual([]);
  const refused = outs.map((o) => o.refused as Record<string, number>);
  expect(refused.reduce((sum, r) => sum + (r.max_connections ?? 0), 0)).toBe(rounds * (WORKERS * 3 - 5));
  expect(refused.every((r) => Object.keys(r).every((k) => k === 'max_connections'))).toBe(true);
  expect(lim.stats()).toEqual({ size: 0, idle: 0, active: 0, evictions: 0 });
});

test('four workers acquire/release 20,000 times each over 3 IPs: never more than the cap held at once', async () => {
  const options = { maxConnections: 3, ratePerSecond: 1e9, burst: 1e6, tableSize: 2 };
  const lim = SharedSourceLimiter.create(options);
  const ips = ['203.0.113.1', '2001:db8::1', '203.0.113.2'];
  const { ctl, outs } = await runWorkers(lim, options, 'churn', { iterations: 20_000, ips });
  const maxHeld = Array.from(ctl.subarray(10, 10 + ips.length));
  // Never passed; reached (the race was real) at least for one IP.
  expect(maxHeld.filter((m) => m > 3)).toEqual([]);
  expect(Math.max(...maxHeld)).toBe(3);
  expect(Array.from(ctl.subarray(2, 2 + ips.length))).toEqual([0, 0, 0]);
  expect(outs.reduce((sum, o) => sum + (o.oks as number), 0)).toBeGreaterThan(10_000);
  const stats = lim.stats();
  expect(stats.active).toBe(0);
  expect(stats.size).toBeLessThanOrEqual(2);
});

test('the rate limit is one bucket across threads: burst 10 admits exactly 10 of 4 x 10 attempts', async () => {
  const options = { ratePerSecond: 0.001, burst: 10 };
  const lim = SharedSourceLimiter.create(options);
  const steps = Array.from({ length: WORKERS }, () => [{ op: 'acquire', ips: Array(10).fill('192.0.2.99') }]);
  const { outs } = await runWorkers(lim, options, 'script', { steps });
  const results = outs.flatMap((o) => (o.results as string[][])[0]);
  expect(results.filter((r) => r === 'ok')).toHaveLength(10);
  expect(results.filter((r) => r === 'rate_limit')).toHaveLength(30);
  expect(lim.acquire('192.0.2.99')).toBe('rate_limit'); // and the main thread sees the same bucket
});

test('tableSize 8 shared: 16 new IPs at once from 4 workers give exactly 8 ok and 8 table_full; idle entries are evicted for new ones', async () => {
  const options = { maxConnections: 1, ratePerSecond: 0.001, burst: 1, tableSize: 8 };
  const lim = SharedSourceLimiter.create(options);
  const ip = (w: number, j: number, base: number): string => `10.${base}.${w}.${j}`;
  const steps = Array.from({ length: WORKERS }, (_, w) => {
    const first = [0, 1, 2, 3].map((j) => ip(w, j, 1));
    const second = [0, 1, 2, 3].map((j) => ip(w, j, 2));
    return [
      { op: 'acquire', ips: first }, // 16 new IPs race for 8 entries
      { op: 'release', ips: first }, // the admitted go idle (spent bucket: kept)
      { op: 'acquire', ips: second }, // 16 more: the 8 idle are evicted for 8 of them
    ];
  });
  const { outs } = await runWorkers(lim, options, 'script', { steps });
  const step = (k: number): string[] => outs.flatMap((o) => (o.results as string[][])[k]);
  expect(step(0).filter((r) => r === 'ok')).toHaveLength(8);
  expect(step(0).filter((r) => r === 'table_full')).toHaveLength(8);
  expect(step(2).filter((r) => r === 'ok')).toHaveLength(8);
  expect(step(2).filter((r) => r === 'table_full')).toHaveLength(8);
  expect(lim.stats()).toEqual({ size: 8, idle: 0, active: 8, evictions: 8 });
});

test('a worker terminated while holding the lock: recoverFrom(threadId) frees the table for everyone else', async () => {
  const options = { maxConnections: 1, tableSize: 4 };
  const lim = SharedSourceLimiter.create(options);
  expect(lim.acquire('192.0.2.2')).toBe('ok');
  const worker = new Worker(WORKER_CODE, {
    eval: true,
    workerData: { modulePath, memory: lim.memory, options, scenario: 'die-holding-lock', id: 0, n: 1, ctl: new SharedArrayBuffer(256) },
  });
  const threadId = worker.threadId;
  try {
    await new Promise<void>((resolve, reject) => {
      worker.on('message', () => resolve());
      worker.on('error', reject);
    });
    expect(Atomics.load(new Int32Array(lim.memory), 0)).not.toBe(0); // the worker holds the lock
  } finally {
    await worker.terminate(); // the caller's part: recoverFrom only after the thread is gone
  }
  expect(lim.recoverFrom(threadId + 1)).toBe(false);
  expect(lim.recoverFrom(threadId)).toBe(true);
  expect(lim.stats()).toEqual({ size: 2, idle: 0, active: 2, evictions: 0 });
  expect(lim.acquire('192.0.2.1')).toBe('max_connections'); // the dead worker's connection is still counted
  expect(lim.acquire('192.0.2.3')).toBe('ok');
});

test('every thread reads the same clock', async () => {
  const options = { maxConnections: 1 };
  const lim = SharedSourceLimiter.create(options);
  const before = sharedClock.now();
  const { outs } = await runWorkers(lim, options, 'clock');
  const after = sharedClock.now();
  for (const o of outs) {
    expect(o.now as number).toBeGreaterThanOrEqual(before - 1);
    expect(o.now as number).toBeLessThanOrEqual(after + 1);
  }
});
