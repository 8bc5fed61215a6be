/**
 * The zod schema of the raw config document and its transform into the
 * normalized FulcrumConfig (defaults applied, durations in ms, endpoints
 * parsed). Strict: unknown keys are problems. Leaves are the checks in fields.ts;
 * zod issues become "path: reason" problems here.
 */
import { z } from 'zod';
import { REQUIRED, backendAddress, bearerToken, checkTimingShape, optionalDuration, optionalSrvName, resolverList, bool, cidrList, duration, endpoint, hexBytes, hexOrAny, integer, requiredKey, number, oneOf, optionalInteger, optionalName, optionalOneOf, optionalString, requiredName, workersField } from './fields';
import { type ConfigProblem, type PathSegment, describeValue } from './problems';
import { closestKey } from './suggest';
import { DNS_KEYS_AT, dnsServiceSchema } from './dns-schema';
import type { DnsServiceConfig } from './dns-types';
import { agentShape, checkShape, dampingShape, normalizeAgent, withChecks } from './checks';
export { NAME_PATTERN } from './fields';
import {
  BALANCE_NAMES,
  type BackendConfig,
  type BalanceName,
  type DiscoveryEntry,
  type FulcrumConfig,
  type LogConfig,
  type Protocol,
  type ServiceConfig,
} from './types';

export const LOG_LEVELS: readonly LogConfig['level'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];
/** Shown in the protocol error: dns services have their own schema (dns-schema.ts). */
const PROTOCOL_CHOICES = [...PROTOCOLS, 'dns'] as const;
export const DEFAULT_BALANCE: Record<Protocol, BalanceName> = { tcp: 'least-conn', udp: 'source-hash' };


// ---- containers

function mapping<S extends z.core.$ZodLooseShape>(shape: S, what: string) {
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'invalid_type') return undefined;
      return iss.input === undefined ? REQUIRED : `must be a mapping of ${what} (got ${describeValue(iss.input)})`;
    },
  });
}

function list<T extends z.ZodType>(item: T, what: string) {
  return z
    .array(item, {
      error: (iss) => (iss.input === undefined ? REQUIRED : `must be a list of ${what} (got ${describeValue(iss.input)})`),
    })
    .min(1, { error: `must list at least one ${what.replace(/s$/, '')}` });
}

const logShape = { level: oneOf(LOG_LEVELS, 'info'), connections: bool(false) };
const healthShape = {
  ...checkTimingShape,
  passiveFailures: integer(0, 1000, 3),
  passiveHold: duration('10s', { positive: true }),
  proxyProtocol: bool(false),
  udpProbe: mapping({ send: hexBytes(), expect: hexOrAny() }, 'udp probe settings').optional(),
  ...checkShape,
  damping: mapping(dampingShape, 'damping settings').optional(),
};
const udpShape = {
  idleTimeout: duration('60s', { positive: true }),
  maxSessions: integer(1, 10_000_000, 65_536),
  maxSessionsPerSource: integer(0, 10_000_000, 0),
  maxDatagram: integer(1, 65_527, 65_507),
  responses: integer(0, 1_000_000, 0),
  maxReplyRatio: number(0, 1_000_000, 0),
  amplificationLimit: number(0, 1_000_000, 3),
  onBackendDown: oneOf(['reassign', 'drop'] as const, 'reassign'),
  recvBufferSize: optionalInteger(1024, 1 << 30),
  sendBufferSize: optionalInteger(1024, 1 << 30),
  allowPrivilegedSources: bool(false),
};
const peerShape = {
  id: requiredName(),
  priority: integer(1, 255, 100),
  listen: endpoint(false),
  peers: z.array(endpoint(false), { error: (iss) => (iss.input === undefined ? REQUIRED : `must be a list of addresses like ["192.0.2.2:7946"] (got ${describeValue(iss.input)})`) }).min(1, { error: 'must list at least one peer' }),
  key: requiredKey(),
  advertInterval: duration('100ms', { positive: true }),
  preempt: bool(true),
  preemptDelay: duration('0s'),
  standby: oneOf(['closed', 'open'] as const, 'closed'),
  onMaster: optionalString(),
  onBackup: optionalString(),
  hookTimeout: duration('10s', { positive: true }),
  maxSkew: duration('2s', { positive: true }),
};
const perSourceShape = {
  maxConnections: optionalInteger(1, 1_000_000),
  ratePerSecond: optionalInteger(1, 1_000_000),
  burst: optionalInteger(1, 1_000_000),
  tableSize: integer(1, 10_000_000, 100_000),
};
const adminShape = { enabled: bool(true), listen: endpoint(true).prefault('127.0.0.1:9090'), token: bearerToken(), maxConnections: optionalInteger(1, 10_000) };
const timeoutsShape = {
  connect: duration('5s', { positive: true }),
  idle: duration('1h'),
  halfClose: duration('1m'),
  maxLifetime: duration('0s'),
  proxyHeader: duration('3s', { positive: true }),
};
const PROXY_VERSIONS = ['v1', 'v2'] as const;
const backendShape = {
  address: backendAddress(),
  srv: optionalSrvName(),
  file: optionalString(),
  name: optionalName(),
  weight: optionalInteger(0, 1000),
  backup: bool(false),
  maxConnections: integer(0, 10_000_000, 0),
  proxyProtocol: optionalOneOf(['v1', 'v2', 'none'] as const),
  optional: bool(false),
};
type BackendItem = { backend: BackendConfig } | { discover: DiscoveryEntry };

