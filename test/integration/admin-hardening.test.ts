/**
 * The admin API against hostile or unlucky clients (issue 11, items 2 and
 * 17): silent connections are closed for good, connections beyond
 * admin.maxConnections are refused at accept, and a reload that cannot bind
 * its new listener answers 409 with the reason. A real Manager, loopback only.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../src/config';
import { start, type FulcrumHandle } from '../../src/index';
import { close, fdCount, listen, until } from '../helpers/net';

let dir: string;
const handles: FulcrumHandle[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-admin-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all(servers.splice(0).map((s) => close(s)));
});

const service = (name: string, listen: string) => `  - { name: ${name}, listen: "${listen}", health: { enabled: false }, backends: [{ address: 127.0.0.1:1 }] }\n`;

async function run(admin: string, services = service('a', '127.0.0.1:0')): Promise<{ handle: FulcrumHandle; port: number; file: string }> {
  const file = path.join(dir, `fulcrum-${handles.length}-${Date.now()}.yaml`);
  fs.writeFileSync(file, `log: { level: silent }\nadmin: ${admin}\nservices:\n${services}`);
  const handle = await start(loadConfigFile(file, {}), { configFile: file });
  handles.push(handle);
  return { handle, port: handle.admin!.port, file };
}

/** A client that connects and says nothing; records when the server ended or reset it. */
function silent(port: number): Promise<{ socket: net.Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    sockets.push(socket);
    socket.on('error', () => (closed = true));
    socket.on('end', () => (closed = true));
    socket.on('close', () => (closed = true));
    socket.resume();
    socket.once('connect', () => resolve({ socket, closed: () => closed }));
    socket.once('error', reject);
  });
}

function post(port: number, urlPath: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a silent connection gets a 408 within seconds and is then closed for good, not left half-open', async () => {
  expect.assertions(2);
  const { port } = await run('{ listen: 127.0.0.1:0 }');
  const before = fdCount();
  const { socket, closed } = await silent(port);
  let reply = '';
  socket.on('data', (d) => (reply += d));
  // headersTimeout 5 s, checked every second; node's defaults took ~35 s.
  await until(closed, 15_000, 50);
  expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  // The client keeps its side open (allowHalfOpen): the server's socket must be gone anyway,
  // leaving only the client's descriptor in this process (it was two while connected).
  await until(() => fdCount() <= before + 1, 5000, 50).catch(() => undefined);
  expect(fdCount()).toBe(before + 1);
}, 30_000);

test('connections beyond admin.maxConnections are closed at accept', async () => {
  expect.assertions(2);
  const { port } = await run('{ listen: 127.0.0.1:0, maxConnections: 4 }');
  const clients: Array<{ socket: net.Socket; closed: () => boolean }> = [];
  for (let i = 0; i < 8; i++) clients.push(await silent(port));
  // The four beyond the cap are closed at once (long before any timeout).
  await until(() => clients.filter((c) => c.closed()).length >= 4, 3000, 20);
  expect(clients.filter((c) => c.closed()).length).toBe(4);
  expect(clients.slice(0, 4).every((c) => !c.closed())).toBe(true);
});

test('POST /reload with a listen address in use answers 409 with the reason, and the old config keeps running', async () => {
  expect.assertions(4);
  const busy = net.createServer();
  servers.push(busy);
  const busyPort = await listen(busy);
  const { port, file } = await run('{ listen: 127.0.0.1:0 }');
  fs.appendFileSync(file, service('b', `127.0.0.1:${busyPort}`));
  const answer = await post(port, '/reload');
  expect(answer.status).toBe(409);
  expect(answer.body.error.code).toBe('ERR_FULCRUM_LISTEN');
  expect(answer.body.error.message).toBe(`service b: cannot listen on 127.0.0.1:${busyPort}: EADDRINUSE`);
  expect(handles[0]!.addresses.has('b')).toBe(false);
});
