/**
 * `${VAR}` substitution in the raw parsed document, before validation: every
 * string value (not keys) anywhere in the tree. `$${` is a literal `${`.
 * A missing variable is a config problem naming the field and the variable.
 */
import { type ConfigProblem, type PathSegment, isPlainObject } from './problems';

export type Env = Readonly<Record<string, string | undefined>>;

export interface SubstituteResult {
  /** A copy of the input with variables replaced; the input is not modified. */
  value: unknown;
  /** One per missing variable or malformed reference; empty when all is well. */
  problems: ConfigProblem[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function substituteEnv(value: unknown, env: Env, path: readonly PathSegment[] = []): SubstituteResult {
  const problems: ConfigProblem[] = [];
  const out = walk(value, env, [...path], problems);
  return { value: out, problems };
}

function walk(value: unknown, env: Env, path: PathSegment[], problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') return substituteString(value, env, path, problems);
  if (Array.isArray(value)) return value.map((item, i) => walk(item, env, [...path, i], problems));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = walk(item, env, [...path, key], problems);
    return out;
  }
  return value;
}

function substituteString(text: string, env: Env, path: PathSegment[], problems: ConfigProblem[]): string {
  if (!text.includes('${')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i += 1;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close === -1) {
      problems.push({ path, reason: `unclosed "\${" in ${JSON.stringify(text)} (write $\${ for a literal \${)` });
      return text;
    }
    const name = text.slice(i + 2, close);
    if (!NAME.test(name)) {
      problems.push({
        path,
        reason: `"\${${name}}" is not a valid variable reference: use \${NAME} with letters, digits and _ (or $\${ for a literal \${)`,
      });
    } else {
      const found = env[name];
      if (found === undefined) problems.push({ path, reason: `environment variable ${name} is not set` });
      else out += found;
    }
    i = close + 1;
  }
  return out;
}
