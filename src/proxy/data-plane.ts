import type { LatencyHistogram } from '../stats/latency-histogram';
import type { Balancer } from '../balancer/balancer';
import type { Endpoint } from '../config/types';
import type { Backend } from '../pool/backend';

export interface ListenOptions {
  reusePort?: boolean;
}

/** Why the manager closes a backend's sessions. */
export type BackendCloseReason = 'backend_down' | 'backend_disabled' | 'drain_timeout';

/**
 * What the manager needs from a service's data plane, TCP or UDP alike:
 * listen, pick through a replaceable balancer, close a backend's sessions,
 * and the stop sequence (stop accepting, wait or abort).
 */
export interface DataPlane {
  balancer: Balancer;
  readonly sessions: { readonly size: number };
  readonly sessionTime: LatencyHistogram;
  /** reusePort: SO_REUSEPORT (a failover pair on one host, where Node supports it: reuse-port.ts). */
  listen(endpoint: Endpoint, options?: ListenOptions): Promise<Endpoint>;
  readonly listening: boolean;
  stopAccepting(): void;
  abortAll(): void;
  whenIdle(): Promise<void>;
  closeBackendSessions(backend: Backend, reason: BackendCloseReason): number;
}
