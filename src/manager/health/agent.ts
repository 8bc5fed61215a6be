import type { Endpoint } from '../../config/types';
import { exchange } from './exchange';
import type { ProbeResult } from './tcp-probe';

/** The longest agent line read; HAProxy reads one small line too. */
const MAX_LINE = 512;

/**
 * What one agent line says (HAProxy's agent-check protocol). Every field is
 * optional: a line changes only what it names.
 *  - `percent`: `75%` scales the configured weight; `weight`: `weight:N` replaces it.
 *  - `admin`: `ready` (clears drain and maint), `drain`, `maint`.
 *  - `operational`: `up`, or `down` for `down` / `fail` / `stopped`.
 *  - `maxconn`: `maxconn:N` caps the backend's concurrent sessions.
 *  - `reason`: the text after `#`.
 */
export interface AgentReport {
  percent?: number;
  weight?: number;
  admin?: 'ready' | 'drain' | 'maint';
  operational?: 'up' | 'down';
  maxconn?: number;
  reason?: string;
}

/**
 * Parses one agent line: words separated by spaces, tabs or commas, then an
 * optional `#reason`. Null for garbage (an unknown word, a number out of
 * range, nothing at all): a line that is not understood changes nothing.
 */
export function parseAgentLine(line: string): AgentReport | null {
  const hash = line.indexOf('#');
  const words = (hash < 0 ? line : line.slice(0, hash)).trim().toLowerCase().split(/[\s,]+/).filter((w) => w !== '');
  const report: AgentReport = {};
  if (hash >= 0) report.reason = line.slice(hash + 1).trim();
  if (words.length === 0) return null;
  for (const w of words) {
    let m: RegExpExecArray | null;
    if ((m = /^(\d{1,3})%$/.exec(w)) !== null && Number(m[1]) <= 100) report.percent = Number(m[1]);
    else if ((m = /^weight:(\d{1,4})$/.exec(w)) !== null && Number(m[1]) <= 1000) report.weight = Number(m[1]);
    else if ((m = /^maxconn:(\d{1,8})$/.exec(w)) !== null) report.maxconn = Number(m[1]);
    else if (w === 'ready' || w === 'drain' || w === 'maint') report.admin = w;
    else if (w === 'up') report.operational = 'up';
    else if (w === 'down' || w === 'fail' || w === 'failed' || w === 'stopped') report.operational = 'down';
    else return null;
  }
  return report;
}

/**
 * Connect to the agent, read one line (up to a newline, or all it sends
 * before closing). ok with the line as text when it parses; a garbage line,
 * silence (timeout) or a refused connect fail, and change nothing.
 */
export function agentProbe(address: Endpoint, port: number, timeoutMs: number): Promise<ProbeResult & { report?: AgentReport }> {
  const started = performance.now();
  let text = '';
  return exchange(
    address,
    port,
    timeoutMs,
    () => {}, // the agent speaks first
    (chunk) => {
      if (chunk !== null) text += chunk.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl < 0 && chunk !== null && text.length <= MAX_LINE) return undefined;
      const line = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '').slice(0, MAX_LINE);
      const report = parseAgentLine(line);
      const shown = `agent ${line.trim()}`;
      return report === null ? { ok: false, reason: `agent garbage: ${JSON.stringify(line.slice(0, 40))}` } : { ok: true, ms: performance.now() - started, text: shown, report };
    },
  );
}
