import type { BackendConfig, DiscoveryEntry, ServiceConfig } from '../config/types';
import type { FoundBackend } from './types';

/**
 * A service's backend list: its IP literals, then what each discovery entry
 * found, with the entry's settings. The first backend of a name or address
 * wins, so a host named twice (or also listed by IP) is one backend.
 */
export function composeBackends(config: ServiceConfig, found: (source: string) => readonly FoundBackend[]): BackendConfig[] {
  const out = [...config.backends];
  const taken = new Set(out.flatMap((b) => [b.name, b.address.text]));
  for (const entry of config.discovery ?? []) {
    for (const f of found(entry.source)) {
      const b = fromEntry(entry, f);
      if (taken.has(b.name) || taken.has(b.address.text)) continue;
      taken.add(b.name).add(b.address.text);
      out.push(b);
    }
  }
  return out;
}

function fromEntry(entry: DiscoveryEntry, f: FoundBackend): BackendConfig {
  // SRV weights are the source's, unless the entry sets one; a file's own settings win over the entry's.
  const weight = entry.kind === 'srv' ? (entry.weight ?? f.weight) : (f.weight ?? entry.weight);
  const proxyProtocol = f.proxyProtocol ?? entry.proxyProtocol;
  return {
    address: f.address,
    name: f.name ?? f.address.text,
    weight: weight ?? 1,
    backup: entry.backup || f.backup === true,
    maxConnections: f.maxConnections ?? entry.maxConnections,
    ...(proxyProtocol !== undefined && { proxyProtocol }),
    source: entry.source,
  };
}
