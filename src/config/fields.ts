/**
 * Leaf checks of the config schema. Each is a zod schema over one raw value
 * that either returns the normalized value (applying its default when the key
 * is absent) or adds one issue whose message is a human reason.
 */
import { MAX_WORKERS, workersProblem, type WorkersSetting } from '../workers/count';
import { z } from 'zod';
import net from 'node:net';
import { parseEndpoint, parseHostPort } from './address';
import { durationTypeReason, parseDuration } from './duration';
import { describeValue } from './problems';
import { parseCidr } from '../admission/cidr';
import type { CidrSpec, Endpoint } from './types';

export const REQUIRED = 'is required';
export const NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
/**
 * Longest service, backend or peer id name, in bytes (names are ASCII). The
 * pair's heartbeat carries node ids of up to 64 bytes and its session sync a
 * service and a backend name per entry (at most 255 bytes each), so a longer
 * name could not be sent and used to stop the sync (issue 11, item 1).
 */
export const MAX_NAME_LENGTH = 64;

function field<T>(check: (value: unknown) => T) {
  return z.unknown().optional().transform((value, ctx): T => {
    try {
      return check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });
}

export function oneOf<T extends string>(values: readonly T[], fallback?: T) {
  return field((v): T => {
    if (v === undefined && fallback !== undefined) return fallback;
    if (v === undefined) throw new Error(REQUIRED);
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    throw new Error(`must be one of ${values.join(', ')} (got ${describeValue(v)})`);
  });
}

export function optionalOneOf<T extends string>(values: readonly T[]) {
  return field((v): T | undefined => (v === undefined ? undefined : checkOneOf(values, v)));
}

function checkOneOf<T extends string>(values: readonly T[], v: unknown): T {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  throw new Error(`must be one of ${values.join(', ')} (got ${describeValue(v)})`);
}

export function bool(fallback: boolean) {
  return field((v): boolean => {
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    throw new Error(`must be true or false (got ${describeValue(v)})`);
  });
}

export function integer(min: number, max: number | undefined, fallback: number) {
  const range = max === undefined ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
  return field((v): number => {
    if (v === undefined) return fallback;
    const ok = typeof v === 'number' && Number.isSafeInteger(v) && v >= min && (max === undefined || v <= max);
    if (!ok) throw new Error(`must be ${range} (got ${describeValue(v)})`);
    return v as number;
  });
}

/** `workers`: auto, or a count this Node can run (above 1 needs reusePort). */
export function workersField() {
  return field((v): WorkersSetting => {
    if (v === undefined || v === 'auto') return 'auto';
    const ok = typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= MAX_WORKERS;
    if (!ok) throw new Error(`must be auto or an integer between 1 and ${MAX_WORKERS} (got ${describeValue(v)})`);
    const problem = workersProblem(v as number);
    if (problem !== null) throw new Error(problem);
    return v as number;
  });
}

export function duration(fallback: string, options: { positive?: boolean } = {}) {
  return field((v): number => {
    if (v === undefined) return parseDuration(fallback);
    if (typeof v !== 'string') throw new Error(durationTypeReason(v));
    const ms = parseDuration(v);
    if (options.positive === true && ms === 0) throw new Error(`must be more than 0 (got ${describeValue(v)})`);
    return ms;
  });
}

export function endpoint(allowPortZero: boolean) {
  return field((v): Endpoint => {
    if (v === undefined) throw new Error(REQUIRED);
    if (typeof v !== 'string') {
      throw new Error(`must be an address string like "10.0.0.1:80" or "[::1]:80" (got ${describeValue(v)})`);
    }
    return parseEndpoint(v, { allowPortZero });
  });
}

export function optionalInteger(min: number, max: number) {
  return field((v): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max) return v;
    throw new Error(`must be an integer between ${min} and ${max} (got ${describeValue(v)})`);
  });
}

export function number(min: number, max: number, fallback: number) {
  return field((v): number => {
    if (v === undefined) return fallback;
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) return v;
    throw new Error(`must be a number between ${min} and ${max} (got ${describeValue(v)})`);
  });
}

/** Bytes written as hex ("0a1b..."), for UDP health probes. */
export function hexBytes() {
  return field((v): Buffer => {
    if (v === undefined) throw new Error(REQUIRED);
    return parseHex(v, false) as Buffer;
  });
}

/** Hex bytes, or "any" (the default). */
export function hexOrAny() {
  return field((v): Buffer | 'any' => (v === undefined || v === 'any' ? 'any' : parseHex(v, true)));
}

function parseHex(v: unknown, allowAny: boolean): Buffer {
  if (typeof v === 'string' && v.length > 0 && v.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(v)) return Buffer.from(v, 'hex');
  throw new Error(`must be hex bytes like "ffffffff54536f75726365"${allowAny ? ' or "any"' : ''} (got ${describeValue(v)})`);
}

/** The pair's shared secret: required (heartbeats are authenticated), and long enough to matter. */
export function requiredKey() {
  return field((v): string => {
    if (v === undefined) throw new Error('is required: heartbeats are authenticated with HMAC-SHA256 under this key');
    if (typeof v !== 'string' || v.length < 16) throw new Error('must be a string of at least 16 characters (use "${FULCRUM_PEER_KEY}")');
    return v;
  });
}

