import type { HealthConfig, Protocol } from '../../config/types';
import type { Backend } from '../../pool/backend';
import { encodeV2 } from '../../proxy/proxy-protocol';
import { httpProbe } from './http-probe';
import { postgresProbe } from './postgres-probe';
import { redisProbe } from './redis-probe';
import { tcpProbe, type ProbeResult } from './tcp-probe';
import { udpProbe } from './udp-probe';

/** The `type` label of fulcrum_check_result: the check types plus `udp` (udpProbe) and `agent`. */
export type CheckLabel = 'tcp' | 'udp' | 'http' | 'redis' | 'postgres' | 'agent';

/** Which check a service's health settings ask for. UDP services without a port send health.udpProbe. */
export function checkLabel(health: HealthConfig, protocol: Protocol): CheckLabel {
  if (health.type !== undefined && health.type !== 'tcp') return health.type;
  return protocol === 'udp' && health.port === undefined && health.udpProbe !== undefined ? 'udp' : 'tcp';
}

/** The probe of one check type, bound to its settings (to health.port if set, else the backend's port). */
export function probeFor(health: HealthConfig, protocol: Protocol): (b: Backend) => Promise<ProbeResult> {
  const { port, timeout } = health;
  switch (checkLabel(health, protocol)) {
    case 'http':
      return (b) => httpProbe(b.address, port, timeout, health.http!);
    case 'redis':
      return (b) => redisProbe(b.address, port, timeout, health.redis!);
    case 'postgres':
      return (b) => postgresProbe(b.address, port, timeout, health.postgres!);
    case 'udp': {
      const spec = health.udpProbe!;
      return (b) => udpProbe(b.address, spec.send, spec.expect, timeout);
    }
    default: {
      // Health checks never send a PROXY header unless asked: then a LOCAL one (no client behind it).
      const greeting = health.proxyProtocol ? encodeV2(null) : undefined;
      return (b) => tcpProbe(b.address, port, timeout, greeting);
    }
  }
}

/** Checks whose passing role is exclusive (split-brain guard): redis master, postgres primary. */
export function isWriterCheck(health: HealthConfig): boolean {
  return (health.type === 'redis' && health.redis?.role === 'master') || (health.type === 'postgres' && health.postgres?.role === 'primary');
}
