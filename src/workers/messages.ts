import type { BalanceName, DnsServiceConfig, Endpoint, ProxyProtocolVersion } from '../config/types';
import type { MemberState } from '../dns/policies';
import type { ErrorCode } from '../errors';
import type { SlotRef } from '../pool/backend-slot';
import type { ServiceSharedRef } from './service-shared';

/**
 * Control plane ↔ data plane messages. Plain objects only (structured clone):
 * a worker never sees the config file, only these settings and the shared
 * memory they point to. One MessagePort per worker keeps them in order.
 */

/** A backend as a worker knows it; `id` is unique within its service. */
export interface BackendSpec {
  id: number;
  name: string;
  address: Endpoint;
  backup: boolean;
  weight: number;
  maxConnections: number;
  proxyProtocol: ProxyProtocolVersion | null;
  source: string | null;
  slot: SlotRef;
}

/** The shared per-source table of a service with perSource limits (see shared-source-limiter.ts). */
export interface LimiterSpec {
  memory: SharedArrayBuffer;
  options: Record<string, unknown>;
}

/** Everything a worker needs to serve one service. `key` is unique per running service (a reload may run two of one name). */
export interface ServiceSpec {
  key: string;
  name: string;
  protocol: 'tcp' | 'udp';
  balance: BalanceName;
  /** TcpSettings or UdpSettings (src/proxy/settings.ts): plain numbers, strings and lists. */
  settings: unknown;
  shared: ServiceSharedRef;
  limiter: LimiterSpec | null;
  backends: BackendSpec[];
  /** Ids of the usable set, in pool order (the balancer is rebuilt from it). */
  usable: number[];
}

export type ToWorker =
  | { t: 'service'; spec: ServiceSpec }
  | { t: 'settings'; key: string; settings: unknown; limiter: LimiterSpec | null }
  | { t: 'backends'; key: string; backends: BackendSpec[] | null; usable: number[] }
  | { t: 'weights'; key: string }
  | { t: 'balance'; key: string; balance: BalanceName; usable: number[] }
  | { t: 'listen'; key: string; endpoint: Endpoint; reusePort: boolean; id?: number }
  | { t: 'stopAccepting'; key: string; id?: number }
  | { t: 'abortAll'; key: string }
  | { t: 'closeBackend'; key: string; backend: number; reason: string }
  | { t: 'backendDown'; key: string; backend: number }
  | { t: 'remove'; key: string }
  | { t: 'stats'; id?: number }
  | { t: 'pins'; key: string; pins: Array<[client: string, backend: string, at: number]> }
  | { t: 'syncSessions'; on: boolean }
  | { t: 'udpSessions'; key: string; id?: number }
  | { t: 'logLevel'; level: string }
  // dns services (src/workers/worker-dns.ts): zones with each slot's member states, listeners, counters
  | { t: 'dnsZones'; key: string; config: DnsServiceConfig; states: MemberState[][]; cursors: SharedArrayBuffer; generation: number; maxConnections: number; id?: number }
  | { t: 'dnsStates'; key: string; states: MemberState[][] }
  | { t: 'dnsListen'; key: string; endpoint: Endpoint; reusePort: boolean; id?: number }
  | { t: 'dnsClose'; key: string }
  | { t: 'dnsStats'; id?: number }
  | { t: 'barrier'; id?: number }
  | { t: 'crash'; id?: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'reply'; id: number; ok: boolean; value?: unknown; error?: string; code?: ErrorCode }
  | { t: 'connectFailure'; key: string; backend: number }
  | { t: 'udpSession'; key: string; client: string; backend: string };
