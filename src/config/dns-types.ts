/**
 * The normalized config of a `protocol: dns` service (GSLB): zones, records,
 * routing policies and members. Names are lowercase, absolute, without the
 * trailing dot; TTLs are in seconds; durations elsewhere in ms.
 */
import type { CidrSpec, Endpoint, HealthConfig } from './types';

export type DnsPolicy = 'simple' | 'weighted' | 'failover' | 'multivalue' | 'geolocation';
export const DNS_POLICIES: readonly DnsPolicy[] = ['simple', 'weighted', 'failover', 'multivalue', 'geolocation'];
export type DnsRecordType = 'A' | 'AAAA' | 'CNAME';
export const DNS_RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'CNAME'];
/** What a record answers when every member is down: all members anyway, SERVFAIL, or NODATA. */
export type WhenAllDown = 'answer-all' | 'servfail' | 'empty';

export interface DnsMemberConfig {
  /** An IP literal (IPv4 for A records, IPv6 for AAAA). */
  address: string;
  /** Admin API and metrics name; defaults to the address. */
  name: string;
  /** weighted: 0–255. */
  weight: number;
  failover: 'primary' | 'secondary';
  /** geolocation: a key of the service's `locations`, or "*" (the default location). */
  location: string;
}

export interface DnsRecordConfig {
  /** Absolute owner name. */
  name: string;
  type: DnsRecordType;
  ttl: number;
  policy: DnsPolicy;
  whenAllDown: WhenAllDown;
  health: HealthConfig;
  members: DnsMemberConfig[];
  /** CNAME records: the absolute target name (no members, no checks). */
  target: string | null;
}

export interface SoaConfig {
  /** Primary name server; defaults to the first ns name. */
  mname: string;
  /** Responsible mailbox as a name; defaults to hostmaster.<zone>. */
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  /** Negative-caching TTL (RFC 2308), seconds. */
  minimum: number;
  ttl: number;
}

export interface DnsZoneConfig {
  name: string;
  soa: SoaConfig;
  /** Name servers of the zone; `address` is glue (required when the name is inside the zone). */
  ns: Array<{ name: string; address: string | null }>;
  records: DnsRecordConfig[];
}

export interface DnsLocationRule {
  cidr: CidrSpec;
  location: string;
}

export interface DnsServiceConfig {
  name: string;
  protocol: 'dns';
  listen: Endpoint;
  /** Client network → location, for geolocation records. */
  locations: DnsLocationRule[];
  zones: DnsZoneConfig[];
  tcp: { idleTimeout: number; maxConnections: number };
}