/** An IP literal is a backend; a hostname, `srv` or `file` is a discovery entry (src/discovery/). */
function backendItem(b: z.output<z.ZodObject<typeof backendShape>>, ctx: z.core.$RefinementCtx): BackendItem {
  const fail = (key: string, message: string) => (ctx.addIssue({ code: 'custom', message, path: [key] }), z.NEVER);
  const given = (['address', 'srv', 'file'] as const).filter((k) => b[k] !== undefined);
  if (given.length === 0) return fail('address', 'is required (or srv: NAME, or file: PATH)');
  if (given.length > 1) return fail(given[1], `use one of address, srv or file per entry (also ${given[0]})`);
  const shared = { backup: b.backup, maxConnections: b.maxConnections, ...(b.proxyProtocol !== undefined && { proxyProtocol: b.proxyProtocol }) };
  const address = b.address;
  if (address !== undefined && 'text' in address) {
    if (b.optional) return fail('optional', 'only for entries that are looked up (hostname, srv, file)');
    return { backend: { address, name: b.name ?? address.text, weight: b.weight ?? 1, ...shared } };
  }
  if (b.name !== undefined) return fail('name', 'an entry that is looked up gives one backend per address, named by its address; remove name');
  const [kind, target] = address !== undefined ? (['dns', `${address.host}:${address.port}`] as const) : b.srv !== undefined ? (['srv', b.srv] as const) : (['file', b.file!] as const);
  return { discover: { kind, target, source: `${kind}:${target}`, optional: b.optional, ...(b.weight !== undefined && { weight: b.weight }), ...shared } };
}

const discoveryShape = {
  interval: duration('10s', { positive: true }),
  minTtl: duration('1s', { positive: true }),
  maxTtl: optionalDuration(),
  timeout: duration('2s', { positive: true }),
  resolvers: resolverList(),
};
const serviceShape = {
  name: requiredName(),
  protocol: oneOf(PROTOCOL_CHOICES, 'tcp') as ReturnType<typeof oneOf<Protocol>>,
  listen: endpoint(true),
  balance: optionalOneOf(BALANCE_NAMES),
  backends: list(mapping(backendShape, 'backend settings').transform(backendItem), 'backends'),
  timeouts: mapping(timeoutsShape, 'timeouts').prefault({}),
  retries: integer(0, 10, 2),
  maxConnections: integer(1, undefined, 10000),
  health: mapping(healthShape, 'health-check settings').prefault({}).transform(withChecks),
  agent: mapping(agentShape, 'agent-check settings').optional(),
  slowStart: duration('0s'),
  drainTimeout: duration('5m'),
  onBackendDown: oneOf(['keep', 'close'] as const, 'keep'),
  allow: cidrList(),
  deny: cidrList(),
  perSource: mapping(perSourceShape, 'per-source limits').optional(),
  proxyProtocol: optionalOneOf(PROXY_VERSIONS),
  acceptProxy: cidrList(),
  udp: mapping(udpShape, 'udp settings').prefault({}),
};
const rootShape = {
  log: mapping(logShape, 'log settings').prefault({}),
  shutdownTimeout: duration('30s'),
  workers: workersField(),
  services: list(
    z.unknown().transform((v, ctx) => (isDnsService(v) ? viaSchema(dnsServiceSchema, v, ctx) : viaSchema(tcpUdpService, v, ctx))),
    'services',
  ),
  admin: mapping(adminShape, 'admin settings').prefault({}),
  peer: mapping(peerShape, 'peer settings').optional(),
  discovery: mapping(discoveryShape, 'discovery settings')
    .prefault({})
    .transform((d, ctx) => {
      const maxTtl = d.maxTtl ?? Math.max(d.interval, d.minTtl);
      if (maxTtl < d.minTtl) ctx.addIssue({ code: 'custom', message: 'must not be shorter than discovery.minTtl', path: ['maxTtl'] });
      return { ...d, maxTtl };
    }),
};

