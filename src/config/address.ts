/**
 * Endpoints in the config file: an IP literal and a port, `1.2.3.4:80` or
 * `[2001:db8::1]:5432`. Hostnames are refused here; backend entries may name
 * a host (`parseHostPort`), which src/discovery/ resolves.
 * Canonical text: IPv4 as written (leading zeros are refused), IPv6
 * compressed lowercase in brackets.
 */
import net from 'node:net';
import { Address4, Address6 } from 'ip-address';
import type { Endpoint } from './types';

export interface ParseEndpointOptions {
  /** Listen addresses may use port 0 (the OS picks a free port; tests rely on it). */
  allowPortZero?: boolean;
}

const HOSTNAME = /^(?=.*[A-Za-z])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?$/;
const ZONE = /^%[A-Za-z0-9_.-]+$/;

/** Parses `IP:port` / `[IPv6]:port`; throws an Error whose message is a human reason. */
export function parseEndpoint(text: string, options: ParseEndpointOptions = {}): Endpoint {
  const shown = JSON.stringify(text);
  const s = text.trim();
  if (s === '') throw new Error('is empty: write an IP address and port, e.g. "10.0.0.1:80" or "[::1]:80"');
  if (s.startsWith('[')) return parseBracketed(s, shown, options);

  const lastColon = s.lastIndexOf(':');
  if (lastColon === -1) {
    if (isIPv4(s)) throw new Error(`${shown} has no port`);
    throw notAnIp(s, shown);
  }
  const host = s.slice(0, lastColon);
  const portText = s.slice(lastColon + 1);
  if (s.indexOf(':') !== lastColon) {
    // More than one colon: an IPv6 address written without brackets.
    if (parseIPv6(host) !== undefined && /^\d+$/.test(portText)) {
      throw new Error(`${shown}: IPv6 addresses must be in brackets, e.g. "[${host}]:${portText}"`);
    }
    if (parseIPv6(s) !== undefined) {
      throw new Error(`${shown}: IPv6 addresses must be in brackets with a port, e.g. "[${s}]:PORT"`);
    }
    throw new Error(`${shown} is not a valid IP address and port`);
  }
  if (host === '') throw new Error(`${shown} has no IP address: write e.g. "0.0.0.0${s}" or "[::]${s}"`);
  if (!isIPv4(host)) throw notAnIp(host, shown);
  const port = parsePort(portText, shown, options);
  return { host, port, family: 4, text: `${host}:${port}` };
}

function parseBracketed(s: string, shown: string, options: ParseEndpointOptions): Endpoint {
  const close = s.indexOf(']');
  if (close === -1) throw new Error(`${shown} has "[" without a closing "]"`);
  const inner = s.slice(1, close);
  const rest = s.slice(close + 1);
  const host = parseIPv6(inner);
  if (host === undefined) {
    if (isIPv4(inner)) {
      throw new Error(`${shown}: brackets are only for IPv6 addresses; write "${inner}${rest}"`);
    }
    throw new Error(`${shown}: "${inner}" is not a valid IPv6 address`);
  }
  if (rest === '' || rest === ':') throw new Error(`${shown} has no port`);
  if (!rest.startsWith(':')) throw new Error(`${shown}: expected ":PORT" after "]"`);
  const port = parsePort(rest.slice(1), shown, options);
  return { host, port, family: 6, text: `[${host}]:${port}` };
}

/** Canonical IPv6 text (compressed, lowercase, zone kept), or undefined when not an IPv6 literal. */
function parseIPv6(text: string): string | undefined {
  if (text.includes('/') || !text.includes(':')) return undefined;
  const zoneAt = text.indexOf('%');
  const zone = zoneAt === -1 ? '' : text.slice(zoneAt);
  if (zone !== '' && !ZONE.test(zone)) return undefined;
  const bare = zoneAt === -1 ? text : text.slice(0, zoneAt);
  if (!Address6.isValid(bare)) return undefined;
  const address = new Address6(bare);
  // Keep IPv4-mapped addresses readable: ::ffff:10.0.0.1 rather than ::ffff:a00:1.
  const compressed = address.correctForm();
  const canonical = address.is4() && compressed.startsWith('::ffff:') ? `::ffff:${address.to4().correctForm()}` : compressed;
  return canonical + zone;
}

/** ip-address accepts "10.0.0.0/8"; a prefix length has no place in an endpoint. */
function isIPv4(text: string): boolean {
  return !text.includes('/') && Address4.isValid(text);
}

function notAnIp(host: string, shown: string): Error {
  if (HOSTNAME.test(host)) {
    const hint = host === 'localhost' ? ': use 127.0.0.1 or [::1]' : '';
    return new Error(`${shown}: "${host}" is a hostname; only IP addresses are allowed here (backends may use hostnames)${hint}`);
  }
  return new Error(`${shown}: "${host}" is not a valid IPv4 address`);
}

/** `db.internal:5432`: a hostname and port for discovery; undefined when the host part is not a hostname. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const s = text.trim();
  const colon = s.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = s.slice(0, colon);
  if (!HOSTNAME.test(host) || host.length > 253) return undefined;
  return { host: host.replace(/\.$/, '').toLowerCase(), port: parsePort(s.slice(colon + 1), JSON.stringify(text), {}) };
}

function parsePort(portText: string, shown: string, options: ParseEndpointOptions): number {
  const min = options.allowPortZero === true ? 0 : 1;
  if (portText === '') throw new Error(`${shown} has no port`);
  if (!/^\d+$/.test(portText)) throw new Error(`${shown}: port "${portText}" is not a number`);
  const port = Number(portText);
  if (port < min || port > 65535) throw new Error(`${shown}: port ${port} is out of range ${min}..65535`);
  return port;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x (either spelling). Hostnames are not loopback (they are never resolved here). */
export function isLoopback(endpoint: Pick<Endpoint, 'host'> | string): boolean {
  let host = typeof endpoint === 'string' ? endpoint : endpoint.host;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const zone = host.indexOf('%');
  if (zone !== -1) host = host.slice(0, zone);
  if (net.isIPv4(host)) return host.split('.')[0] === '127';
  if (!net.isIPv6(host)) return false;
  return loopbackV6.check(host, 'ipv6');
}

// BlockList matches IPv4-mapped IPv6 addresses against IPv4 rules, so
// ::ffff:127.0.0.1 and ::ffff:7f00:1 both hit the 127.0.0.0/8 subnet.
const loopbackV6 = new net.BlockList();
loopbackV6.addAddress('::1', 'ipv6');
loopbackV6.addSubnet('127.0.0.0', 8, 'ipv4');
