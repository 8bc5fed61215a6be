import type { DnsResolver } from './resolver';
import { endpointOf } from './resolver';
import type { Lookup, Source } from './types';

/** `address: db.internal:5432`: every A and AAAA address of the name is a backend on that port. */
export class HostSource implements Source {
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly resolver: DnsResolver,
  ) {}

  async lookup(): Promise<Lookup> {
    const answer = await this.resolver.addresses(this.host);
    if ('result' in answer) return answer;
    const backends = answer.addresses.map((a) => ({ address: endpointOf(a.address, a.family, this.port) }));
    return { result: 'ok', backends, ttlMs: Math.min(...answer.addresses.map((a) => a.ttl)) * 1000 };
  }
}
