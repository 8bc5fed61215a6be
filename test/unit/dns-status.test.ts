/** The dns part of `fulcrum status`: a record per line (per location for geolocation) with what it answers and why. */
import { formatDnsStatus } from '../../cli/dns-status';
import type { DnsServiceStatus } from '../../src/dns/status';

const status: DnsServiceStatus = {
  name: 'gslb',
  protocol: 'dns',
  listen: '0.0.0.0:53',
  zones: ['gslb.example.com'],
  queries: { A: { NOERROR: 1840, NXDOMAIN: 3 } },
  dropped: { malformed: 2 },
  tcpConnections: 1,
  udpRecvBufferSize: 4194304,
  workerReplies: null,
  records: [
    { name: 'www.gslb.example.com', type: 'A', policy: 'failover', ttl: 30, target: null, answered: {}, answering: [{ location: null, mode: 'answer', addresses: ['198.51.100.10'], why: 'primary down: answering secondary (1 of 2 up)' }] },
    { name: 'sf.gslb.example.com', type: 'A', policy: 'simple', ttl: 30, target: null, answered: {}, answering: [{ location: null, mode: 'servfail', addresses: [], why: 'all down: SERVFAIL (whenAllDown: servfail)' }] },
    { name: 'app.gslb.example.com', type: 'A', policy: 'geolocation', ttl: 30, target: null, answered: {}, answering: [{ location: 'eu', mode: 'answer', addresses: ['192.0.2.10'], why: 'eu: 1 of 1 up' }] },
  ],
  members: [{ name: 'site-a', address: '192.0.2.10', state: 'down', reasons: ['failed_active_check'], checks: [{ port: 443, up: false, lastCheckMs: 10, lastLatencyMs: null, lastError: 'ECONNREFUSED' }] }],
};

test('records with what they answer now and why, then members with their checks', () => {
  expect(formatDnsStatus([status])).toEqual([
    '',
    'gslb: dns 0.0.0.0:53, zones gslb.example.com, 1843 answered (NOERROR 1840, NXDOMAIN 3), dropped 2, 1 tcp connections',
    'RECORD                     TYPE  POLICY       ANSWERS NOW    WHY',
    'www.gslb.example.com       A     failover     198.51.100.10  primary down: answering secondary (1 of 2 up)',
    'sf.gslb.example.com        A     simple       SERVFAIL       all down: SERVFAIL (whenAllDown: servfail)',
    'app.gslb.example.com [eu]  A     geolocation  192.0.2.10     eu: 1 of 1 up',
    'MEMBER               STATE  CHECKS',
    'site-a (192.0.2.10)  down   :443 fail (ECONNREFUSED)',
  ]);
});

test('with workers: the replies each worker sent', () => {
  expect(formatDnsStatus([{ ...status, workerReplies: [900, 943] }])[1]).toBe(
    'gslb: dns 0.0.0.0:53, zones gslb.example.com, 1843 answered (NOERROR 1840, NXDOMAIN 3), dropped 2, 1 tcp connections, answered by worker 900 / 943',
  );
});
