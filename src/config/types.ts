/**
 * The normalized configuration: what the schema produces after defaults,
 * `${VAR}` substitution, duration and address parsing. Durations are in ms.
 */
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

export interface BackendConfig {
  address: Endpoint;
  /** Name used by the admin API and metrics; defaults to address.text. */
  name: string;
  weight: number;
  backup: boolean;
}

export interface TimeoutsConfig {
  connect: number;
  idle: number;
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
}

export interface AdminConfig {
  listen: Endpoint;
  token?: string;
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  connections: boolean;
}

export interface FulcrumConfig {
  log: LogConfig;
  /** SIGTERM/SIGINT: how long live sessions may finish before they are closed. */
  shutdownTimeout: number;
  /** The HTTP admin API; null when turned off (`admin: { enabled: false }`). */
  admin: AdminConfig | null;
  services: ServiceConfig[];
}
