/**
 * Loading a config: file → text → raw document (YAML or JSON) → `${VAR}`
 * substitution → schema + cross-field rules → FulcrumConfig. Syntax problems
 * are ERR_FULCRUM_CONFIG_READ (with line and column); everything else is
 * ERR_FULCRUM_CONFIG with one "path: reason" line per problem, all at once.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { YAMLParseError, parse as parseYaml } from 'yaml';
import { FulcrumError, isFulcrumError } from '../errors';
import { type Env, substituteEnv } from './env';
import { formatProblem, isPlainObject, isUnder, sortProblems } from './problems';
import { checkListenAddresses } from './listen-rules';
import { checkAdminExposure, checkProtocolKeys, checkUniqueness, checkWeights } from './rules';
import { checkHealthTypes } from './checks';
import { applySchema } from './schema';
import type { FulcrumConfig } from './types';

export type ConfigFormat = 'yaml' | 'json';

export interface ParseConfigOptions {
  /** Default 'yaml' (which also reads JSON). */
  format?: ConfigFormat;
  /** Variables for `${VAR}`; default process.env. */
  env?: Env;
  /** Names the text in error messages (a file name); default "config". */
  source?: string;
}

/** `.json` files are JSON; everything else is YAML. */
export function formatFromPath(path: string): ConfigFormat {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Reads, parses and validates a config file. Throws FulcrumError (ERR_FULCRUM_CONFIG_READ / ERR_FULCRUM_CONFIG). */
export function loadConfigFile(path: string, env: Env = process.env): FulcrumConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new FulcrumError('ERR_FULCRUM_CONFIG_READ', `cannot read config file ${path}: ${reason}`, [], { cause: err });
  }
  try {
    return parseConfigText(text, { format: formatFromPath(path), env, source: path });
  } catch (err) {
    if (isFulcrumError(err, 'ERR_FULCRUM_CONFIG')) {
      const message = err.message.replace(/^invalid configuration/, `invalid configuration in ${path}`);
      throw new FulcrumError('ERR_FULCRUM_CONFIG', message, err.details, { cause: err });
    }
    throw err;
  }
}

/** Parses YAML/JSON text and validates it. */
export function parseConfigText(text: string, options: ParseConfigOptions = {}): FulcrumConfig {
  const raw = parseDocumentText(text, options.format ?? 'yaml', options.source ?? 'config');
  return validateConfig(raw, options.env ?? process.env);
}

/** Text → raw document, without validation. Syntax errors are ERR_FULCRUM_CONFIG_READ naming line and column. */
export function parseDocumentText(text: string, format: ConfigFormat, source = 'config'): unknown {
  return format === 'json' ? parseJson(text, source) : parseYamlText(text, source);
}

/**
 * Validates a raw document (as parsed from YAML/JSON, or built by the CLI's
 * quick mode) and returns the normalized config. An empty document counts as {}.
 */
export function validateConfig(raw: unknown, env: Env = process.env): FulcrumConfig {
  const substituted = substituteEnv(raw ?? {}, env);
  const doc = substituted.value;
  const envProblems = substituted.problems;
  // A field whose variable is missing has one problem, not a second one about the unsubstituted text.
  const notFromEnv = (p: { path: readonly (string | number)[] }) => !envProblems.some((e) => isUnder(p.path, e.path));
  const schema = applySchema(doc);
  const problems = sortProblems(doc, [
    ...envProblems,
    ...(schema.ok ? [] : schema.problems.filter(notFromEnv)),
    ...checkUniqueness(doc).filter(notFromEnv),
    ...checkProtocolKeys(doc).filter(notFromEnv),
    ...checkListenAddresses(doc).filter(notFromEnv),
    ...checkWeights(doc).filter(notFromEnv),
    ...checkHealthTypes(doc).filter(notFromEnv),
    ...checkAdminExposure(doc).filter(notFromEnv),
  ]);
  if (problems.length === 0 && schema.ok) return markDefaultedCaps(doc, schema.config);
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  throw new FulcrumError('ERR_FULCRUM_CONFIG', `invalid configuration (${count})`, problems.map(formatProblem));
}

/** Aliases a document may expand (the yaml library's default, stated): a "billion laughs" document is refused, not expanded. */
export const MAX_YAML_ALIASES = 100;

/** Which session caps the document left out (fulcrum may lower those to fit the open-files limit). */
function markDefaultedCaps(doc: unknown, config: FulcrumConfig): FulcrumConfig {
  // config.services leaves out protocol: dns entries (config.dns), so match by name, not by index.
  const raw = new Map<unknown, unknown>();
  if (isPlainObject(doc) && Array.isArray(doc.services)) for (const r of doc.services) if (isPlainObject(r)) raw.set(r.name, r);
  config.services.forEach((s) => {
    const r: unknown = raw.get(s.name);
    const caps: Array<'maxConnections' | 'udp.maxSessions'> = [];
    if (s.protocol === 'tcp' && isPlainObject(r) && r.maxConnections === undefined) caps.push('maxConnections');
    if (s.protocol === 'udp' && isPlainObject(r) && !(isPlainObject(r.udp) && r.udp.maxSessions !== undefined)) caps.push('udp.maxSessions');
    s.defaultedCaps = caps;
  });
  return config;
}

function parseYamlText(text: string, source: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true, maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (!(err instanceof YAMLParseError)) {
      // The alias bound throws a plain ReferenceError; whatever the parser throws, the file is what was wrong.
      const reason = err instanceof Error ? err.message : String(err);
      const hint = /alias/i.test(reason) ? ` (at most ${MAX_YAML_ALIASES} alias expansions)` : '';
      throw new FulcrumError('ERR_FULCRUM_CONFIG_READ', `cannot parse ${source} as YAML: ${reason}${hint}`, [], { cause: err });
    }
    const line = err.linePos?.[0]?.line;
    const col = err.linePos?.[0]?.col;
    const reason = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    const where = line === undefined ? '' : `line ${line}, column ${col}: `;
    const sourceLine = line === undefined ? undefined : text.split(/\r?\n/)[line - 1];
    const hint = sourceLine === undefined ? '' : yamlHint(sourceLine);
    const snippet = err.message.split('\n').slice(1).filter((l) => l.trim() !== '');
    throw new FulcrumError('ERR_FULCRUM_CONFIG_READ', `cannot parse ${source} as YAML: ${where}${reason}${hint}`, snippet, {
      cause: err,
    });
  }
}

/** The two YAML traps of this format: `[` starts a list and `{ }` a mapping unless the value is quoted. */
function yamlHint(line: string): string {
  if (/:\s*\[[0-9A-Fa-f:.%]*\]:\d+/.test(line)) return ' (IPv6 addresses must be quoted in YAML: listen: "[::1]:80")';
  if (line.includes('${')) return ' (quote values that use ${VAR}: token: "${VAR}")';
  return '';
}

function parseJson(withBom: string, source: string): unknown {
  const text = withBom.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const at = /at position (\d+)/.exec(message);
    let where = '';
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split('\n').length;
      const col = before.length - before.lastIndexOf('\n');
      where = `line ${line}, column ${col}: `;
    }
    const reason = message.replace(/ in JSON at position \d+.*$/, '');
    throw new FulcrumError('ERR_FULCRUM_CONFIG_READ', `cannot parse ${source} as JSON: ${where}${reason}`, [], { cause: err });
  }
}
