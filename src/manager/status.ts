import type { PeerStatus } from './peer/peer';
import type { UdpKernelStats } from './udp-kernel-stats';
import type { DnsServiceStatus } from '../dns/status';

/**
 * The JSON shapes of `GET /status` and of the control plane the admin API
 * drives. The manager produces them; the admin API, metrics and `fulcrum
 * status` only read them. Field names are part of the public interface.
 */

/** Latency percentiles in milliseconds (from hdr-histogram); null values when nothing was recorded. */
export interface Percentiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  /** Total of every recorded value, in ms (Prometheus `_sum`); absent where no histogram backs the figures. */
  sum?: number;
  /**
   * Services only: cumulative counts of values up to each bound of
   * LATENCY_BUCKETS_SECONDS (src/stats/latency-histogram.ts), for Prometheus histograms.
   */
  buckets?: number[];
}

/**
 * up: usable; down: failed health checks (or its agent said down); draining / disabled: operator (or its agent:
 * drain / maint); damped: held down by flap damping; removed: dropped by a reload, finishing its sessions.
 */
export type BackendState = 'up' | 'down' | 'draining' | 'disabled' | 'damped' | 'removed';

export interface BackendStatus {
  name: string;
  address: string;
  state: BackendState;
  /** Why it is not usable (empty when up): failed_active_check, failed_passive_check, draining, disabled, removed. */
  reasons: string[];
  backup: boolean;
  weight: number;
  /** Weight the balancers use now (lower than weight during slow start). */
  effectiveWeight: number;
  active: number;
  total: number;
  connectFailures: number;
  bytesIn: number;
  bytesOut: number;
  /**
   * Last active health check, if checks are on: its type (tcp, udp, http, redis, postgres) and the short
   * text of its result (`redis role:master`, `http 503`, `pg in recovery`, `ECONNREFUSED`).
   */
  health: { lastCheckMs: number | null; lastLatencyMs: number | null; lastError: string | null; type: string; result: string | null; ok: boolean | null } | null;
  /** The agent check's last result (`agent ready 75%`, or why none was read), if `agent:` is set. */
  agent?: { result: string | null; ok: boolean | null; lastCheckMs: number | null } | null;
  /** Flap damping: the hold left while damped, else null. */
  dampedMs?: number | null;
  connectTime: Percentiles;
  /** The discovery entry that found this backend (`dns:…`, `srv:…`, `file:…`); absent for IP literals in the config. */
  source?: string;
}

export interface ServiceStatus {
  name: string;
  protocol: 'tcp' | 'udp';
  listen: string;
  balance: string;
  active: number;
  accepted: number;
  /** fulcrum_rejected_total by reason. */
  rejected: Record<string, number>;
  backends: BackendStatus[];
  connectTime: Percentiles;
  sessionTime: Percentiles;
  /** UDP services: the session table and datagram counters (null for TCP). */
  udp: UdpStatus | null;
  /** The service's discovery entries (hostnames, SRV names, files), in config order. */
  discovery?: DiscoverySourceStatus[];
}

/** One discovery entry: what its last good lookup found, and how its lookups went. */
export interface DiscoverySourceStatus {
  source: string;
  /** The backends of the set in force (the last good lookup), as the source gave them. */
  found: Array<{ address: string; name?: string; weight?: number; backup?: boolean; maxConnections?: number; proxyProtocol?: string }>;
  /** Lookups by result (ok, empty, nxdomain, servfail, refused, timeout, invalid, missing, error). */
  lookups: Record<string, number>;
  /** Age of the set in force: ms since the last good lookup (null: none yet). */
  lastSuccessAgoMs: number | null;
  /** ms since the set last changed. */
  lastChangeAgoMs: number | null;
  /** The failure in progress, if the last lookup failed: the set in force is kept. */
  failing: { result: string; reason: string; forMs: number } | null;
}

export interface UdpStatus {
  sessions: number;
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** fulcrum_udp_dropped_total by reason. */
  dropped: Record<string, number>;
  /** Socket buffer sizes the kernel granted (null before listen). */
  recvBufferSize: number | null;
  sendBufferSize: number | null;
}

export interface StatusReport {
  version: string;
  pid: number;
  uptimeSeconds: number;
  /** The config file in use, null in quick mode. */
  configFile: string | null;
  services: ServiceStatus[];
  /** The failover pair; null when no peer is configured. */
  peer: PeerStatus | null;
  /** Exceptions thrown by timer callbacks since start: logged and survived (src/timers.ts). */
  timerErrors: number;
  /** Kernel UDP buffer drops (host-wide, Linux); null without a UDP service or without /proc. */
  udpKernel?: UdpKernelStats | null;
  /** protocol: dns services (GSLB): records, what each answers now and why, members, query counts. */
  dns?: DnsServiceStatus[];
  /** What carries TCP bytes: 'handle' (libuv handles), 'net' (net.Socket; FULCRUM_DATAPLANE=net or the probe failed); null before any TCP service started. */
  dataPlane?: 'handle' | 'net' | null;
  /** The data plane's threads: how many, live sessions in each, and how many died and were replaced. */
  workers?: WorkersStatus;
}

export interface WorkersStatus {
  count: number;
  /** false: the data plane runs on the main thread (workers: 1). */
  threads: boolean;
  restarts: number;
  /** Live sessions per worker (index = worker). */
  sessions: number[];
}

export type BackendAction = 'drain' | 'enable' | 'disable';

export interface ReloadReport {
  servicesAdded: string[];
  servicesRemoved: string[];
  servicesChanged: string[];
}

/** What the admin API may ask of the manager. Errors are FulcrumErrors (see src/errors.ts). */
export interface ControlPlane {
  status(): StatusReport;
  /** Fetch the workers' counters and histograms so the next status() is current (a no-op without workers). */
  collectStats?(): Promise<void>;
  /** ERR_FULCRUM_NOT_FOUND when the service or backend does not exist. */
  backendAction(service: string, backend: string, action: BackendAction): BackendStatus;
  /** ERR_FULCRUM_NOT_FOUND; ERR_FULCRUM_BAD_REQUEST when weight is not an integer 0..1000. */
  setWeight(service: string, backend: string, weight: number): BackendStatus;
  /** Resolves once every worker has applied the changes made so far (a drain, a weight): at once without workers. */
  applied?(): Promise<void>;
  /** Re-read and apply the config file. ERR_FULCRUM_CONFIG / ERR_FULCRUM_CONFIG_READ leave the old config running. */
  reload(): Promise<ReloadReport>;
}
