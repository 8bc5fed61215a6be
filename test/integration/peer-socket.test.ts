import dgram from 'node:dgram';
import pino from 'pino';
import { describePeer } from '../../cli/status';
import { Peer } from '../../src/manager/peer/peer';
import { encodeAdvert, encodeMessage, FLAG_LISTENING, MESSAGE_TYPE, SequenceCounter } from '../../src/manager/peer/wire';
import type { PeerConfig } from '../../src/config/types';
import { ep } from '../helpers/config';
import { until } from '../helpers/net';

/** A UDP port free now on loopback (the peer socket's; the sender needs to know it). */
async function freeUdpPort(): Promise<number> {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = probe.address().port;
  probe.close();
  return port;
}

/** Forged, replayed, truncated and wrong-version heartbeats reach a real peer socket: each rejected and counted. */
test('a peer socket rejects and counts bad heartbeats, accepts a good one', async () => {
  expect.assertions(4);
  const key = 'peer-socket-test-key-0123456789';
  const config: PeerConfig = {
    id: 'lb-a', priority: 150, listen: ep(0), peers: [ep(9)], key, advertInterval: 1000, preempt: true, preemptDelay: 0,
    standby: 'closed', hookTimeout: 1000, maxSkew: 2000,
  };
  const port = await freeUdpPort();
  const peer = new Peer({ ...config, listen: ep(port) }, { onRole: () => {} }, pino({ level: 'silent' }));
  await peer.start();
  const sender = dgram.createSocket('udp4');
  const send = (buf: Buffer) => new Promise<void>((r) => sender.send(buf, port, '127.0.0.1', () => r()));
  try {
    const seq = new SequenceCounter();
    const good = encodeAdvert({ version: 1, nodeId: 'lb-b', priority: 100, state: 'backup', seq: seq.next(), timestamp: Date.now() }, Buffer.from(key));
    const forged = encodeAdvert({ version: 1, nodeId: 'lb-b', priority: 255, state: 'master', seq: seq.next(), timestamp: Date.now() }, Buffer.from('another-key-entirely-0123456789'));
    const wrongVersion = Buffer.from(encodeAdvert({ version: 1, nodeId: 'lb-b', priority: 100, state: 'backup', seq: seq.next(), timestamp: Date.now() }, Buffer.from(key)));
    wrongVersion[4] = 9;
    await send(good);
    await send(good); // replay
    await send(forged);
    await send(good.subarray(0, 20)); // truncated
    await send(wrongVersion);
    await until(() => Object.values(peer.rejected).reduce((a, b) => a + b, 0) === 4);
    expect(peer.rejected).toMatchObject({ replay: 1, bad_mac: 1, truncated: 1, bad_version: 1 });
    expect(peer.status().peers.map((p) => p.nodeId)).toEqual(['lb-b']);
    expect(peer.status().peers[0].priority).toBe(100); // the forged priority-255 master was not believed
    expect(peer.state).toBe('backup');
  } finally {
    sender.close();
    await peer.stop();
  }
});

/** Issue 11 item 13: a dead master used to show as "master … heard 3.2s ago". */
test('a peer silent for the dead interval is reported lost, and `fulcrum status` says so', async () => {
  expect.assertions(4);
  const key = 'peer-socket-test-key-0123456789';
  const port = await freeUdpPort();
  const config: PeerConfig = {
    id: 'lb-b', priority: 100, listen: ep(port), peers: [ep(9)], key, advertInterval: 50, preempt: true, preemptDelay: 0,
    standby: 'closed', hookTimeout: 1000, maxSkew: 2000,
  };
  const peer = new Peer(config, { onRole: () => {} }, pino({ level: 'silent' }));
  await peer.start();
  const sender = dgram.createSocket('udp4');
  try {
    const advert = encodeAdvert({ version: 1, nodeId: 'lb-a', priority: 150, state: 'master', seq: new SequenceCounter().next(), timestamp: Date.now() }, Buffer.from(key));
    await new Promise<void>((r) => sender.send(advert, port, '127.0.0.1', () => r()));
    await until(() => peer.status().peers.length === 1);
    expect(peer.status().peers[0]).toMatchObject({ nodeId: 'lb-a', state: 'master', lost: false });
    // One advert, then silence: lost after 3 × 50 ms + skew.
    await until(() => peer.status().peers[0].lost, 3000);
    const line = describePeer(peer.status());
    expect(line).toMatch(/lb-a LOST \(was master, priority 150\), last heard \d+\.\ds ago from 127\.0\.0\.1:\d+/);
    expect(line).not.toMatch(/lb-a master/);
    await until(() => peer.state === 'master', 3000); // its own down timer fires at the same dead interval
    expect(peer.state).toBe('master');
  } finally {
    sender.close();
    await peer.stop();
  }
});

/**
 * A master handing over on one host closes its listeners when stop() returns: that must wait
 * for the new master to say its listeners are open (FLAG_LISTENING), not merely that it is
 * master (under load, its bind can take longer than an advert).
 */
test('a handover stop() waits for a MASTER advert with FLAG_LISTENING, not just a MASTER advert', async () => {
  expect.assertions(3);
  const key = 'peer-socket-test-key-0123456789';
  const port = await freeUdpPort();
  const config: PeerConfig = {
    id: 'lb-a', priority: 150, listen: ep(port), peers: [ep(9)], key, advertInterval: 50, preempt: true, preemptDelay: 0,
    standby: 'closed', hookTimeout: 1000, maxSkew: 2000,
  };
  const peer = new Peer(config, { onRole: () => {} }, pino({ level: 'silent' }));
  await peer.start();
  await until(() => peer.state === 'master', 3000);
  const sender = dgram.createSocket('udp4');
  const seq = new SequenceCounter();
  const advert = (flags: number) =>
    new Promise<void>((r) => sender.send(encodeMessage(MESSAGE_TYPE.advert, { nodeId: 'lb-b', priority: 100, state: 'master', seq: seq.next(), timestamp: Date.now(), flags }, Buffer.alloc(0), Buffer.from(key)), port, '127.0.0.1', () => r()));
  try {
    let stopped = false;
    const stopping = peer.stop({ waitForMasterMs: 5000 }).then(() => (stopped = true));
    await advert(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(stopped).toBe(false); // master, but not listening yet
    const t = Date.now();
    await advert(FLAG_LISTENING);
    await stopping;
    expect(stopped).toBe(true);
    expect(Date.now() - t).toBeLessThan(2000); // at the advert, not at the 5 s bound
  } finally {
    sender.close();
    await peer.stop();
  }
});
