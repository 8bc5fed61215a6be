/** Backends by name: hostnames, SRV records and watched files (control plane only). */
export { Discovery, DEFAULT_DISCOVERY, createSource, type DiscoveryView } from './registry';
export { composeBackends } from './compose';
export { DnsResolver } from './resolver';
export type { FoundBackend, Lookup } from './types';
