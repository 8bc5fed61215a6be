import type { Endpoint, ProxyProtocolVersion } from '../config/types';

/** One backend as a source found it: an address, and what the source says about it (SRV weight, file settings). */
export interface FoundBackend {
  address: Endpoint;
  name?: string;
  weight?: number;
  backup?: boolean;
  maxConnections?: number;
  proxyProtocol?: ProxyProtocolVersion | 'none';
}

/**
 * How one lookup ended; the `result` label of fulcrum_discovery_lookups_total.
 * ok: a usable answer. empty: an answer without addresses (NODATA, an empty list).
 * nxdomain / servfail / refused / timeout: the DNS outcome. invalid: a file that
 * does not parse or validate. missing: a file that is not there. error: anything else.
 */
export const LOOKUP_RESULTS = ['ok', 'empty', 'nxdomain', 'servfail', 'refused', 'timeout', 'invalid', 'missing', 'error'] as const;
export type LookupResult = (typeof LOOKUP_RESULTS)[number];
export type FailedResult = Exclude<LookupResult, 'ok'>;

export type Lookup =
  | { result: 'ok'; backends: FoundBackend[]; /** Smallest record TTL, when the answer carried one. */ ttlMs?: number }
  | { result: FailedResult; reason: string };

/** A place backends are found: a hostname, an SRV name, a file. One lookup at a time; never throws. */
export interface Source {
  lookup(): Promise<Lookup>;
  /** Sources that can notice changes themselves (a watched file) call this; polling continues beside it. */
  watch?(onChange: () => void): void;
  close?(): void;
}

export function failed(result: FailedResult, reason: string): Lookup {
  return { result, reason };
}
