import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseConfigText } from '../../src/config';
import { start, type FulcrumHandle } from '../../src/index';
import { echoServer, until } from '../helpers/net';
import { formatStatus } from '../../cli/status';

/**
 * `file:` entries: a watched list of backends, re-read on change (atomic
 * rename included); a file that does not parse, validate or exist keeps the
 * last good set. Through a YAML config, so the schema and reload paths are
 * the real ones.
 */

const handles: FulcrumHandle[] = [];
const dirs: string[] = [];
const servers: Array<{ server: import('node:net').Server }> = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  for (const s of servers.splice(0)) s.server.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-file-'));
  dirs.push(d);
  return d;
}

/** Write-then-rename, as configuration management tools do. */
function replaceAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function startWith(file: string, interval = '5s'): Promise<FulcrumHandle> {
  // A long interval: the watch, not the poll, must notice the edits.
  const config = parseConfigText(`
discovery: { interval: ${interval} }
admin: { enabled: false }
log: { level: silent }
services:
  - name: svc
    listen: 127.0.0.1:0
    health: { enabled: false }
    slowStart: 1m
    backends: [ { file: "${file}", weight: 2 } ]
`);
  const h = await start(config);
  handles.push(h);
  return h;
}

const backends = (h: FulcrumHandle) =>
  h.manager.services[0].pool.backends
    .filter((b) => b.usable)
    .map((b) => `${b.name}=${b.weight}`)
    .sort();
const status = (h: FulcrumHandle) => h.manager.status().services[0].discovery![0];

test('a watched file: edits (atomic rename or in place) are followed; bad or missing files keep the last set', async () => {
  expect.assertions(11);
  const [a, b, c] = await Promise.all([echoServer(), echoServer(), echoServer()]);
  servers.push(a, b, c);
  const dir = tempDir();
  const file = path.join(dir, 'pg.yaml');
  writeFileSync(file, `- { address: "127.0.0.1:${a.port}", name: a }\n- { address: "127.0.0.1:${b.port}", weight: 5 }\n`);
  const h = await startWith(file);
  // Items' own settings win; the entry's weight is the default.
  expect(backends(h)).toEqual(['a=2', `127.0.0.1:${b.port}=5`].sort());

  replaceAtomically(file, JSON.stringify([{ address: `127.0.0.1:${a.port}`, name: 'a' }, { address: `127.0.0.1:${c.port}`, name: 'c', weight: 3 }]));
  await until(() => backends(h).includes('c=3'), 10_000);
  expect(backends(h)).toEqual(['a=2', 'c=3']);
  expect(h.manager.status().services[0].backends.find((x) => x.address === `127.0.0.1:${b.port}`)?.state).toBe('removed');
  // Present at start: full weight; found later: ramped in under slow start.
  const ramp = (name: string) => h.manager.services[0].pool.find(name)!.rampFactor;
  expect([ramp('a'), ramp('c') < 0.5]).toEqual([1, true]);

  // Syntax error: kept, counted as invalid.
  replaceAtomically(file, '- { address: "127.0.0.1:1"\n');
  await until(() => status(h).lookups.invalid >= 1, 10_000);
  expect(backends(h)).toEqual(['a=2', 'c=3']);
  // A hostname in a backend file is refused the same way.
  replaceAtomically(file, '- { address: "db.example:5432" }\n');
  await until(() => status(h).lookups.invalid >= 2, 10_000);
  expect(status(h).failing?.reason).toMatch(/a backend file lists IP addresses/);
  // Gone: kept, counted as missing.
  fs.unlinkSync(file);
  await until(() => status(h).lookups.missing >= 1, 10_000);
  expect(backends(h)).toEqual(['a=2', 'c=3']);
  expect(formatStatus(h.manager.status())).toMatch(/\n {2}file:\S+pg\.yaml: 2 backends, age [\d.]+s, lookups ok 2, invalid 2, missing 1; FAILING missing for [\d.]+s \(.*ENOENT\), last good set kept\n/);

  // Written in place (no rename) with the { backends: [...] } form.
  writeFileSync(file, `backends:\n  - { address: "127.0.0.1:${b.port}", name: b }\n`);
  await until(() => backends(h).join() === 'b=2', 10_000);
  expect(status(h).failing).toBeNull();
  expect(status(h).found).toEqual([{ address: `127.0.0.1:${b.port}`, name: 'b' }]);
  expect(status(h).lookups.ok).toBeGreaterThanOrEqual(3);
});

test('polling at the interval notices a change even without a watch event', async () => {
  expect.assertions(2);
  const a = await echoServer();
  servers.push(a);
  const dir = tempDir();
  const file = path.join(dir, 'list.json');
  writeFileSync(file, JSON.stringify([{ address: `127.0.0.1:${a.port}` }]));
  const h = await startWith(file, '200ms');
  expect(backends(h)).toEqual([`127.0.0.1:${a.port}=2`]);
  // Stop the watcher: only the poll is left.
  (h.manager.discovery as unknown as { runners: Map<string, { source: { close(): void } }> }).runners.get(`file:${file}`)!.source.close();
  writeFileSync(file, JSON.stringify([{ address: `127.0.0.1:${a.port}`, weight: 7 }]));
  await until(() => backends(h).join() === `127.0.0.1:${a.port}=7`, 10_000);
  expect(backends(h)).toEqual([`127.0.0.1:${a.port}=7`]);
});
