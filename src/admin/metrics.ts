/**
 * `GET /metrics`: the status report as Prometheus text. Names and labels are
 * part of the public interface (DESIGN.md "Metrics").
 *
 * A fresh Registry per scrape rather than one long-lived registry with
 * collect() callbacks: the per-series work (label hashing, formatting) is the
 * same either way, but a long-lived registry must reset() every metric on each
 * scrape anyway to drop services and backends that a reload removed, and it
 * shares state between overlapping scrapes (and between AdminServers in one
 * process). Building ten metric objects every scrape interval costs
 * microseconds; the counters themselves stay plain numbers on the Backend, so
 * nothing is paid between scrapes.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { StatusReport } from '../manager/status';
import { latencyFamilies } from './latency-metrics';
import { addDnsMetrics } from './dns-metrics';

export async function renderMetrics(report: StatusReport): Promise<{ contentType: string; body: string }> {
  const registry = new Registry();
  const registers = [registry];
  const perBackend = ['service', 'backend'] as const;

  const connections = new Counter({ name: 'fulcrum_connections_total', help: 'Client sessions accepted and sent to a backend.', labelNames: perBackend, registers });
  const active = new Gauge({ name: 'fulcrum_connections_active', help: 'Sessions open to a backend right now.', labelNames: perBackend, registers });
  const failures = new Counter({ name: 'fulcrum_connect_failures_total', help: 'Connection attempts to a backend that were refused, reset or timed out.', labelNames: perBackend, registers });
  const bytes = new Counter({ name: 'fulcrum_bytes_total', help: 'Bytes proxied: in = client to backend, out = backend to client.', labelNames: ['service', 'backend', 'direction'], registers });
  const up = new Gauge({ name: 'fulcrum_backend_up', help: '1 when the backend is usable (state up), 0 when down, draining, disabled or removed.', labelNames: perBackend, registers });
  const weight = new Gauge({ name: 'fulcrum_backend_weight', help: 'Weight the balancer uses now (below the configured weight during slow start).', labelNames: perBackend, registers });
  const accepted = new Counter({ name: 'fulcrum_accepted_total', help: 'Client connections accepted by the service listener.', labelNames: ['service'], registers });
  const rejected = new Counter({ name: 'fulcrum_rejected_total', help: 'Client connections refused, by reason (no_backend, max_connections, ...).', labelNames: ['service', 'reason'], registers });
  const udpSessions = new Gauge({ name: 'fulcrum_udp_sessions', help: 'Live UDP sessions (client address:port with its upstream socket).', labelNames: ['service'], registers });
  const udpDatagrams = new Counter({ name: 'fulcrum_udp_datagrams_total', help: 'UDP datagrams: in = from clients (dropped ones included), out = replies sent to clients.', labelNames: ['service', 'direction'], registers });
  // Only when some backend has a check result (as the peer metrics only with a peer).
  let checkResult: Gauge<'service' | 'backend' | 'type'> | undefined;
  const setCheck = (labels: { service: string; backend: string; type: string }, ok: boolean) => {
    checkResult ??= new Gauge({ name: 'fulcrum_check_result', help: 'Last active check of a backend by type (tcp, udp, http, redis, postgres, agent): 1 pass, 0 fail. The result text is in /status.', labelNames: ['service', 'backend', 'type'], registers });
    checkResult.set(labels, ok ? 1 : 0);
  };
  const udpDropped = new Counter({ name: 'fulcrum_udp_dropped_total', help: 'UDP datagrams dropped, by reason (acl, max_sessions, oversize, reply_ratio, amplification, ...).', labelNames: ['service', 'reason'], registers });

  if (report.workers !== undefined) {
    const perWorker = new Gauge({ name: 'fulcrum_worker_sessions', help: 'Live sessions per data-plane worker thread (worker 0 is the main thread when workers: 1).', labelNames: ['worker'], registers });
    const restarts = new Counter({ name: 'fulcrum_worker_restarts_total', help: 'Data-plane worker threads that died and were replaced.', registers });
    report.workers.sessions.forEach((n, w) => perWorker.set({ worker: String(w) }, n));
    restarts.inc(report.workers.restarts);
  }
  const timerFailures = new Counter({ name: 'fulcrum_timer_errors_total', help: 'Exceptions thrown by timer callbacks: logged and survived (a bug: please report it).', registers });
  timerFailures.inc(report.timerErrors);
  if (report.udpKernel != null) {
    const where = '(kernel counter for the whole host or network namespace, not only fulcrum: /proc/net/snmp Udp and /proc/net/snmp6 Udp6)';
    const rcvbuf = new Counter({ name: 'fulcrum_udp_rcvbuf_errors_total', help: `UDP datagrams dropped because a socket receive buffer was full ${where}.`, registers });
    const sndbuf = new Counter({ name: 'fulcrum_udp_sndbuf_errors_total', help: `UDP datagrams dropped because a socket send buffer was full ${where}.`, registers });
    rcvbuf.inc(report.udpKernel.rcvbufErrors);
    sndbuf.inc(report.udpKernel.sndbufErrors);
  }

  const discovery = report.services.some((s) => s.discovery !== undefined) ? discoveryMetrics(registers) : null;
  const peer = report.peer;
  if (peer !== null) {
    const peerState = new Gauge({ name: 'fulcrum_peer_state', help: 'This node in its failover pair: 0 backup, 1 master, 2 fault.', registers });
    const transitions = new Counter({ name: 'fulcrum_peer_transitions_total', help: 'State changes of this node (backup, master, fault).', registers });
    const peerRejected = new Counter({ name: 'fulcrum_peer_rejected_total', help: 'Heartbeats rejected, by reason (bad_mac, replay, stale_timestamp, bad_version, truncated, ...).', labelNames: ['reason'], registers });
    const lastHeard = new Gauge({ name: 'fulcrum_peer_last_heard_seconds', help: 'Seconds since the last authentic heartbeat from each peer.', labelNames: ['peer'], registers });
    peerState.set({ backup: 0, master: 1, fault: 2 }[peer.state]);
    transitions.inc(peer.transitions);
    for (const [reason, count] of Object.entries(peer.rejected)) peerRejected.inc({ reason }, count);
    for (const p of peer.peers) lastHeard.set({ peer: p.nodeId }, p.lastHeardMs / 1000);
  }
  for (const s of report.services) {
    accepted.inc({ service: s.name }, s.accepted);
    for (const [reason, count] of Object.entries(s.rejected)) rejected.inc({ service: s.name, reason }, count);
    if (s.udp !== null) {
      udpSessions.set({ service: s.name }, s.udp.sessions);
      udpDatagrams.inc({ service: s.name, direction: 'in' }, s.udp.datagramsIn);
      udpDatagrams.inc({ service: s.name, direction: 'out' }, s.udp.datagramsOut);
      for (const [reason, count] of Object.entries(s.udp.dropped)) udpDropped.inc({ service: s.name, reason }, count);
    }
    for (const d of s.discovery ?? []) {
      const labels = { service: s.name, source: d.source };
      for (const [result, count] of Object.entries(d.lookups)) discovery!.lookups.inc({ ...labels, result }, count);
      discovery!.backends.set(labels, d.found.length);
      if (d.lastSuccessAgoMs !== null) discovery!.age.set(labels, d.lastSuccessAgoMs / 1000);
      if (d.lastChangeAgoMs !== null) discovery!.lastChange.set(labels, d.lastChangeAgoMs / 1000);
    }
    for (const b of s.backends) {
      const labels = { service: s.name, backend: b.name };
      connections.inc(labels, b.total);
      active.set(labels, b.active);
      failures.inc(labels, b.connectFailures);
      bytes.inc({ ...labels, direction: 'in' }, b.bytesIn);
      bytes.inc({ ...labels, direction: 'out' }, b.bytesOut);
      up.set(labels, b.state === 'up' ? 1 : 0);
      weight.set(labels, b.effectiveWeight);
      if (b.health?.ok != null) setCheck({ ...labels, type: b.health.type }, b.health.ok);
      if (b.agent?.ok != null) setCheck({ ...labels, type: 'agent' }, b.agent.ok);
    }
  }
  addDnsMetrics(registry, report.dns ?? []);
  // Summaries and histograms are written by hand: their figures come precomputed
  // (hdr-histogram percentiles, fixed buckets), which prom-client's own types cannot take.
  return { contentType: registry.contentType, body: (await registry.metrics()) + latencyFamilies(report.services) };
}

function discoveryMetrics(registers: Registry[]) {
  const labelNames = ['service', 'source'] as const;
  return {
    lookups: new Counter({ name: 'fulcrum_discovery_lookups_total', help: 'Lookups of a discovery entry (hostname, SRV name, file) by result: ok, empty, nxdomain, servfail, refused, timeout, invalid, missing, error.', labelNames: [...labelNames, 'result'], registers }),
    backends: new Gauge({ name: 'fulcrum_discovery_backends', help: 'Backends in the set in force of a discovery entry (its last good lookup).', labelNames, registers }),
    age: new Gauge({ name: 'fulcrum_discovery_age_seconds', help: 'Seconds since the last good lookup of a discovery entry: how old the set in force is.', labelNames, registers }),
    lastChange: new Gauge({ name: 'fulcrum_discovery_last_change_seconds', help: 'Seconds since the set of a discovery entry last changed.', labelNames, registers }),
  };
}
