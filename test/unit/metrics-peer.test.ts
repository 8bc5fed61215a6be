import { renderMetrics } from '../../src/admin/metrics';
import type { StatusReport } from '../../src/manager/status';

test('peer metrics: state, transitions, rejected by reason, last heard per peer', async () => {
  const report: StatusReport = {
    version: '0.1.0',
    pid: 1,
    uptimeSeconds: 1,
    configFile: null,
    timerErrors: 0,
    services: [],
    peer: {
      id: 'lb-a',
      state: 'master',
      priority: 150,
      transitions: 3,
      rejected: { bad_mac: 2, replay: 1, stale_timestamp: 0 },
      peers: [{ nodeId: 'lb-b', address: '127.0.0.1:7947', state: 'backup', priority: 100, lastHeardMs: 250, lost: false }],
    },
  };
  const { body } = await renderMetrics(report);
  expect(body).toMatch(/^fulcrum_peer_state 1$/m);
  expect(body).toMatch(/^fulcrum_peer_transitions_total 3$/m);
  expect(body).toMatch(/^fulcrum_peer_rejected_total\{reason="bad_mac"\} 2$/m);
  expect(body).toMatch(/^fulcrum_peer_rejected_total\{reason="replay"\} 1$/m);
  expect(body).toMatch(/^fulcrum_peer_last_heard_seconds\{peer="lb-b"\} 0.25$/m);
  const alone = await renderMetrics({ ...report, peer: null });
  expect(alone.body).not.toContain('fulcrum_peer_');
});
