import type { SrvRecord } from 'node:dns';
import type { DnsResolver } from './resolver';
import { endpointOf } from './resolver';
import { failed, type FoundBackend, type Lookup, type Source } from './types';

/** fulcrum weights are 0..1000; SRV weights are 0..65535. */
const MAX_WEIGHT = 1000;

/**
 * `srv: _postgresql._tcp.db.service.consul`: each SRV target's addresses on
 * the record's port. The lowest priority present is primary; every other
 * priority is a backup. Weights keep their proportions (scaled down past
 * 1000; weight 0 counts as 1, the smallest share fulcrum has).
 */
export class SrvSource implements Source {
  constructor(
    private readonly name: string,
    private readonly resolver: DnsResolver,
  ) {}

  async lookup(): Promise<Lookup> {
    const records = await this.resolver.srv(this.name);
    if (!Array.isArray(records)) return records;
    // "." as the target means "no such service here" (RFC 2782).
    const usable = records.filter((r) => r.name !== '' && r.name !== '.');
    if (usable.length === 0) return failed('empty', `${this.name}: SRV records have no target`);
    const targets = [...new Set(usable.map((r) => r.name.toLowerCase()))];
    const answers = await Promise.all(targets.map((t) => this.resolver.addresses(t)));
    const byTarget = new Map<string, string[][]>();
    for (const [i, answer] of answers.entries()) {
      if (!('result' in answer)) {
        byTarget.set(targets[i], answer.addresses.map((a) => [a.address, String(a.family)]));
      } else if (answer.result !== 'ok' && answer.result !== 'nxdomain' && answer.result !== 'empty') {
        // A target we could not ask about makes the whole answer incomplete: keep the last set.
        return failed(answer.result, answer.reason);
      }
    }
    const primary = Math.min(...usable.map((r) => r.priority));
    const scale = Math.max(...usable.map((r) => r.weight)) > MAX_WEIGHT ? MAX_WEIGHT / Math.max(...usable.map((r) => r.weight)) : 1;
    const seen = new Map<string, FoundBackend>();
    // Lower priority first, so an address listed twice keeps its most preferred record.
    for (const r of [...usable].sort((a, b) => a.priority - b.priority)) {
      for (const [address, family] of byTarget.get(r.name.toLowerCase()) ?? []) {
        const endpoint = endpointOf(address, Number(family) as 4 | 6, r.port);
        if (seen.has(endpoint.text)) continue;
        seen.set(endpoint.text, { address: endpoint, weight: srvWeight(r, scale), backup: r.priority !== primary });
      }
    }
    if (seen.size === 0) return failed('empty', `${this.name}: no SRV target has an address`);
    return { result: 'ok', backends: [...seen.values()] };
  }
}

function srvWeight(r: SrvRecord, scale: number): number {
  return Math.max(1, Math.round(r.weight * scale));
}
