/**
 * The health-check types (`health.type`), the agent check (`agent:`) and flap
 * damping (`health.damping`): their schema fields, their normalization into
 * HealthConfig, and the rules across fields (which keys fit which type).
 * Kept apart from schema.ts so the check types grow in one place.
 */
import { z } from 'zod';
import { duration, integer, optionalInteger, optionalOneOf, optionalString, oneOf } from './fields';
import { describeValue, isPlainObject, type ConfigProblem } from './problems';
import type { AgentConfig, CheckType, DampingConfig, HealthConfig } from './types';

export const CHECK_TYPES: readonly CheckType[] = ['tcp', 'http', 'redis', 'postgres'];
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'OPTIONS'] as const;
const ROLES = { redis: ['master', 'replica', 'any'], postgres: ['primary', 'replica', 'any'] } as const;

/** Keys of the `health` mapping that belong to one check type only. */
const TYPE_KEYS: Record<string, readonly CheckType[]> = {
  method: ['http'],
  path: ['http'],
  expectStatus: ['http'],
  expectBody: ['http'],
  host: ['http'],
  role: ['redis', 'postgres'],
  user: ['redis', 'postgres'],
  password: ['redis', 'postgres'],
  database: ['postgres'],
  maxLagBytes: ['postgres'],
};

function statusList() {
  return z.unknown().optional().transform((v, ctx): number[] | undefined => {
    if (v === undefined) return undefined;
    const list = Array.isArray(v) ? v : [v];
    const ok = list.length > 0 && list.every((s) => typeof s === 'number' && Number.isInteger(s) && s >= 100 && s <= 599);
    if (ok) return list as number[];
    ctx.addIssue({ code: 'custom', message: `must be an HTTP status (100..599) or a list of them (got ${describeValue(v)})` });
    return z.NEVER;
  });
}

export const dampingShape = {
  changes: integer(1, 1000, 4),
  window: duration('1m', { positive: true }),
  hold: duration('30s', { positive: true }),
  maxHold: duration('10m', { positive: true }),
};

/** Added to the `health` mapping's shape. */
export const checkShape = {
  type: oneOf(CHECK_TYPES, 'tcp'),
  method: oneOf(HTTP_METHODS, 'GET'),
  path: optionalString(),
  expectStatus: statusList(),
  expectBody: optionalString(),
  host: optionalString(),
  role: optionalOneOf(['master', 'primary', 'replica', 'any'] as const),
  user: optionalString(),
  password: optionalString(),
  database: optionalString(),
  maxLagBytes: optionalInteger(0, Number.MAX_SAFE_INTEGER),
};

export const agentShape = {
  port: integer(1, 65535, 0), // 0 only when missing: checkHealthTypes reports it as required
  interval: duration('2s', { positive: true }),
  timeout: duration('1s', { positive: true }),
};

type Out<S extends Record<string, z.ZodType>> = { [K in keyof S]: z.output<S[K]> };

type RawChecks = Out<typeof checkShape> & { damping?: Out<typeof dampingShape> };

/** The parsed `health` mapping with its flat check keys replaced by HealthConfig's per-type settings. */
export function withChecks<T extends RawChecks>(h: T): Omit<T, keyof RawChecks> & Partial<HealthConfig> {
  const base: Record<string, unknown> = { ...h };
  for (const key of [...Object.keys(checkShape), 'damping']) delete base[key];
  return { ...(base as Omit<T, keyof RawChecks>), ...normalizeChecks(h) };
}

/** Absent type = tcp, as before check types existed (no `type` key in the result). */
function normalizeChecks(h: RawChecks): Partial<HealthConfig> {
  const out: Partial<HealthConfig> = {};
  if (h.damping !== undefined) out.damping = h.damping satisfies DampingConfig;
  switch (h.type) {
    case 'http':
      return { ...out, type: 'http', http: { method: h.method, path: h.path ?? '/', expectStatus: h.expectStatus ?? null, ...opt('expectBody', h.expectBody), ...opt('host', h.host) } };
    case 'redis':
      return { ...out, type: 'redis', redis: { role: (h.role ?? 'any') as 'master' | 'replica' | 'any', ...opt('user', h.user), ...opt('password', h.password) } };
    case 'postgres':
      return {
        ...out,
        type: 'postgres',
        postgres: { role: (h.role ?? 'any') as 'primary' | 'replica' | 'any', user: h.user ?? 'postgres', database: h.database ?? 'postgres', ...opt('password', h.password), ...opt('maxLagBytes', h.maxLagBytes) },
      };
    default:
      return out;
  }
}

export function normalizeAgent(a: Out<typeof agentShape> | undefined): AgentConfig | null {
  return a === undefined ? null : { port: a.port, interval: a.interval, timeout: a.timeout };
}

const opt = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

/** Keys that do not fit the chosen check type, roles that do not fit it, agent without a port. */
export function checkHealthTypes(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isPlainObject(raw) || !Array.isArray(raw.services)) return problems;
  raw.services.forEach((service: unknown, i: number) => {
    if (!isPlainObject(service)) return;
    if (isPlainObject(service.agent) && service.agent.port === undefined) {
      problems.push({ path: ['services', i, 'agent', 'port'], reason: 'is required (the port the backend host\'s agent listens on, e.g. 9777)' });
    }
    const health = service.health;
    if (!isPlainObject(health)) return;
    const type = (health.type ?? 'tcp') as CheckType;
    if (!CHECK_TYPES.includes(type)) return; // the schema already said why
    const at = (key: string) => ['services', i, 'health', key];
    for (const [key, types] of Object.entries(TYPE_KEYS)) {
      if (health[key] !== undefined && !types.includes(type)) problems.push({ path: at(key), reason: `only for type: ${types.join(' or ')} (this check is type: ${type})` });
    }
    if ((type === 'redis' || type === 'postgres') && typeof health.role === 'string' && !(ROLES[type] as readonly string[]).includes(health.role)) {
      problems.push({ path: at('role'), reason: `must be one of ${ROLES[type].join(', ')} for type: ${type} (got "${health.role}")` });
    }
    if (type === 'http' && typeof health.path === 'string' && !health.path.startsWith('/')) problems.push({ path: at('path'), reason: `must start with "/" (got "${health.path}")` });
    if (type !== 'tcp' && service.protocol === 'udp' && health.port === undefined) {
      problems.push({ path: at('type'), reason: `a ${type} check of a udp service needs health.port (the TCP port it answers on)` });
    }
    if (type !== 'tcp' && health.proxyProtocol === true) problems.push({ path: at('proxyProtocol'), reason: 'only for type: tcp' });
  });
  return problems;
}