// A service is tcp/udp or dns (GSLB); the protocol key picks the schema, the path stays services[i].
const isDnsService = (v: unknown) => typeof v === 'object' && v !== null && (v as { protocol?: unknown }).protocol === 'dns';
function viaSchema<T>(schema: z.ZodType<T>, v: unknown, ctx: z.RefinementCtx): T {
  const r = schema.safeParse(v, { error: fallbackReason });
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
  return z.NEVER;
}
const tcpUdpService = mapping(serviceShape, 'service settings').transform(
      (s): ServiceConfig => ({
        name: s.name,
        protocol: s.protocol,
        listen: s.listen,
        balance: s.balance ?? DEFAULT_BALANCE[s.protocol],
        backends: s.backends.flatMap((b) => ('backend' in b ? [b.backend] : [])),
        ...(s.backends.some((b) => 'discover' in b) && { discovery: s.backends.flatMap((b) => ('discover' in b ? [b.discover] : [])) }),
        timeouts: s.timeouts,
        retries: s.retries,
        maxConnections: s.maxConnections,
        health: s.health,
        slowStart: s.slowStart,
        drainTimeout: s.drainTimeout,
        onBackendDown: s.onBackendDown,
        allow: s.allow,
        deny: s.deny,
        perSource: s.perSource ?? null,
        proxyProtocol: s.proxyProtocol ?? null,
        acceptProxy: s.acceptProxy,
        udp: s.udp,
        ...(s.agent !== undefined && { agent: normalizeAgent(s.agent) }),
      }),
    );

export const configSchema = z
  .strictObject(rootShape, {
    error: (iss) =>
      iss.code === 'invalid_type'
        ? `must be a mapping with a "services" list (got ${describeValue(iss.input)})`
        : undefined,
  })
  .transform(
    (c): FulcrumConfig => ({
      log: c.log,
      shutdownTimeout: c.shutdownTimeout,
      workers: c.workers,
      peer: c.peer ?? null,
      admin: !c.admin.enabled
        ? null
        : {
            listen: c.admin.listen,
            ...(c.admin.token !== undefined && { token: c.admin.token }),
            ...(c.admin.maxConnections !== undefined && { maxConnections: c.admin.maxConnections }),
          },
      services: c.services.filter((s): s is ServiceConfig => s.protocol !== 'dns'),
      ...(c.services.some((s) => s.protocol === 'dns') && { dns: c.services.filter((s): s is DnsServiceConfig => s.protocol === 'dns') }),
      // Only when some backend is looked up: the settings mean nothing otherwise.
      ...(c.services.some((s) => s.protocol !== 'dns' && s.discovery !== undefined) && { discovery: c.discovery }),
    }),
  );

/** The keys allowed in each mapping, by path pattern (indices as `[]`), for "did you mean" hints. */
const KEYS_AT: Record<string, readonly string[]> = {
  '': Object.keys(rootShape),
  log: Object.keys(logShape),
  'services[]': Object.keys(serviceShape),
  'services[].timeouts': Object.keys(timeoutsShape),
  'services[].health': Object.keys(healthShape),
  'services[].health.damping': Object.keys(dampingShape),
  'services[].agent': Object.keys(agentShape),
  'services[].perSource': Object.keys(perSourceShape),
  'services[].udp': Object.keys(udpShape),
  admin: Object.keys(adminShape),
  peer: Object.keys(peerShape),
  'services[].backends[]': Object.keys(backendShape),
  discovery: Object.keys(discoveryShape),
  ...DNS_KEYS_AT,
};

export type SchemaResult = { ok: true; config: FulcrumConfig } | { ok: false; problems: ConfigProblem[] };

/** Runs the schema over a raw document (after `${VAR}` substitution). Problems are in zod's order. */
export function applySchema(raw: unknown): SchemaResult {
  const result = configSchema.safeParse(raw, { error: fallbackReason });
  return result.success ? { ok: true, config: result.data } : { ok: false, problems: problemsOf(result.error.issues) };
}

const backendListSchema = list(mapping(backendShape, 'backend settings').transform(backendItem), 'backends');

/** A watched backend file (src/discovery/file-source.ts): a list of backends with IP addresses. */
export function applyBackendListSchema(raw: unknown): { ok: true; backends: BackendConfig[] } | { ok: false; problems: ConfigProblem[] } {
  const result = backendListSchema.safeParse(raw, { error: fallbackReason });
  if (!result.success) return { ok: false, problems: problemsOf(result.error.issues, 'services[].backends') };
  const problems: ConfigProblem[] = [];
  result.data.forEach((item, i) => {
    if ('discover' in item) problems.push({ path: [i, 'address'], reason: 'a backend file lists IP addresses (no hostname, srv or file entries)' });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, backends: result.data.flatMap((b) => ('backend' in b ? [b.backend] : [])) };
}

function problemsOf(issues: readonly z.core.$ZodIssue[], under = ''): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((seg): seg is PathSegment => typeof seg !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ path: [...path, key], reason: unknownKeyReason(under === '' ? path : [under, ...path], key) });
    } else {
      problems.push({ path, reason: issue.message });
    }
  }
  return problems;
}

/** Messages for issues no schema above words itself (kept human just in case). */
function fallbackReason(iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.code === 'invalid_type') {
    return iss.input === undefined ? REQUIRED : `must be ${iss.expected} (got ${describeValue(iss.input)})`;
  }
  return undefined;
}

function unknownKeyReason(path: readonly PathSegment[], key: string): string {
  const pattern = path.map((seg) => (typeof seg === 'number' ? '[]' : seg)).join('.').replace(/\.\[\]/g, '[]');
  const allowed = KEYS_AT[pattern] ?? [];
  const hint = closestKey(key, allowed);
  return hint === undefined ? 'unknown key' : `unknown key (did you mean "${hint}"?)`;
}