export function optionalString() {
  return field((v): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v !== '') return v;
    throw new Error(`must be a non-empty string (got ${describeValue(v)})`);
  });
}

/**
 * RFC 6750 b64token: what an `Authorization: Bearer` header can carry. A
 * token outside it (a space, a quote, a non-ASCII letter) could never
 * authenticate, so it is refused here rather than at the first request.
 */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function bearerToken() {
  return field((v): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new Error(`must be a non-empty string (got ${describeValue(v)})`);
    if (BEARER_TOKEN.test(v)) return v;
    // The token is a secret: name the offending character's position and kind, never the token.
    throw new Error(`is not a valid bearer token: ${badCharacter(v)}; use letters, digits and - . _ ~ + / (= only at the end), e.g. the output of "openssl rand -hex 32"`);
  });
}

/** "a space at character 7": the first character a bearer token cannot hold, without showing the secret. */
function badCharacter(token: string): string {
  const chars = [...token];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    const trailingPad = c === '=' && chars.slice(i).every((x) => x === '=');
    if (trailingPad || /^[A-Za-z0-9\-._~+/]$/.test(c)) continue;
    if (c === '=') return `"=" at character ${i + 1} is only allowed as trailing padding`;
    const kind = /\s/.test(c) ? 'whitespace' : c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7e ? 'a control or non-ASCII character' : `"${c}"`;
    return `${kind} at character ${i + 1}`;
  }
  return 'bad characters';
}

/** A list of CIDRs or bare addresses ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"); absent = empty. */
export function cidrList() {
  return field((v): CidrSpec[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new Error(`must be a list of networks like ["10.0.0.0/8", "2001:db8::/32"] (got ${describeValue(v)})`);
    const out: CidrSpec[] = [];
    const bad: string[] = [];
    for (const item of v) {
      try {
        if (typeof item !== 'string') throw new Error(`${describeValue(item)} is not a string`);
        out.push(parseCidr(item));
      } catch (err) {
        bad.push((err as Error).message);
      }
    }
    if (bad.length > 0) throw new Error(bad.join('; '));
    return out;
  });
}

/** A service or backend name: letters, digits, "_", "." and "-" (safe in URLs and metric labels). */
export function requiredName() {
  return field((v): string => checkName(v));
}

export function optionalName() {
  return field((v): string | undefined => (v === undefined ? undefined : checkName(v)));
}

function checkName(v: unknown): string {
  if (v === undefined) throw new Error(REQUIRED);
  if (typeof v !== 'string' || v === '') throw new Error(`must be a non-empty string (got ${describeValue(v)})`);
  if (!NAME_PATTERN.test(v)) throw new Error(`${JSON.stringify(v)} may contain only letters, digits, "_", "." and "-"`);
  if (v.length > MAX_NAME_LENGTH) throw new Error(`is ${v.length} characters long; names may have at most ${MAX_NAME_LENGTH}`);
  return v;
}



// ---- discovery (src/discovery/)

/** A backend address: an IP literal and port, or `hostname:port` (resolved by discovery). Absent = undefined. */
export function backendAddress() {
  return field((v): Endpoint | { host: string; port: number } | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new Error(`must be an address string like "10.0.0.1:80", "[::1]:80" or "db.internal:5432" (got ${describeValue(v)})`);
    try {
      return parseEndpoint(v);
    } catch (err) {
      const named = parseHostPort(v);
      if (named === undefined) throw err;
      return named;
    }
  });
}

export function optionalDuration() {
  return field((v): number | undefined => (v === undefined ? undefined : checkDuration(v)));
}

function checkDuration(v: unknown): number {
  if (typeof v !== 'string') throw new Error(durationTypeReason(v));
  return parseDuration(v);
}

/** An SRV name such as `_postgresql._tcp.db.service.consul`. */
export function optionalSrvName() {
  return field((v): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'string' && /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?$/.test(v)) return v.replace(/\.$/, '').toLowerCase();
    throw new Error(`must be a DNS name like "_postgresql._tcp.db.service.consul" (got ${describeValue(v)})`);
  });
}

/** DNS servers: `"10.0.0.2"` (port 53), `"10.0.0.2:5353"`, `"[::1]:53"`; absent = the system's. */
export function resolverList() {
  return field((v): Endpoint[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new Error(`must be a list of DNS servers like ["127.0.0.1:53"] (got ${describeValue(v)})`);
    return v.map((item) => {
      if (typeof item !== 'string') throw new Error(`${describeValue(item)} is not a DNS server address`);
      const bare = item.replace(/^\[(.*)\]$/, '$1');
      return parseEndpoint(net.isIP(bare) === 0 ? item : net.isIPv6(bare) ? `[${bare}]:53` : `${bare}:53`);
    });
  });
}

/** Timing of active health checks: the same keys and defaults for backends and dns members. */
export const checkTimingShape = {
  enabled: bool(true),
  interval: duration('2s', { positive: true }),
  timeout: duration('1s', { positive: true }),
  rise: integer(1, 100, 2),
  fall: integer(1, 100, 3),
  port: optionalInteger(1, 65535),
};
