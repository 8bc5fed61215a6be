import net from 'node:net';
import type { ServiceConfig } from '../../src/config/types';
import { start, type FulcrumHandle } from '../../src/index';
import type { Service } from '../../src/manager/service';
import { HealthFlag } from '../../src/pool/backend';
import { backend, fulcrumConfig, tcpService, timeouts } from '../helpers/config';
import { close, connect, listen, until } from '../helpers/net';

/**
 * A close fulcrum forces on a live session cuts the stream: both peers must
 * see a reset, never a FIN they could take for the end of a complete stream.
 */

const handles: FulcrumHandle[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  // Half-open ones (a FIN in, none out) would keep their server from closing.
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => close(s)));
});

/** How a socket's incoming stream ended: 'FIN', the error code of a reset, or 'closed' (neither). */
function ending(s: net.Socket): Promise<string> {
  s.on('data', () => {});
  return new Promise((resolve) => {
    s.once('end', () => resolve('FIN'));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    s.once('close', () => resolve('closed'));
  });
}

/** A backend that answers the first bytes and then keeps the session open; `endings` says how each of its sockets ended. */
async function holder() {
  const endings: Array<Promise<string>> = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    endings.push(ending(s));
    s.once('data', () => s.write('hello'));
  });
  servers.push(server);
  return { endings, port: await listen(server) };
}

/** One live session (a byte each way has crossed), and the promises of how each end of it ends. */
async function liveSession(extra: Partial<ServiceConfig>, config: { shutdownTimeout?: number } = {}) {
  const b = await holder();
  const h = await start(fulcrumConfig([tcpService([backend(b.port)], extra)], config));
  handles.push(h);
  const svc = h.manager.services[0];
  const client = await connect(svc.address!.port);
  sockets.push(client);
  const clientEnding = ending(client);
  const greeted = new Promise((r) => client.once('data', r));
  client.write('hi');
  await greeted;
  await until(() => b.endings.length === 1);
  return { h, svc, client, clientEnding, backendEnding: b.endings[0] };
}

const forced: Array<[string, Partial<ServiceConfig>, (svc: Service, h: FulcrumHandle) => void]> = [
  ['operator disable', {}, (svc) => svc.states.act(svc.pool.backends[0], 'disable')],
  ['drain deadline', { drainTimeout: 200 }, (svc) => svc.states.act(svc.pool.backends[0], 'drain')],
  ['backend marked down with onBackendDown: close', { onBackendDown: 'close' }, (svc) => svc.states.update(svc.pool.backends[0], HealthFlag.FailedActiveCheck, 0)],
  ['shutdown deadline', {}, (_svc, h) => void h.stop(200)],
  ['maxLifetime', { timeouts: timeouts({ maxLifetime: 300 }) }, () => {}],
];

test.each(forced)('%s: client and backend both get a reset', async (_name, extra, trigger) => {
  expect.assertions(3);
  const { h, svc, clientEnding, backendEnding } = await liveSession(extra);
  trigger(svc, h);
  expect(await clientEnding).toBe('ECONNRESET');
  expect(await backendEnding).toBe('ECONNRESET');
  await until(() => svc.proxy.sessions.size === 0);
  expect(svc.pool.backends[0].active).toBe(0);
});

test('half-close timeout: the client still waiting for the reply gets a reset, not a FIN', async () => {
  expect.assertions(1);
  const { svc, client, clientEnding } = await liveSession({ timeouts: timeouts({ halfClose: 200 }) });
  client.end(); // the backend never finishes its side
  expect(await clientEnding).toBe('ECONNRESET');
  await until(() => svc.proxy.sessions.size === 0);
});

test('idle timeout is a normal close: both sides get a FIN', async () => {
  expect.assertions(2);
  const { svc, clientEnding, backendEnding } = await liveSession({ timeouts: timeouts({ idle: 200 }) });
  expect(await clientEnding).toBe('FIN');
  expect(await backendEnding).toBe('FIN');
  await until(() => svc.proxy.sessions.size === 0);
});
