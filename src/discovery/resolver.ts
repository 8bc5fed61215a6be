import { promises as dns, type SrvRecord } from 'node:dns';
import { parseEndpoint } from '../config/address';
import type { DiscoveryConfig, Endpoint } from '../config/types';
import { failed, type FailedResult, type Lookup } from './types';

/** Tries per query: one lost UDP datagram should not count as a failed lookup. */
const TRIES = 2;
/**
 * Lookups in flight at once; the rest wait their turn. Thousands of names
 * asked in one burst (at start) overflow the DNS server's socket buffer and
 * time out (5,000 names at once: 97 % failed); 256 in flight already lost some
 * and was no faster. Measured with benchmarks/discovery.js against dnsmasq.
 */
const MAX_IN_FLIGHT = 64;

export interface Address {
  address: string;
  family: 4 | 6;
  ttl: number;
}

/** c-ares error codes → lookup results (ENODATA: the name exists, without records of that type). */
const RESULT_BY_CODE: Record<string, FailedResult> = {
  ENOTFOUND: 'nxdomain',
  ENODATA: 'empty',
  ESERVFAIL: 'servfail',
  EREFUSED: 'refused',
  ETIMEOUT: 'timeout',
};

/**
 * node's dns.promises Resolver (c-ares: real DNS queries, not getaddrinfo, so
 * /etc/hosts is not read and the thread pool is not used), with the
 * configured servers, a bound on each lookup, errors turned into lookup
 * results, and the TTL bounds that set the next lookup.
 */
export class DnsResolver {
  private resolver!: dns.Resolver;
  settings!: DiscoveryConfig;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(settings: DiscoveryConfig) {
    this.configure(settings);
  }

  /** New settings (a reload): lookups in flight finish on the old resolver. */
  configure(settings: DiscoveryConfig): void {
    this.settings = settings;
    const resolver = new dns.Resolver({ timeout: Math.max(50, Math.floor(settings.timeout / (TRIES + 1))), tries: TRIES });
    if (settings.resolvers.length > 0) resolver.setServers(settings.resolvers.map((e) => e.text));
    this.resolver = resolver;
  }

  /** Every A and AAAA address of a name, or why there is none. */
  addresses(host: string): Promise<{ addresses: Address[] } | Lookup> {
    return this.inTurn(() => this.query(host));
  }

  private async query(host: string): Promise<{ addresses: Address[] } | Lookup> {
    const r = this.resolver;
    const [v4, v6] = await Promise.allSettled([
      this.bounded(r.resolve4(host, { ttl: true })),
      this.bounded(r.resolve6(host, { ttl: true })),
    ]);
    const addresses: Address[] = [];
    let firstFailure: Lookup | null = null;
    let hard: Lookup | null = null;
    for (const [family, settled] of [[4, v4], [6, v6]] as const) {
      if (settled.status === 'fulfilled') {
        for (const a of settled.value) addresses.push({ address: a.address, family, ttl: a.ttl });
        continue;
      }
      const f = describe(settled.reason, `${host} ${family === 4 ? 'A' : 'AAAA'}`);
      firstFailure ??= f;
      // One family without records is normal (an IPv4-only name); any other failure makes the answer incomplete.
      if (f.result !== 'empty') hard ??= f;
    }
    if (hard !== null) return hard;
    if (addresses.length === 0) return firstFailure ?? failed('empty', `${host}: no A or AAAA records`);
    return { addresses };
  }

  srv(name: string): Promise<SrvRecord[] | Lookup> {
    return this.inTurn(async () => {
      try {
        const records = await this.bounded(this.resolver.resolveSrv(name));
        return records.length > 0 ? records : failed('empty', `${name}: no SRV records`);
      } catch (err) {
        return describe(err, `${name} SRV`);
      }
    });
  }

  /** Runs a lookup once fewer than MAX_IN_FLIGHT are running; its timeout starts then, not while it waits. */
  private async inTurn<T>(lookup: () => Promise<T>): Promise<T> {
    // A finished lookup hands its slot straight to the next waiting one.
    if (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await lookup();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.inFlight--;
    }
  }

  /** The next lookup: at the record's TTL bounded to [minTtl, maxTtl], or at the interval without one. */
  nextDelay(ttlMs: number | undefined): number {
    const s = this.settings;
    if (ttlMs === undefined || !Number.isFinite(ttlMs)) return s.interval;
    return Math.min(s.maxTtl, Math.max(s.minTtl, ttlMs));
  }

  /** c-ares has its own per-try timeout; this is the bound on the whole lookup, whatever happens. */
  private bounded<T>(query: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEOUT' })), this.settings.timeout);
    });
    query.catch(() => {}); // a late failure after the bound is not an unhandled rejection
    return Promise.race([query, limit]).finally(() => clearTimeout(timer));
  }
}

function describe(err: unknown, what: string): Lookup {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  return failed(RESULT_BY_CODE[code] ?? 'error', `${what}: ${code || (err as Error)?.message || String(err)}`);
}

/** The canonical endpoint of a resolved address (IPv6 compressed, in brackets). */
export function endpointOf(address: string, family: 4 | 6, port: number): Endpoint {
  return parseEndpoint(family === 6 ? `[${address}]:${port}` : `${address}:${port}`);
}
