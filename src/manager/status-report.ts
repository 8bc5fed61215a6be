import { HealthFlag, type Backend } from '../pool/backend';
import { reasonNames } from './backend-states';
import { LatencyHistogram } from '../stats/latency-histogram';
import type { Service } from './service';
import type { BackendState, BackendStatus, ServiceStatus } from './status';

function stateOf(b: Backend): BackendState {
  const h = b.health;
  if (h === 0) return 'up';
  if (h & HealthFlag.Removed) return 'removed';
  if (h & (HealthFlag.DisabledByOperator | HealthFlag.AgentMaint)) return 'disabled';
  if (h & (HealthFlag.Draining | HealthFlag.AgentDrain)) return 'draining';
  if (h & HealthFlag.Damped) return 'damped';
  return 'down';
}

export function backendStatus(service: Service, b: Backend): BackendStatus {
  const info = service.healthInfo(b);
  const details = service.checkDetails(b);
  const agoMs = (at: number | null) => (at === null ? null : Math.round(Date.now() - at));
  return {
    name: b.name,
    address: b.address.text,
    state: stateOf(b),
    reasons: reasonNames(b.health),
    backup: b.backup,
    weight: b.weight,
    effectiveWeight: Math.round(b.effectiveWeight * 100) / 100,
    active: b.active,
    total: b.total,
    connectFailures: b.connectFailures,
    bytesIn: b.bytesIn,
    bytesOut: b.bytesOut,
    health:
      info === undefined
        ? null
        : {
            lastCheckMs: agoMs(info.lastCheckAt),
            lastLatencyMs: info.lastMs === null ? null : Math.round(info.lastMs * 1000) / 1000,
            lastError: info.lastOk === false ? info.lastFailure : null,
            type: details.type,
            result: info.lastText,
            ok: info.lastOk,
          },
    agent: details.agent === null ? null : { result: details.agent.result, ok: details.agent.ok, lastCheckMs: agoMs(details.agent.lastCheckAt) },
    dampedMs: details.dampedMs,
    connectTime: b.connectTimes().percentiles(),
    ...(b.source !== null && { source: b.source }),
  };
}

export function serviceStatus(s: Service): ServiceStatus {
  const stats = s.proxy.stats();
  const udp = stats.udp;
  return {
    name: s.name,
    protocol: s.config.protocol,
    listen: s.address?.text ?? s.config.listen.text,
    balance: s.config.balance,
    active: stats.sessions,
    accepted: stats.accepted,
    rejected: { ...stats.rejects },
    backends: s.pool.backends.map((b) => backendStatus(s, b)),
    connectTime: stats.connectTime !== null ? LatencyHistogram.merge([stats.connectTime]).withBuckets() : EMPTY,
    sessionTime: LatencyHistogram.merge([stats.sessionTime]).withBuckets(),
    udp:
      udp === null
        ? null
        : {
            sessions: stats.sessions,
            datagramsIn: udp.datagramsIn,
            datagramsOut: udp.datagramsOut,
            bytesIn: udp.bytesIn,
            bytesOut: udp.bytesOut,
            dropped: { ...udp.dropped },
            recvBufferSize: udp.recvBufferSize,
            sendBufferSize: udp.sendBufferSize,
          },
    ...(s.discoveryStatus() !== undefined && { discovery: s.discoveryStatus() }),
  };
}

const EMPTY = { count: 0, p50: null, p90: null, p99: null, p999: null, max: null };
