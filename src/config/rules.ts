/**
 * Rules across fields that a per-field schema cannot see: unique service
 * names, unique listen endpoints per protocol, unique backend addresses and
 * names within a service. They run on the raw document (after `${VAR}`
 * substitution) so they are reported together with the schema's problems;
 * values the schema refuses are skipped here (the schema already said why).
 */
import { isLoopback, parseEndpoint } from './address';
import { type ConfigProblem, isPlainObject } from './problems';
import { NAME_PATTERN } from './fields';
import type { Endpoint } from './types';

export function checkUniqueness(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isPlainObject(raw) || !Array.isArray(raw.services)) return problems;
  const names = new Map<string, number>();
  const listens = new Map<string, number>();

  raw.services.forEach((service: unknown, i: number) => {
    if (!isPlainObject(service)) return;
    const name = service.name;
    if (typeof name === 'string' && name !== '') {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else problems.push({ path: ['services', i, 'name'], reason: `duplicate service name "${name}" (also services[${first}])` });
    }

    const protocol = service.protocol ?? 'tcp';
    const listen = endpoint(service.listen, true);
    // Port 0 asks the OS for a free port: two such services never collide.
    // A dns service listens on UDP and TCP at the same address.
    const transports = protocol === 'dns' ? ['udp', 'tcp'] : protocol === 'tcp' || protocol === 'udp' ? [protocol] : [];
    for (const transport of listen !== undefined && listen.port !== 0 ? transports : []) {
      const key = `${listen!.text}/${transport}`;
      const first = listens.get(key);
      if (first === undefined) listens.set(key, i);
      else if (first !== i) problems.push({ path: ['services', i, 'listen'], reason: `${key} is already used by services[${first}]` });
    }

    if (Array.isArray(service.backends)) checkBackends(service.backends, i, problems);
  });
  return problems;
}

function checkBackends(backends: unknown[], service: number, problems: ConfigProblem[]): void {
  const addresses = new Map<string, number>();
  const names = new Map<string, number>();
  backends.forEach((backend: unknown, j: number) => {
    if (!isPlainObject(backend)) return;
    const at = (key: string) => ['services', service, 'backends', j, key];
    // Discovery entries (hostname, srv, file) count by their text: the same name twice is a mistake too.
    const lookedUp = typeof backend.srv === 'string' ? `srv ${backend.srv.toLowerCase().replace(/\.$/, '')}` : typeof backend.file === 'string' ? `file ${backend.file}` : undefined;
    const address = endpoint(backend.address, false)?.text ?? lookedUp ?? (typeof backend.address === 'string' ? backend.address.trim().toLowerCase() : undefined);
    if (address !== undefined) {
      const first = addresses.get(address);
      if (first === undefined) addresses.set(address, j);
      else problems.push({ path: at(lookedUp?.split(' ')[0] ?? 'address'), reason: `duplicate backend ${lookedUp ?? `address ${address}`} (also backends[${first}])` });
    }
    // An explicit name cannot contain ":", so it never equals a default name (the address text):
    // unnamed backends are kept apart by the address rule above.
    const name = backend.name;
    if (typeof name === 'string' && NAME_PATTERN.test(name)) {
      const first = names.get(name);
      if (first === undefined) names.set(name, j);
      else problems.push({ path: at('name'), reason: `duplicate backend name "${name}" (also backends[${first}])` });
    }
  });
}

function endpoint(value: unknown, allowPortZero: boolean): Endpoint | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseEndpoint(value, { allowPortZero });
  } catch {
    return undefined;
  }
}

/**
 * Without a token the admin API may only listen where nobody else can reach it.
 * Read from the raw document so it is reported with every other problem.
 */
export function checkAdminExposure(raw: unknown): ConfigProblem[] {
  const admin = isPlainObject(raw) ? (raw.admin ?? {}) : undefined;
  if (!isPlainObject(admin) || admin.enabled === false || admin.token !== undefined) return [];
  const listen = endpoint(admin.listen ?? '127.0.0.1:9090', true);
  if (listen === undefined || isLoopback(listen)) return [];
  return [{ path: ['admin', 'listen'], reason: `${listen.text} is not a loopback address; set admin.token to expose the admin API` }];
}

/**
 * Weight 0 takes a backend out of rotation; when every backend that would be
 * used has weight 0 (the regular ones, or the backups when there are only
 * backups) every client is refused, which is never what a config means.
 */
export function checkWeights(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isPlainObject(raw) || !Array.isArray(raw.services)) return problems;
  raw.services.forEach((service: unknown, i: number) => {
    if (!isPlainObject(service) || !Array.isArray(service.backends)) return;
    const backends = service.backends.filter(isPlainObject);
    const primaries = backends.filter((b) => b.backup !== true);
    const used = primaries.length > 0 ? primaries : backends;
    // Only when every weight is known: a missing weight is 1, a malformed one is the schema's problem.
    if (used.length === 0 || !used.every((b) => b.weight === 0)) return;
    const which = primaries.length > 0 ? 'every regular (non-backup) backend' : 'every backend';
    problems.push({ path: ['services', i, 'backends'], reason: `${which} has weight 0, so every client would be refused: give at least one a weight above 0` });
  });
  return problems;
}

/** Keys that only make sense for one protocol: refused on the other rather than silently ignored. */
export function checkProtocolKeys(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isPlainObject(raw) || !Array.isArray(raw.services)) return problems;
  raw.services.forEach((service: unknown, i: number) => {
    if (!isPlainObject(service) || service.protocol === 'dns') return;
    const at = (...rest: Array<string | number>) => ['services', i, ...rest];
    const udp = service.protocol === 'udp';
    if (isPlainObject(service.perSource) && service.perSource.burst !== undefined && service.perSource.ratePerSecond === undefined) {
      problems.push({ path: at('perSource', 'burst'), reason: 'needs perSource.ratePerSecond (burst is the size of the rate limit bucket)' });
    }
    if (!udp) {
      if (service.udp !== undefined) problems.push({ path: at('udp'), reason: 'only for protocol: udp' });
      if (isPlainObject(service.health) && service.health.udpProbe !== undefined) {
        problems.push({ path: at('health', 'udpProbe'), reason: 'only for protocol: udp (tcp services are checked by TCP connect)' });
      }
      return;
    }
    if (service.proxyProtocol === 'v1') problems.push({ path: at('proxyProtocol'), reason: 'PROXY v1 has no UDP form; use v2' });
    if (service.acceptProxy !== undefined) problems.push({ path: at('acceptProxy'), reason: 'only for protocol: tcp' });
    if (service.perSource !== undefined) problems.push({ path: at('perSource'), reason: 'only for protocol: tcp; use udp.maxSessionsPerSource' });
    if (Array.isArray(service.backends)) {
      service.backends.forEach((b: unknown, j: number) => {
        if (isPlainObject(b) && b.proxyProtocol === 'v1') problems.push({ path: at('backends', j, 'proxyProtocol'), reason: 'PROXY v1 has no UDP form; use v2' });
      });
    }
  });
  return problems;
}
