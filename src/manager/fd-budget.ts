/**
 * The descriptor budget: every listener, session, health check and admin
 * connection holds a file descriptor, and past the open-files limit accept()
 * and connect() fail with EMFILE for everyone. So no one consumer may take
 * them all: the admin API has its own small cap, each backend keeps room for
 * one health check in flight, a fixed reserve covers everything else, and the
 * session caps left at their defaults are lowered so that the total fits the
 * limit found at start. Caps written in the config are kept as written and
 * warned about when they do not fit.
 */
import fs from 'node:fs';
import type { FulcrumConfig, ServiceConfig } from '../config/types';
import type { DnsServiceConfig } from '../config/dns-types';

/** Descriptors for everything that is not counted below: stdio, the log, the peer socket, hooks, DNS-free slack. */
export const BASE_RESERVE = 64;
/** Concurrent admin API connections unless admin.maxConnections says otherwise (Prometheus and a few operators). */
export const ADMIN_MAX_CONNECTIONS = 64;
/** The documented defaults that fitting may lower (never raise). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_UDP_MAX_SESSIONS = 65_536;

/** The soft RLIMIT_NOFILE of this process (Linux /proc), or null when it cannot be read. */
export function openFilesLimit(): number | null {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

export interface FdPlan {
  /** The config with defaulted caps lowered to fit (the input itself when nothing changed). */
  config: FulcrumConfig;
  /** Descriptors the (fitted) caps could need at once. */
  need: number;
  /** "services[0].maxConnections 10000 → 9933", one per lowered default. */
  lowered: string[];
  /** Set when even the fitted caps could exceed the limit (explicit caps, or too many backends). */
  warning: string | null;
}

/** Descriptors a service's sessions may hold: two per TCP session (client and backend), one per UDP session. */
function sessionFds(s: ServiceConfig): number {
  return s.protocol === 'udp' ? s.udp.maxSessions : 2 * s.maxConnections;
}

/** Listener, one health check in flight per backend, and the sessions. */
function serviceFds(s: ServiceConfig): number {
  return 1 + s.backends.length + sessionFds(s);
}

/** A dns service: its UDP and TCP listeners, its TCP connections, one check in flight per member address. */
function dnsServiceFds(d: DnsServiceConfig): number {
  const members = new Set<string>();
  for (const z of d.zones) for (const r of z.records) for (const m of r.members) members.add(m.address);
  return 2 + d.tcp.maxConnections + members.size;
}

export function descriptorsNeeded(config: FulcrumConfig): number {
  const admin = config.admin === null ? 0 : (config.admin.maxConnections ?? ADMIN_MAX_CONNECTIONS) + 1;
  const dns = (config.dns ?? []).reduce((n, d) => n + dnsServiceFds(d), 0);
  return config.services.reduce((n, s) => n + serviceFds(s), BASE_RESERVE + admin + dns);
}

function defaulted(s: ServiceConfig): boolean {
  return s.protocol === 'udp' ? s.defaultedCaps?.includes('udp.maxSessions') === true : s.defaultedCaps?.includes('maxConnections') === true;
}

/**
 * Lower the session caps that were left at their defaults so that everything
 * fits `limit`: the descriptors left after the reserve, the admin cap, the
 * health checks and the explicit caps are shared equally among them (never
 * below 1, never above the default).
 */
export function fitToOpenFilesLimit(config: FulcrumConfig, limit: number | null): FdPlan {
  const flexible = config.services.filter(defaulted);
  let fitted = config;
  const lowered: string[] = [];
  if (limit !== null && flexible.length > 0) {
    const fixed = descriptorsNeeded(config) - flexible.reduce((n, s) => n + sessionFds(s), 0);
    const share = Math.floor(Math.max(0, limit - fixed) / flexible.length);
    const services = config.services.map((s, i) => {
      if (!defaulted(s)) return s;
      if (s.protocol === 'udp') {
        const maxSessions = Math.max(1, Math.min(s.udp.maxSessions, share));
        if (maxSessions === s.udp.maxSessions) return s;
        lowered.push(`services[${i}].udp.maxSessions ${s.udp.maxSessions} → ${maxSessions}`);
        return { ...s, udp: { ...s.udp, maxSessions } };
      }
      const maxConnections = Math.max(1, Math.min(s.maxConnections, Math.floor(share / 2)));
      if (maxConnections === s.maxConnections) return s;
      lowered.push(`services[${i}].maxConnections ${s.maxConnections} → ${maxConnections}`);
      return { ...s, maxConnections };
    });
    if (lowered.length > 0) fitted = { ...config, services };
  }
  const need = descriptorsNeeded(fitted);
  const warning =
    limit === null || need <= limit
      ? null
      : `the configured caps (maxConnections, udp.maxSessions, admin.maxConnections) and health checks could need ${need} file descriptors but the open-files limit is ${limit}: raise it (ulimit -n, LimitNOFILE=) or lower the caps`;
  return { config: fitted, need, lowered, warning };
}
