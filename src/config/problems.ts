/**
 * Config problems: a field path plus a human reason, rendered as one
 * `path: reason` line (`services[0].backends[1].address: "10.0.0.1" has no port`).
 */
export type PathSegment = string | number;

export interface ConfigProblem {
  path: readonly PathSegment[];
  reason: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `['services', 0, 'backends', 1, 'address']` → `services[0].backends[1].address`; `[]` → `(root)`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(root)' : out;
}

export function formatProblem(problem: ConfigProblem): string {
  return `${formatPath(problem.path)}: ${problem.reason}`;
}

/** A short description of a user-supplied value for "got ..." phrases. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when `path` equals `prefix` or lies under it. */
export function isUnder(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => path[i] === seg);
}

/**
 * Position of a path in the raw document: list indices as they are, keys by
 * their order in the mapping; keys missing from the document sort after the
 * ones present (ties keep the order in which problems were found).
 */
function documentPosition(raw: unknown, path: readonly PathSegment[]): number[] {
  const pos: number[] = [];
  let node: unknown = raw;
  for (const seg of path) {
    if (typeof seg === 'number') {
      pos.push(seg);
      node = Array.isArray(node) ? node[seg] : undefined;
    } else if (isPlainObject(node)) {
      const keys = Object.keys(node);
      const i = keys.indexOf(seg);
      pos.push(i === -1 ? keys.length : i);
      node = node[seg];
    } else {
      pos.push(0);
      node = undefined;
    }
  }
  return pos;
}

function comparePositions(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  }
  return a.length - b.length;
}

/** Sorts problems in document order and drops exact duplicates. */
export function sortProblems(raw: unknown, problems: readonly ConfigProblem[]): ConfigProblem[] {
  const keyed = problems.map((p, i) => ({ p, i, pos: documentPosition(raw, p.path) }));
  keyed.sort((x, y) => comparePositions(x.pos, y.pos) || x.i - y.i);
  const seen = new Set<string>();
  const out: ConfigProblem[] = [];
  for (const { p } of keyed) {
    const line = formatProblem(p);
    if (!seen.has(line)) {
      seen.add(line);
      out.push(p);
    }
  }
  return out;
}
