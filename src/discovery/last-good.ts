import { LOOKUP_RESULTS, type FoundBackend, type Lookup, type LookupResult } from './types';

/**
 * The failure policy of one discovery entry: a lookup that fails, times out or
 * finds nothing, or a file that does not parse, keeps the last good set. The
 * pool never empties by accident; the age of the kept set is visible instead.
 */
export class LastGood {
  /** The set in force; null until a lookup has succeeded. */
  backends: readonly FoundBackend[] | null = null;
  private key = '';
  readonly counts = Object.fromEntries(LOOKUP_RESULTS.map((r) => [r, 0])) as Record<LookupResult, number>;
  lastSuccessAt: number | null = null;
  lastChangeAt: number | null = null;
  /** The failure in progress (null after a good lookup): since when, and the last reason. */
  failure: { since: number; result: LookupResult; reason: string } | null = null;

  /** Counts the lookup; returns true when it changed the set in force. */
  record(lookup: Lookup, now: number): boolean {
    this.counts[lookup.result]++;
    if (lookup.result !== 'ok') {
      this.failure = { since: this.failure?.since ?? now, result: lookup.result, reason: lookup.reason };
      return false;
    }
    this.failure = null;
    this.lastSuccessAt = now;
    const key = setKey(lookup.backends);
    if (this.backends !== null && key === this.key) return false;
    this.backends = lookup.backends;
    this.key = key;
    this.lastChangeAt = now;
    return true;
  }
}

/** Order-free identity of a set: DNS servers rotate their answers. */
function setKey(backends: readonly FoundBackend[]): string {
  return backends
    .map((b) => JSON.stringify([b.address.text, b.name, b.weight, b.backup, b.maxConnections, b.proxyProtocol]))
    .sort()
    .join('\n');
}
