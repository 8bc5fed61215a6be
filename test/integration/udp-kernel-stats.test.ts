import dgram from 'node:dgram';
import { renderMetrics } from '../../src/admin/metrics';
import { start, type FulcrumHandle } from '../../src/index';
import { parseSnmp, parseSnmp6, readUdpKernelStats } from '../../src/manager/udp-kernel-stats';
import { backend, fulcrumConfig, tcpService } from '../helpers/config';
import { until } from '../helpers/net';

/** Issue 11 item 21: datagrams the kernel dropped for lack of buffer appeared nowhere. */

const sockets: dgram.Socket[] = [];
let handle: FulcrumHandle | null = null;
afterEach(async () => {
  await handle?.stop(0);
  handle = null;
  for (const s of sockets.splice(0)) s.close();
});

test('the /proc/net/snmp and snmp6 formats are parsed', () => {
  const snmp = 'Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 2 7 9 5 1\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 99\n';
  expect(parseSnmp(snmp, 'Udp')).toEqual(new Map([['InDatagrams', 10], ['NoPorts', 2], ['InErrors', 7], ['OutDatagrams', 9], ['RcvbufErrors', 5], ['SndbufErrors', 1]]));
  expect(parseSnmp6('Udp6InDatagrams   3\nUdp6RcvbufErrors \t4\nUdpLite6RcvbufErrors 8\n', 'Udp6')).toEqual(new Map([['InDatagrams', 3], ['RcvbufErrors', 4]]));
  expect(readUdpKernelStats('/nonexistent/snmp')).toBeNull();
});

test('kernel receive-buffer drops are exported as fulcrum_udp_rcvbuf_errors_total', async () => {
  expect.assertions(3);
  const b = dgram.createSocket('udp4');
  sockets.push(b);
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
  handle = await start(fulcrumConfig([tcpService([backend(b.address().port)], { name: 'game', protocol: 'udp' })]));
  const metric = async (): Promise<number> => {
    const { body } = await renderMetrics(handle!.manager.status());
    const line = body.split('\n').find((l) => l.startsWith('fulcrum_udp_rcvbuf_errors_total '));
    return line === undefined ? NaN : Number(line.split(' ')[1]);
  };
  const before = await metric();
  expect(before).toBeGreaterThanOrEqual(0);
  // A receiver with a tiny buffer, flooded while this thread cannot read it: the kernel drops the excess.
  const receiver = dgram.createSocket({ type: 'udp4', recvBufferSize: 4096 });
  sockets.push(receiver);
  receiver.on('message', () => {});
  await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', () => r()));
  const sender = dgram.createSocket('udp4');
  sockets.push(sender);
  const payload = Buffer.alloc(1000);
  for (let i = 0; i < 500; i++) sender.send(payload, receiver.address().port, '127.0.0.1');
  await until(() => (readUdpKernelStats()?.rcvbufErrors ?? 0) > before);
  const after = await metric();
  expect(after).toBeGreaterThan(before);
  expect(handle.manager.status().udpKernel).toMatchObject({ rcvbufErrors: expect.any(Number), sndbufErrors: expect.any(Number) });
});
