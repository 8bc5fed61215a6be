/**
 * The normalized configuration: what the schema produces after defaults,
 * `${VAR}` substitution, duration and address parsing. Durations are in ms.
 */
import type { DnsServiceConfig } from './dns-types';
export type * from './dns-types';

export type Protocol = 'tcp' | 'udp';
export type BalanceName = 'round-robin' | 'least-conn' | 'source-hash' | 'random-two';
export const BALANCE_NAMES: readonly BalanceName[] = ['round-robin', 'least-conn', 'source-hash', 'random-two'];

/** An IP literal and port: `host` has no brackets; `text` is the canonical `1.2.3.4:80` / `[::1]:80`. */
export interface Endpoint {
  host: string;
  port: number;
  family: 4 | 6;
  text: string;
}

export type ProxyProtocolVersion = 'v1' | 'v2';

/** An IPv4 or IPv6 network: `text` is canonical ("10.0.0.0/8", "2001:db8::/32"). */
export interface CidrSpec {
  family: 4 | 6;
  address: string;
  prefix: number;
  text: string;
}

export interface BackendConfig {
  address: Endpoint;
  /** Name used by the admin API and metrics; defaults to address.text. */
  name: string;
  weight: number;
  backup: boolean;
  /** Concurrent sessions this backend takes; a full backend is skipped (0 = no cap). */
  maxConnections: number;
  /** PROXY header written first on each connection to this backend; overrides the service's. */
  proxyProtocol?: ProxyProtocolVersion | 'none';
  /** Set on backends a discovery entry found: that entry's label (`dns:…`, `srv:…`, `file:…`). */
  source?: string;
}

export interface TimeoutsConfig {
  connect: number;
  idle: number;
  /** After one side's FIN, close the session if it has not finished within this (0 = never). */
  halfClose: number;
  /** Close a session this long after it was accepted, whatever it is doing (0 = never). */
  maxLifetime: number;
  /** A client that must send a PROXY header (acceptProxy) has this long to send it. */
  proxyHeader: number;
}

/** Per client IP limits, in a bounded table (fail closed when it is full of live clients). */
export interface PerSourceConfig {
  maxConnections?: number;
  ratePerSecond?: number;
  burst?: number;
  tableSize: number;
}

/** Active TCP-connect checks and passive failure counting (src/manager/health/). */
export interface HealthConfig {
  enabled: boolean;
  interval: number;
  timeout: number;
  rise: number;
  fall: number;
  /** Port to check instead of the backend's own. */
  port?: number;
  /** Consecutive connect failures seen by the proxy that mark a backend down at once (0 = off). */
  passiveFailures: number;
  /** Without active checks, how long passive failures keep a backend down (ms). */
  passiveHold: number;
  /** Send a PROXY v2 LOCAL header on each check (for backends that require the header). */
  proxyProtocol: boolean;
  /** UDP services: send these bytes and wait for a reply (any, or one starting with `expect`). */
  udpProbe?: { send: Buffer; expect: 'any' | Buffer };
  /** What the check asks (absent = tcp connect); the per-type settings sit under http / redis / postgres. */
  type?: CheckType;
  http?: HttpCheckConfig;
  redis?: RedisCheckConfig;
  postgres?: PostgresCheckConfig;
  /** Hold a flapping backend down (absent = off). */
  damping?: DampingConfig;
}

export type CheckType = 'tcp' | 'http' | 'redis' | 'postgres';

export interface HttpCheckConfig {
  method: 'GET' | 'HEAD' | 'POST' | 'OPTIONS';
  path: string;
  /** Statuses that pass; null = any 2xx or 3xx. */
  expectStatus: number[] | null;
  /** The body must contain this text. */
  expectBody?: string;
  /** Host header (default: the backend's address). */
  host?: string;
}

export interface RedisCheckConfig {
  role: 'master' | 'replica' | 'any';
  user?: string;
  password?: string;
}

export interface PostgresCheckConfig {
  role: 'primary' | 'replica' | 'any';
  user: string;
  database: string;
  password?: string;
  /** A replica whose received-but-not-replayed WAL exceeds this fails. */
  maxLagBytes?: number;
}

/** More than `changes` verdict changes within `window` → held down for `hold`, doubled on repeat up to `maxHold`. */
export interface DampingConfig {
  changes: number;
  window: number;
  hold: number;
  maxHold: number;
}

/** HAProxy agent-check protocol: one line read from the backend host's agent, beside the health check. */
export interface AgentConfig {
  port: number;
  interval: number;
  timeout: number;
}

/** UDP session table settings (protocol: udp). */
export interface UdpConfig {
  idleTimeout: number;
  maxSessions: number;
  /** 0 = unlimited. */
  maxSessionsPerSource: number;
  maxDatagram: number;
  /** End a session after this many replies (DNS: 1); 0 = unlimited. */
  responses: number;
  /** Reply bytes allowed per request byte of a session; 0 = off. */
  maxReplyRatio: number;
  /** Until a client has sent a second datagram, reply bytes allowed per byte it sent (RFC 9000 §8.1: 3); 0 = off. */
  amplificationLimit: number;
  onBackendDown: 'reassign' | 'drop';
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Reflection guard off: accept datagrams from source ports < 1024. */
  allowPrivilegedSources: boolean;
}

