/**
 * Listen addresses that the kernel would refuse at start although each one
 * parses: two sockets on the same port and protocol where one is a wildcard
 * (0.0.0.0:P beside 127.0.0.1:P is EADDRINUSE), the admin API on a TCP
 * service's port, the peer socket on a UDP service's port, and IPv4-mapped
 * IPv6 listen addresses (an IPv6-only socket cannot bind ::ffff:a.b.c.d:
 * EINVAL). They run on the raw document, like the other cross-field rules,
 * so `validate` reports them with everything else.
 */
import { parseEndpoint } from './address';
import { type ConfigProblem, type PathSegment, isPlainObject } from './problems';
import type { Endpoint } from './types';

interface Listener {
  path: PathSegment[];
  /** What the message calls it: services[2], admin.listen, peer.listen. */
  label: string;
  protocol: 'tcp' | 'udp';
  endpoint: Endpoint;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

export function checkListenAddresses(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isPlainObject(raw)) return problems;
  const listeners: Listener[] = [];
  const add = (path: PathSegment[], label: string, protocol: unknown, value: unknown) => {
    const endpoint = parse(value);
    if (endpoint === undefined || (protocol !== 'tcp' && protocol !== 'udp')) return;
    if (endpoint.family === 6 && endpoint.host.startsWith('::ffff:')) {
      const v4 = endpoint.host.slice('::ffff:'.length);
      problems.push({ path, reason: `${endpoint.text} is an IPv4-mapped IPv6 address, which an IPv6-only socket cannot bind: write "${v4}:${endpoint.port}"` });
      return;
    }
    listeners.push({ path, label, protocol, endpoint });
  };
  if (Array.isArray(raw.services)) {
    raw.services.forEach((s: unknown, i: number) => {
      if (isPlainObject(s)) add(['services', i, 'listen'], `services[${i}]`, s.protocol ?? 'tcp', s.listen);
    });
  }
  if (isPlainObject(raw.admin) && raw.admin.enabled !== false) add(['admin', 'listen'], 'admin.listen', 'tcp', raw.admin.listen ?? '127.0.0.1:9090');
  if (isPlainObject(raw.peer)) add(['peer', 'listen'], 'peer.listen', 'udp', raw.peer.listen);

  // Same address and port is the uniqueness rule's (services) problem; here only the wildcard and admin/peer overlaps.
  const byPort = new Map<string, Listener[]>();
  for (const l of listeners) {
    if (l.endpoint.port === 0) continue; // the OS picks a free port: never a clash
    const key = `${l.protocol}/${l.endpoint.family}/${l.endpoint.port}`;
    const earlier = byPort.get(key) ?? [];
    const clash = earlier.find((e) => overlaps(e, l));
    if (clash !== undefined) {
      const how = clash.endpoint.host === l.endpoint.host ? 'is the same address as' : 'overlaps (wildcard) with';
      problems.push({ path: l.path, reason: `${l.protocol} ${l.endpoint.text} ${how} ${clash.label} (${clash.endpoint.text}): the second bind would fail with EADDRINUSE` });
    }
    earlier.push(l);
    byPort.set(key, earlier);
  }
  return problems;
}

function overlaps(a: Listener, b: Listener): boolean {
  const sameHost = a.endpoint.host === b.endpoint.host;
  // Two services on one address are reported by checkUniqueness; admin/peer ones are not.
  if (sameHost) return a.path[0] !== 'services' || b.path[0] !== 'services';
  return WILDCARDS.has(a.endpoint.host) || WILDCARDS.has(b.endpoint.host);
}

function parse(value: unknown): Endpoint | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseEndpoint(value, { allowPortZero: true });
  } catch {
    return undefined;
  }
}
