import { LatencyHistogram } from '../stats/latency-histogram';
import type { BackendConfig, Endpoint, ProxyProtocolVersion } from '../config/types';

/**
 * Why a backend is not usable. Health is a set of reasons (as Envoy's host
 * health flags): a backend is usable only when no reason is set, and the pool
 * reacts only when that verdict changes.
 */
export enum HealthFlag {
  FailedActiveCheck = 1 << 0,
  FailedPassiveCheck = 1 << 1,
  Draining = 1 << 2,
  DisabledByOperator = 1 << 3,
  Removed = 1 << 4,
  /** The backend's agent said drain / maint / down (agent check). */
  AgentDrain = 1 << 5,
  AgentMaint = 1 << 6,
  AgentDown = 1 << 7,
  /** Held down by flap damping. */
  Damped = 1 << 8,
}

/**
 * One backend of one service. The manager owns its health flags; the proxy
 * reports outcomes back as plain-number counters (no per-byte allocation).
 */
export class Backend {
  readonly name: string;
  readonly address: Endpoint;
  backup: boolean;
  weight: number;
  /** Concurrent sessions allowed (0 = no cap); `active` counts connecting ones too, so the cap holds. */
  maxConnections: number;
  /** PROXY header to write first on each connection (resolved: backend setting, else the service's). */
  proxyProtocol: ProxyProtocolVersion | null = null;
  health = 0;
  /** The discovery entry that found it (`dns:…`, `srv:…`, `file:…`); null for an IP literal of the config. */
  source: string | null;
  /** Slow start: the share of `weight` in force, ramped from ~0 to 1 by the service after a recovery. */
  rampFactor = 1;
  /** Agent check: `N%` → N/100; `weight:N` → N / weight (recomputed at each report). 1 without an agent. */
  agentScale = 1;

  /** Sessions connecting to or spliced to this backend. */
  active = 0;
  /** Sessions sent to this backend (connected). */
  total = 0;
  /** Connect attempts that were refused, reset or timed out. */
  connectFailures = 0;
  /** Connect failures in a row; reset by a successful connect. */
  consecutiveFailures = 0;
  /** Bytes client → backend and backend → client, of closed sessions plus live ones as reported. */
  bytesIn = 0;
  bytesOut = 0;
  /** Time to complete the TCP handshake with this backend, per connected session. */
  readonly connectTime = new LatencyHistogram();

  constructor(config: BackendConfig) {
    this.name = config.name;
    this.address = config.address;
    this.backup = config.backup;
    this.weight = config.weight;
    this.maxConnections = config.maxConnections;
    this.source = config.source ?? null;
  }

  get usable(): boolean {
    return this.health === 0;
  }

  /** The weight the balancers use: a plain product, cheap enough to read on every pick. */
  get effectiveWeight(): number {
    return this.weight * this.rampFactor * this.agentScale;
  }
}
