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

export interface ServiceConfig {
  name: string;
  protocol: Protocol;
  listen: Endpoint;
  balance: BalanceName;
  backends: BackendConfig[];
  timeouts: TimeoutsConfig;
  retries: number;
  maxConnections: number;
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  connections: boolean;
}

export interface FulcrumConfig {
  log: LogConfig;
  /** SIGTERM/SIGINT: how long live sessions may finish before they are closed. */
  shutdownTimeout: number;
  services: ServiceConfig[];
}
