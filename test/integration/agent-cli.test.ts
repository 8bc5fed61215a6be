import { spawn } from 'node:child_process';
import os from 'node:os';
import { parseAgentLine } from '../../src/manager/health/agent';
import { weightFor, DEFAULT_POLICY } from '../../src/agent/policy';
import { spawnCli, runCli, type CliProcess } from '../helpers/cli';
import { connect, readAll } from '../helpers/net';

/** `fulcrum agent` on the real /proc, with a bounded CPU burner. */
const procs: CliProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill('SIGKILL');
});

async function ask(port: number): Promise<string> {
  const c = await connect(port);
  return (await readAll(c)).toString();
}

/** One busy-looping child per CPU for `ms`; resolves with the CPU ms they used in total. */
function burn(ms: number): Promise<number> {
  const code = `const end = Date.now() + ${ms}; let x = 0; while (Date.now() < end) x++; const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000));`;
  const children = Array.from({ length: os.availableParallelism() }, () => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    return new Promise<number>((resolve) => child.on('exit', () => resolve(Number(out) || 0)));
  });
  return Promise.all(children).then((cpu) => cpu.reduce((a, b) => a + b, 0));
}

const cpuOf = (line: string) => Number(/cpu (\d+)%/.exec(line)?.[1]);

test('answers one agent line per connection, with CPU, memory and load; CPU use reflects a burner', async () => {
  expect.assertions(6);
  const p = spawnCli(['agent', '--listen', '127.0.0.1:0', '--interval', '500ms'], { FULCRUM_LOG_LEVEL: 'debug' });
  procs.push(p);
  const started = JSON.parse(await p.waitFor((l) => l.includes('"agent listening"')));
  const port = Number(String(started.listen).split(':')[1]);
  const line = await ask(port);
  expect(line).toMatch(/^up (ready|drain) \d+% #.*cpu \d+% mem \d+% load \d+\.\d\d\/\d+\n$/);
  const report = parseAgentLine(line.trim())!;
  expect(report.percent).toBe(weightFor(cpuOf(line), DEFAULT_POLICY));

  // Readings logged while the burner runs: skip the first interval (it straddles the start).
  const BURN = 3000;
  const t0 = Date.now();
  const burnt = burn(BURN);
  const readings: Array<{ at: number; cpu: number }> = [];
  p.child.stdout!.on('data', (d) => {
    for (const l of String(d).split('\n')) if (l.includes('"reading"')) readings.push({ at: Date.now(), cpu: cpuOf(JSON.parse(l).line) });
  });
  const cpuMs = await burnt;
  const wall = Date.now() - t0;
  const inside = readings.filter((r) => r.at > t0 + 700 && r.at < t0 + BURN);
  expect(inside.length).toBeGreaterThanOrEqual(2);
  // The host was at least as busy as the burners were: their share of all CPUs is a floor for the figure.
  const burnerShare = (cpuMs / (wall * os.availableParallelism())) * 100;
  const mean = inside.reduce((s, r) => s + r.cpu, 0) / inside.length;
  expect(burnerShare).toBeGreaterThan(5);
  expect(mean).toBeGreaterThanOrEqual(burnerShare - 15);
  // A line during a burn still parses, with the weight the thresholds give for its CPU figure.
  const busy = await ask(port);
  expect(parseAgentLine(busy.trim())?.percent).toBe(weightFor(cpuOf(busy), DEFAULT_POLICY));
  process.stdout.write(`fulcrum agent: burner share ${burnerShare.toFixed(0)}%, agent cpu mean ${mean.toFixed(0)}% over ${inside.length} readings\n`);
}, 30_000);

test('bad flags exit 2 naming the flag', async () => {
  expect.assertions(3);
  const r = await runCli(['agent', '--listen', 'nowhere', '--interval', '1s']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--listen: ');
  expect((await runCli(['agent', '--cpu-target', '150'])).stderr).toContain('--cpu-target: must be a number between 0 and 100 (got "150")');
});
