import type { Balancer } from '../balancer/balancer';
import type { Endpoint } from '../config/types';
import type { Backend } from '../pool/backend';
import type { LatencySnapshot } from '../stats/latency-histogram';
import type { BackendCloseReason, RejectCounts, UdpDropCounts } from './outcomes';

export type { BackendCloseReason } from './outcomes';

export interface ListenOptions {
  reusePort?: boolean;
}

/**
 * A plain, structured-cloneable copy of a data plane's counters (what the
 * status and metrics show; a worker posts it). TCP and UDP alike; `udp` is
 * null for TCP, `rejects` empty for UDP.
 */
export interface DataPlaneStats {
  /** TCP: connections accepted; UDP: sessions created. */
  accepted: number;
  rejects: Partial<RejectCounts>;
  /** Live sessions. */
  sessions: number;
  /** TCP only (null for UDP): backend connect time. */
  connectTime: LatencySnapshot | null;
  sessionTime: LatencySnapshot;
  udp: UdpStats | null;
}

export interface UdpStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: UdpDropCounts;
  sessionsTotal: number;
  /** Granted by the kernel (null before listen). */
  recvBufferSize: number | null;
  sendBufferSize: number | null;
}

/**
 * What the manager needs from a service's data plane, TCP or UDP alike:
 * listen, pick through a replaceable balancer, close a backend's sessions,
 * the stop sequence (stop accepting, wait or abort), and its counters.
 */
export interface DataPlane {
  balancer: Balancer;
  readonly sessions: { readonly size: number };
  /** reusePort: SO_REUSEPORT (a failover pair on one host, where Node supports it: reuse-port.ts). */
  listen(endpoint: Endpoint, options?: ListenOptions): Promise<Endpoint>;
  readonly listening: boolean;
  /** No new connections or flows; with workers it resolves once every worker has closed its listener. */
  stopAccepting(): void | Promise<void>;
  abortAll(): void;
  whenIdle(): Promise<void>;
  closeBackendSessions(backend: Backend, reason: BackendCloseReason): number;
  stats(): DataPlaneStats;
}
