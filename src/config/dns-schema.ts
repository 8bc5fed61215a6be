/**
 * Schema of a `protocol: dns` service (GSLB): zones, records and members.
 * Names are checked and made absolute here; cross-record rules (duplicates,
 * CNAME beside other data, glue, locations) are in dns-rules.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { REQUIRED, bool, checkTimingShape, cidrList, duration, endpoint, integer, oneOf, optionalInteger, optionalName, requiredName } from './fields';
import { describeValue } from './problems';
import { checkDnsService } from './dns-rules';
import { DNS_POLICIES, DNS_RECORD_TYPES, type DnsMemberConfig, type DnsRecordConfig, type DnsServiceConfig, type DnsZoneConfig } from './dns-types';

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Lowercase, no trailing dot; throws a reason when a label is not a hostname label. */
export function normalizeDnsName(text: string): string {
  const name = text.toLowerCase().replace(/\.$/, '');
  if (name === '' || name.length > 253) throw new Error(`${JSON.stringify(text)} is not a DNS name (1 to 253 characters)`);
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) throw new Error(`${JSON.stringify(text)}: label ${JSON.stringify(label)} may use only letters, digits, "-" and "_" (1 to 63)`);
  }
  return name;
}

function field<T>(check: (value: unknown) => T) {
  return z.unknown().optional().transform((value, ctx): T => {
    try {
      return check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

const dnsName = (optional: boolean) =>
  field((v): string | undefined => {
    if (v === undefined && optional) return undefined;
    if (v === undefined) throw new Error(REQUIRED);
    if (typeof v !== 'string') throw new Error(`must be a DNS name like "ns1.example.com" (got ${describeValue(v)})`);
    return normalizeDnsName(v);
  });

/** Relative to the zone ("www", "@" for the apex) or absolute with a trailing dot; resolved later against the zone. */
const ownerName = field((v): string => {
  if (v === undefined) throw new Error(REQUIRED);
  if (v === '@') return '@';
  if (typeof v !== 'string') throw new Error(`must be a name relative to the zone ("www", "@" for the apex) (got ${describeValue(v)})`);
  normalizeDnsName(v);
  return v.toLowerCase();
});

const ipLiteral = (optional: boolean) =>
  field((v): string | undefined => {
    if (v === undefined && optional) return undefined;
    if (v === undefined) throw new Error(REQUIRED);
    if (typeof v !== 'string' || isIP(v) === 0) throw new Error(`must be an IPv4 or IPv6 address without a port (got ${describeValue(v)})`);
    return v.toLowerCase();
  });

/** TTLs are written as durations ("30s", "5m") and kept in whole seconds. */
const ttl = (fallback: string) => duration(fallback).transform((ms) => Math.floor(ms / 1000));

const locationName = field((v): string => {
  if (v === undefined) return '*';
  if (v === '*') return v;
  if (typeof v === 'string' && /^[A-Za-z0-9_.-]+$/.test(v)) return v;
  throw new Error(`must be a location name from "locations" or "*" (got ${describeValue(v)})`);
});

function mapping<S extends z.core.$ZodLooseShape>(shape: S, what: string) {
  return z.strictObject(shape, {
    error: (iss) => (iss.code !== 'invalid_type' ? undefined : iss.input === undefined ? REQUIRED : `must be a mapping of ${what} (got ${describeValue(iss.input)})`),
  });
}

function list<T extends z.ZodType>(item: T, what: string, min: number) {
  return z
    .array(item, { error: (iss) => (iss.input === undefined ? REQUIRED : `must be a list of ${what} (got ${describeValue(iss.input)})`) })
    .min(min, { error: `must list at least one ${what.replace(/s$/, '')}` });
}

export const dnsMemberShape = {
  address: ipLiteral(false),
  name: optionalName(),
  weight: integer(0, 255, 1),
  failover: oneOf(['primary', 'secondary'] as const, 'primary'),
  location: locationName,
};
export const dnsHealthShape = { ...checkTimingShape, proxyProtocol: bool(false) };
export const dnsRecordShape = {
  name: ownerName,
  type: oneOf(DNS_RECORD_TYPES, 'A'),
  ttl: ttl('30s'),
  policy: oneOf(DNS_POLICIES, 'simple'),
  whenAllDown: oneOf(['answer-all', 'servfail', 'empty'] as const, 'answer-all'),
  health: mapping(dnsHealthShape, 'health-check settings').prefault({}),
  members: z.array(mapping(dnsMemberShape, 'member settings').transform((m): DnsMemberConfig => ({ ...m, address: m.address!, name: m.name ?? m.address! }))).optional(),
  target: dnsName(true),
};
export const soaShape = {
  mname: dnsName(true),
  rname: dnsName(true),
  serial: optionalInteger(1, 0xffffffff),
  refresh: ttl('1h'),
  retry: ttl('10m'),
  expire: ttl('168h'),
  minimum: ttl('30s'),
  ttl: ttl('1h'),
};
export const nsShape = { name: dnsName(false), address: ipLiteral(true) };
export const dnsZoneShape = {
  name: dnsName(false),
  soa: mapping(soaShape, 'SOA settings').prefault({}),
  ns: list(mapping(nsShape, 'name server settings'), 'name servers', 1),
  records: list(mapping(dnsRecordShape, 'record settings'), 'records', 0).prefault([]),
};
export const dnsTcpShape = { idleTimeout: duration('10s', { positive: true }), maxConnections: integer(1, 1_000_000, 1000) };
export const dnsServiceShape = {
  name: requiredName(),
  protocol: oneOf(['dns'] as const),
  listen: endpoint(true),
  locations: z.record(z.string(), cidrList()).optional(),
  zones: list(mapping(dnsZoneShape, 'zone settings'), 'zones', 1),
  tcp: mapping(dnsTcpShape, 'tcp settings').prefault({}),
};

/** Serial when none is configured: the load time, so every reload publishes a newer SOA. */
const loadSerial = () => Math.floor(Date.now() / 1000);

export const dnsServiceSchema = mapping(dnsServiceShape, 'service settings').transform((s, ctx): DnsServiceConfig => {
  const zones = s.zones.map((z, zi): DnsZoneConfig => {
    const zone = z.name!;
    const records = z.records.map((r, ri): DnsRecordConfig => {
      const at = (key: string) => ['zones', zi, 'records', ri, key];
      const name = r.name === '@' ? zone : r.name.endsWith('.') ? r.name.slice(0, -1) : `${r.name}.${zone}`;
      if (name !== zone && !name.endsWith(`.${zone}`)) ctx.addIssue({ code: 'custom', path: at('name'), message: `${name} is not inside the zone ${zone}` });
      if (r.health.enabled && r.health.port === undefined && r.type !== 'CNAME') {
        ctx.addIssue({ code: 'custom', path: ['zones', zi, 'records', ri, 'health', 'port'], message: 'is required: members are addresses without a port, checked by TCP connect to this port (or set enabled: false)' });
      }
      return {
        name,
        type: r.type,
        ttl: r.ttl,
        policy: r.policy,
        whenAllDown: r.whenAllDown,
        health: { ...r.health, passiveFailures: 0, passiveHold: 0 }, // dns members have no passive checks
        members: r.members ?? [],
        target: r.target ?? null,
      };
    });
    const ns = z.ns.map((n) => ({ name: n.name!, address: n.address ?? null }));
    const soa = { ...z.soa, mname: z.soa.mname ?? ns[0]!.name, rname: z.soa.rname ?? `hostmaster.${zone}`, serial: z.soa.serial ?? loadSerial() };
    return { name: zone, soa, ns, records };
  });
  const locations = Object.entries(s.locations ?? {}).flatMap(([location, cidrs]) => cidrs.map((cidr) => ({ cidr, location })));
  const service: DnsServiceConfig = { name: s.name, protocol: 'dns', listen: s.listen, locations, zones, tcp: s.tcp };
  checkDnsService(service, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  return service;
});

/** For "did you mean" hints, by path pattern. */
export const DNS_KEYS_AT: Record<string, readonly string[]> = {
  'services[].zones[]': Object.keys(dnsZoneShape),
  'services[].zones[].soa': Object.keys(soaShape),
  'services[].zones[].ns[]': Object.keys(nsShape),
  'services[].zones[].records[]': Object.keys(dnsRecordShape),
  'services[].zones[].records[].health': Object.keys(dnsHealthShape),
  'services[].zones[].records[].members[]': Object.keys(dnsMemberShape),
  'services[].tcp': Object.keys(dnsTcpShape),
};
