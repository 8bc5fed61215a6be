/**
 * Leaf checks of the config schema. Each is a zod schema over one raw value
 * that either returns the normalized value (applying its default when the key
 * is absent) or adds one issue whose message is a human reason.
 */
import { z } from 'zod';
import { parseEndpoint } from './address';
import { durationTypeReason, parseDuration } from './duration';
import { describeValue } from './problems';
import { parseCidr } from '../admission/cidr';
import type { CidrSpec, Endpoint } from './types';

export const REQUIRED = 'is required';
export const NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;

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
  return v;
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