export type OnBackendDown = 'keep' | 'close';

export interface ServiceConfig {
  name: string;
  protocol: Protocol;
  listen: Endpoint;
  balance: BalanceName;
  backends: BackendConfig[];
  timeouts: TimeoutsConfig;
  retries: number;
  maxConnections: number;
  health: HealthConfig;
  /** Ramp a recovered backend's weight from ~0 to full over this window (0 = off). */
  slowStart: number;
  /** A draining backend's sessions are closed after this long. */
  drainTimeout: number;
  onBackendDown: OnBackendDown;
  /** Client networks allowed (empty: all) and denied (deny wins). */
  allow: CidrSpec[];
  deny: CidrSpec[];
  perSource: PerSourceConfig | null;
  /** PROXY header written first on each backend connection (backends may override). */
  proxyProtocol: ProxyProtocolVersion | null;
  /** Front load balancers whose connections must start with a PROXY v1/v2 header. */
  acceptProxy: CidrSpec[];
  udp: UdpConfig;
  /**
   * Session caps the file left at their defaults: fulcrum may lower them to
   * fit the open-files limit it finds at start (src/manager/fd-budget.ts).
   * Absent (a config built in code): every cap counts as explicit.
   */
  defaultedCaps?: ReadonlyArray<'maxConnections' | 'udp.maxSessions'>;
  /** Backend entries found by name (hostname, SRV, watched file); `backends` holds the IP literals. */
  discovery?: DiscoveryEntry[];
  /** Agent check (absent or null = off). */
  agent?: AgentConfig | null;
}

/** The active/standby pair (src/manager/peer/). */
export interface PeerConfig {
  id: string;
  priority: number;
  listen: Endpoint;
  peers: Endpoint[];
  key: string;
  advertInterval: number;
  preempt: boolean;
  preemptDelay: number;
  /** closed: a BACKUP node keeps its service listeners closed; open: both nodes listen (a VIP decides). */
  standby: 'closed' | 'open';
  onMaster?: string;
  onBackup?: string;
  hookTimeout: number;
  /** Adverts whose timestamp is further than this from our clock are rejected. */
  maxSkew: number;
}

export interface AdminConfig {
  listen: Endpoint;
  token?: string;
  /** Concurrent connections; more are closed at accept (default ADMIN_MAX_CONNECTIONS, 64). */
  maxConnections?: number;
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  connections: boolean;
}

export interface FulcrumConfig {
  log: LogConfig;
  /** SIGTERM/SIGINT: how long live sessions may finish before they are closed. */
  shutdownTimeout: number;
  /**
   * Data-plane worker threads: auto (the schema's default) = one per available
   * core where Node has reusePort, else 1. Absent in a config built by hand: 1.
   * 1 runs the data plane on the main thread.
   */
  workers?: 'auto' | number;
  /** The HTTP admin API; null when turned off (`admin: { enabled: false }`). */
  admin: AdminConfig | null;
  /** Active/standby pair; null when this node runs alone. */
  peer: PeerConfig | null;
  services: ServiceConfig[];
  /** protocol: dns services (GSLB); absent when there are none. */
  dns?: DnsServiceConfig[];
  /** Lookup settings of the discovery entries (always set by the schema). */
  discovery?: DiscoveryConfig;
}

/** How names are looked up (src/discovery/). Durations in ms. */
export interface DiscoveryConfig {
  /** Re-resolve period when the answer has no TTL (SRV, failures); files are also re-read this often. */
  interval: number;
  /** A record's TTL sets the next lookup, bounded to [minTtl, maxTtl] (maxTtl defaults to interval). */
  minTtl: number;
  maxTtl: number;
  /** One lookup (all its tries) gives up after this. */
  timeout: number;
  /** DNS servers to ask; empty = the system's (/etc/resolv.conf). */
  resolvers: Endpoint[];
}

export type DiscoveryKind = 'dns' | 'srv' | 'file';

/** One `backends[]` entry that names its backends: `address: host:port`, `srv: NAME` or `file: PATH`. */
export interface DiscoveryEntry {
  kind: DiscoveryKind;
  /** As written: `db.internal:5432`, the SRV name, or the file path. */
  target: string;
  /** Label in status and metrics: `dns:db.internal:5432`, `srv:_pg._tcp.db`, `file:/etc/fulcrum/pg.yaml`. */
  source: string;
  /** A first lookup that fails is not a start (or reload) error: the entry starts empty. */
  optional: boolean;
  /** Settings each found backend takes: SRV gives weights (an explicit weight here wins), file items win over these. */
  weight?: number;
  backup: boolean;
  maxConnections: number;
  proxyProtocol?: ProxyProtocolVersion | 'none';
}
