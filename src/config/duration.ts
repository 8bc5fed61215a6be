/**
 * Durations in the config file: a number with a unit, `250ms`, `2s`, `1.5s`,
 * `1m`, `1h`, `0s`, or a sum of such parts, `1m30s`. Bare numbers are refused
 * (is `30` seconds or milliseconds?). The result is whole milliseconds.
 */
import { describeValue } from './problems';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Node timers overflow past 2^31-1 ms (about 24.8 days) and fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const EXAMPLES = 'e.g. "250ms", "2s", "1m", "1h"';
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;
const UNKNOWN_UNIT = /^\d+(?:\.\d+)?\s*([A-Za-z]+)$/;

/**
 * Parses a duration string into milliseconds. Throws an Error whose message
 * is a human reason (the schema prefixes it with the field path).
 */
export function parseDuration(text: string): number {
  const shown = JSON.stringify(text);
  const s = text.trim();
  if (s === '') throw new Error(`is empty: write a duration with a unit, ${EXAMPLES}`);
  if (s.startsWith('-')) throw new Error(`${shown} is negative: durations must be 0 or more`);
  if (NUMBER.test(s)) {
    throw new Error(`${shown} has no unit: add one of ms, s, m, h (e.g. "${s}s" or "${s}ms")`);
  }
  if (!WHOLE.test(s)) {
    const unknown = UNKNOWN_UNIT.exec(s);
    if (unknown) throw new Error(`${shown} has an unknown unit "${unknown[1]}": use ms, s, m or h`);
    throw new Error(`${shown} is not a duration: write a number with a unit, ${EXAMPLES}`);
  }
  let ms = 0;
  for (const [, amount, unit] of s.matchAll(PART)) {
    ms += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  // 1.1s * 1000 is 1100.0000000000002: round away float noise, then insist on whole ms.
  const rounded = Math.round(ms);
  if (Math.abs(ms - rounded) > 1e-6) throw new Error(`${shown} is finer than a millisecond`);
  if (rounded > MAX_DURATION_MS) throw new Error(`${shown} is too long: at most ${MAX_DURATION_MS}ms (about 596h)`);
  return rounded;
}

/** Reason for a duration field that is not a string (YAML `idle: 30` gives a number). */
export function durationTypeReason(value: unknown): string {
  if (typeof value === 'number') {
    return `${value} has no unit: write a string with one of ms, s, m, h (e.g. "${value}s" or "${value}ms")`;
  }
  return `must be a duration string with a unit, ${EXAMPLES} (got ${describeValue(value)})`;
}
