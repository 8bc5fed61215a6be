import dgram from 'node:dgram';
import type { PeerConfig } from '../../src/config/types';
import { Manager } from '../../src/manager/manager';
import { timerErrors } from '../../src/timers';
import { backend, ep, fulcrumConfig, tcpService } from '../helpers/config';
import { until } from '../helpers/net';

/**
 * Issue 11 item 1: a backend name the pair's session sync cannot carry (over
 * 255 bytes, built here without the config schema, which now refuses it) made
 * encodeSessionBatch throw inside the sync timer and killed the master. Timer
 * callbacks are guarded: the error is counted and the node keeps serving.
 */

const sockets: dgram.Socket[] = [];
let manager: Manager | null = null;

afterEach(async () => {
  await manager?.stop(0);
  manager = null;
  for (const s of sockets.splice(0)) s.close();
});

async function udpSocket(onMessage?: (msg: Buffer, rinfo: dgram.RemoteInfo, s: dgram.Socket) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.on('error', () => {});
  if (onMessage) s.on('message', (msg, rinfo) => onMessage(msg, rinfo, s));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

test('a sync timer that throws is counted and the master keeps serving', async () => {
  expect.assertions(3);
  const echo = await udpSocket((msg, rinfo, s) => s.send(msg, rinfo.port, rinfo.address));
  // Adverts go to a socket that never answers: this node elects itself master.
  const silentPeer = await udpSocket();
  const peerSocket = await udpSocket();
  const peerPort = peerSocket.address().port;
  peerSocket.close();
  sockets.splice(sockets.indexOf(peerSocket), 1);
  const peer: PeerConfig = {
    id: 'solo',
    priority: 200,
    listen: ep(peerPort),
    peers: [ep(silentPeer.address().port)],
    key: 'timer-guard-test-key-0123456789',
    advertInterval: 20,
    preempt: true,
    preemptDelay: 0,
    standby: 'closed',
    hookTimeout: 1000,
    maxSkew: 2000,
  };
  const service = tcpService([backend(echo.address().port, { name: 'x'.repeat(300) })], { name: 'game', protocol: 'udp', balance: 'round-robin' });
  manager = await Manager.start(fulcrumConfig([service], { peer }));
  const before = timerErrors.total;
  const svc = manager.services[0];
  await until(() => manager!.pair!.state === 'master' && svc.udp!.listening);

  const client = await udpSocket();
  const replies: string[] = [];
  client.on('message', (m) => replies.push(m.toString()));
  const port = svc.address!.port;
  client.send('one', port, '127.0.0.1');
  await until(() => replies.length === 1);
  // The session's pin is synced at the next advert: that flush throws, guarded.
  await until(() => timerErrors.total > before);
  client.send('two', port, '127.0.0.1');
  await until(() => replies.length === 2);
  expect(replies).toEqual(['one', 'two']);
  expect(manager.pair!.state).toBe('master');
  expect(manager.status().timerErrors).toBeGreaterThan(before);
});
