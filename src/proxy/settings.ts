import type { CidrSpec, PerSourceConfig, ServiceConfig, UdpConfig } from '../config/types';

/**
 * What a data plane reads of its service's config, derived once from it
 * (tcpSettings / udpSettingsOf, here and nowhere else). Plain data only
 * (numbers, booleans, strings, plain objects: no class, no function), so it
 * can be posted to a worker thread. A proxy holds one object; a reload swaps
 * it (applySettings) and a live session keeps the one it started with.
 * A new TCP timeout: the config schema, TcpSettings + tcpSettings(), the session that arms it.
 */
export interface TcpSettings {
  /** Backend connect bound, per attempt (ms). */
  connectTimeout: number;
  /** No bytes either way for this long closes the session (0 = never). */
  idleTimeout: number;
  /** After one side's FIN, the other has this long (0 = never). */
  halfCloseTimeout: number;
  /** From accept on, whatever the session does (0 = never). */
  maxLifetime: number;
  /** A client that must send a PROXY header (acceptProxy) has this long. */
  proxyHeaderTimeout: number;
  /** Other backends tried after a failed connect. */
  retries: number;
  /** Listener cap: beyond it Node drops the connection at accept (counted as max_connections). */
  maxConnections: number;
  /** Client networks allowed (empty: all) and denied (deny wins). */
  allow: CidrSpec[];
  deny: CidrSpec[];
  /** Trusted front load balancers: their connections must start with a PROXY header (empty: off). */
  acceptProxy: CidrSpec[];
  /** Per client IP limits, or null. */
  perSource: PerSourceConfig | null;
  /** One access-log line per closed session. */
  logConnections: boolean;
}

export function tcpSettings(config: ServiceConfig, logConnections: boolean): TcpSettings {
  const t = config.timeouts;
  return {
    connectTimeout: t.connect,
    idleTimeout: t.idle,
    halfCloseTimeout: t.halfClose,
    maxLifetime: t.maxLifetime,
    proxyHeaderTimeout: t.proxyHeader,
    retries: config.retries,
    maxConnections: config.maxConnections,
    allow: config.allow,
    deny: config.deny,
    acceptProxy: config.acceptProxy,
    perSource: config.perSource,
    logConnections,
  };
}

/**
 * A UDP proxy's tunables, read per datagram or session (never cached): the
 * config's udp settings (documented in src/config/types.ts), the service's
 * allow/deny lists, and two of the proxy's own.
 */
export interface UdpSettings extends UdpConfig {
  /** Datagrams libuv may hold unsent per socket (EAGAIN) before more are dropped. */
  maxSendQueue: number;
  /** One info line per closed session. */
  logConnections: boolean;
  /** Checked when a client would start a session. */
  allow: CidrSpec[];
  deny: CidrSpec[];
}

export const UDP_DEFAULTS: Readonly<UdpSettings> = {
  idleTimeout: 60_000,
  maxSessions: 65_536,
  maxSessionsPerSource: 0,
  maxDatagram: 65_507,
  responses: 0,
  maxReplyRatio: 0,
  amplificationLimit: 3,
  onBackendDown: 'reassign',
  allowPrivilegedSources: false,
  maxSendQueue: 1024,
  logConnections: false,
  allow: [],
  deny: [],
};

/** The defaults with every option that is set (undefined leaves the default). */
export function udpSettings(o: Partial<UdpSettings>): UdpSettings {
  const s: Record<string, unknown> = { ...UDP_DEFAULTS };
  for (const k of Object.keys(o) as Array<keyof UdpSettings>) if (o[k] !== undefined) s[k] = o[k];
  return s as unknown as UdpSettings;
}

export function udpSettingsOf(config: ServiceConfig, logConnections: boolean): UdpSettings {
  return udpSettings({ ...config.udp, logConnections, allow: config.allow, deny: config.deny });
}
