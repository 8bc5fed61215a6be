import type { BackendConfig, Endpoint, FulcrumConfig, ServiceConfig } from '../../src/config/types';

export function ep(port: number, host = '127.0.0.1'): Endpoint {
  const family = host.includes(':') ? 6 : 4;
  return { host, port, family, text: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

export function backend(port: number, extra: Partial<BackendConfig> = {}): BackendConfig {
  const address = ep(port);
  return { address, name: address.text, weight: 1, backup: false, maxConnections: 0, ...extra };
}

/** The documented timeout defaults, overridable. */
export function timeouts(extra: Partial<ServiceConfig['timeouts']> = {}): ServiceConfig['timeouts'] {
  return { connect: 5000, idle: 3_600_000, halfClose: 60_000, maxLifetime: 0, proxyHeader: 3000, ...extra };
}

/** A normalized TCP service on 127.0.0.1:0 with the documented defaults, overridable. */
export function tcpService(backends: BackendConfig[], extra: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name: 'svc',
    protocol: 'tcp',
    listen: ep(0),
    balance: 'round-robin',
    backends,
    timeouts: { connect: 5000, idle: 3_600_000, halfClose: 60_000, maxLifetime: 0, proxyHeader: 3000 },
    retries: 2,
    maxConnections: 10000,
    // Off unless a test is about health: proxy tests count connect failures themselves.
    health: { enabled: false, interval: 2000, timeout: 1000, rise: 2, fall: 3, passiveFailures: 3, passiveHold: 10_000, proxyProtocol: false },
    slowStart: 0,
    drainTimeout: 300_000,
    onBackendDown: 'keep',
    allow: [],
    deny: [],
    perSource: null,
    proxyProtocol: null,
    acceptProxy: [],
    udp: { idleTimeout: 60_000, maxSessions: 65_536, maxSessionsPerSource: 0, maxDatagram: 65_507, responses: 0, maxReplyRatio: 0, amplificationLimit: 3, onBackendDown: 'reassign', allowPrivilegedSources: false },
    ...extra,
  };
}

export function fulcrumConfig(services: ServiceConfig[], extra: Partial<FulcrumConfig> = {}): FulcrumConfig {
  return { log: { level: 'silent', connections: false }, shutdownTimeout: 30000, admin: null, peer: null, services, ...extra };
}
