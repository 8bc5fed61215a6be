/**
 * `fulcrum status`, `drain|enable|disable` and `weight`: thin commands over
 * the admin API (cli/admin-client.ts). Errors are thrown and mapped to exit
 * codes by cli/fulcrum.ts: ERR_FULCRUM_ADMIN → 1, ERR_FULCRUM_ARGS → 2.
 */
import { Command, Option } from 'commander';
import { FulcrumError } from '../src/errors';
import type { BackendAction, BackendStatus, Percentiles, ServiceStatus, StatusReport } from '../src/manager/status';
import { adminRequest, DEFAULT_ADMIN_URL } from './admin-client';
import { formatDnsStatus } from './dns-status';

export interface AdminOptions {
  admin: string;
  token?: string;
}

/** An empty FULCRUM_ADMIN_URL (e.g. `FULCRUM_ADMIN_URL= fulcrum status`) means the default, not "no URL". */
export const call = (opts: AdminOptions, method: string, path: string, body?: unknown) => adminRequest(opts.admin || DEFAULT_ADMIN_URL, method, path, body, opts.token);

/** --admin and --token on every admin command, with environment fallbacks shown in --help. */
export function withAdminOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--admin <url>', 'admin API URL').env('FULCRUM_ADMIN_URL').default(DEFAULT_ADMIN_URL))
    .addOption(new Option('--token <token>', 'admin API bearer token').env('FULCRUM_ADMIN_TOKEN'));
}

const backendPath = (service: string, backend: string, leaf: string) =>
  `/services/${encodeURIComponent(service)}/backends/${encodeURIComponent(backend)}/${leaf}`;

export function registerAdminCommands(program: Command): void {
  withAdminOptions(program.command('status'))
    .description('show services, backends, state, load and latency from a running fulcrum')
    .option('--json', 'print the raw JSON of GET /status')
    .action(async (opts: AdminOptions & { json?: boolean }) => {
      const report = (await call(opts, 'GET', '/status')) as StatusReport;
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    });

  const actions: Array<[BackendAction, string]> = [
    ['drain', 'stop sending new sessions to a backend; live sessions finish (up to drainTimeout)'],
    ['enable', 'return a drained or disabled backend to service'],
    ['disable', 'take a backend out of service (operator hold)'],
  ];
  for (const [action, description] of actions) {
    withAdminOptions(program.command(`${action} <service> <backend>`))
      .description(description)
      .action(async (service: string, backend: string, opts: AdminOptions) => {
        const b = (await call(opts, 'POST', backendPath(service, backend, action))) as BackendStatus;
        process.stdout.write(`${describeBackend(service, b)}\n`);
      });
  }

  withAdminOptions(program.command('weight <service> <backend> <weight>'))
    .description("set a backend's weight (the admin API checks the range)")
    .action(async (service: string, backend: string, text: string, opts: AdminOptions) => {
      if (!/^\d+$/.test(text)) throw new FulcrumError('ERR_FULCRUM_ARGS', `weight: ${JSON.stringify(text)} is not a whole number`);
      const body = { weight: Number(text) };
      const b = (await call(opts, 'PUT', backendPath(service, backend, 'weight'), body)) as BackendStatus;
      process.stdout.write(`${describeBackend(service, b)}\n`);
    });
}

/** e.g. `pg/10.0.0.11:5432: draining (2 active, weight 10)`. */
export function describeBackend(service: string, b: BackendStatus): string {
  const reasons = b.reasons.length > 0 && !(b.reasons.length === 1 && b.reasons[0] === b.state) ? ` [${b.reasons.join(', ')}]` : '';
  return `${service}/${b.name}: ${b.state}${reasons} (${b.active} active, weight ${formatWeight(b)})`;
}

const formatWeight = (b: BackendStatus) => (b.effectiveWeight === b.weight ? String(b.weight) : `${b.effectiveWeight}/${b.weight}`);

function formatMs(p: Percentiles): string {
  if (p.p99 === null) return '-';
  return `${p.p99 < 10 ? p.p99.toFixed(2) : p.p99.toFixed(1)}ms`;
}

function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return `${m}m${String(s % 60).padStart(2, '0')}s`;
}

function serviceLine(s: ServiceStatus): string {
  const reasons = Object.entries(s.rejected).filter(([, n]) => n > 0);
  const rejectedTotal = reasons.reduce((sum, [, n]) => sum + n, 0);
  const rejected = reasons.length === 0 ? 'rejected 0' : `rejected ${rejectedTotal} (${reasons.map(([r, n]) => `${r} ${n}`).join(', ')})`;
  if (s.udp !== null) {
    const u = s.udp;
    const drops = Object.entries(u.dropped).filter(([, n]) => n > 0);
    const dropped = drops.length === 0 ? 'dropped 0' : `dropped ${drops.reduce((n, [, c]) => n + c, 0)} (${drops.map(([r, n]) => `${r} ${n}`).join(', ')})`;
    return `${s.name}: udp ${s.listen}, ${s.balance}, ${u.sessions} sessions, ${s.accepted} created, datagrams ${u.datagramsIn} in / ${u.datagramsOut} out, ${dropped}`;
  }
  return `${s.name}: ${s.protocol} ${s.listen}, ${s.balance}, ${s.active} active, ${s.accepted} accepted, ${rejected}`;
}

/** `  dns:db.internal:5432: 3 backends, ok 42, age 2.1s` (+ the failure in progress, the set kept). */
function discoveryLine(d: NonNullable<ServiceStatus['discovery']>[number]): string {
  const counts = Object.entries(d.lookups).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ');
  const age = d.lastSuccessAgoMs === null ? 'never found' : `age ${(d.lastSuccessAgoMs / 1000).toFixed(1)}s`;
  const failing = d.failing === null ? '' : `; FAILING ${d.failing.result} for ${(d.failing.forMs / 1000).toFixed(1)}s (${d.failing.reason}), last good set kept`;
  return `  ${d.source}: ${d.found.length} backend${d.found.length === 1 ? '' : 's'}, ${age}, lookups ${counts || 'none'}${failing}`;
}

const HEADER = ['SERVICE', 'BACKEND', 'STATE', 'WEIGHT', 'ACTIVE', 'TOTAL', 'FAILURES', 'P99 CONNECT', 'CHECK'];
/** Numbers read best right-aligned. */
const RIGHT = new Set(['WEIGHT', 'ACTIVE', 'TOTAL', 'FAILURES', 'P99 CONNECT']);

/** The human table of `fulcrum status`. */
export function formatStatus(report: StatusReport): string {
  const out: string[] = [];
  out.push(`fulcrum ${report.version}, pid ${report.pid}, up ${formatUptime(report.uptimeSeconds)}, config ${report.configFile ?? '(quick mode)'}`);
  out.push('');
  const rows: string[][] = [];
  for (const s of report.services) {
    for (const b of s.backends) {
      const name = b.name === b.address ? b.name : `${b.name} (${b.address})`;
      const damped = b.dampedMs != null ? `${b.state} (${Math.ceil(b.dampedMs / 1000)}s left)` : b.state;
      const state = b.backup ? `${damped} (backup)` : damped;
      rows.push([s.name, name, state, formatWeight(b), String(b.active), String(b.total), String(b.connectFailures), formatMs(b.connectTime), checkText(b)]);
    }
  }
  if (rows.length > 0) out.push(...alignTable([HEADER, ...rows]), '');
  if (report.services.length === 0 && (report.dns ?? []).length === 0) out.push('no services');
  for (const s of report.services) out.push(serviceLine(s), ...(s.discovery ?? []).map(discoveryLine));
  out.push(...formatDnsStatus(report.dns ?? []));
  if (report.workers !== undefined) out.push(`workers: ${describeWorkers(report.workers)}`);
  out.push(`peer: ${describePeer(report.peer)}`);
  return `${out.join('\n')}\n`;
}

/** "2 threads, sessions 120 / 118 (0 replaced)" or "1 (main thread), 238 sessions". */
export function describeWorkers(w: NonNullable<StatusReport['workers']>): string {
  if (!w.threads) return `1 (main thread), ${w.sessions[0] ?? 0} sessions`;
  return `${w.count} thread${w.count === 1 ? '' : 's'}, sessions ${w.sessions.join(' / ')} (${w.restarts} replaced)`;
}

/** The last check's result text, and the agent's: `redis role:master; agent ready 75%`; `-` without checks. */
function checkText(b: BackendStatus): string {
  const parts = [b.health?.result, b.agent == null ? undefined : (b.agent.result ?? 'agent -')].filter((p) => p != null);
  return parts.length === 0 ? '-' : parts.join('; ');
}

function alignTable(rows: string[][]): string[] {
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (RIGHT.has(HEADER[i]) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

/** "lb-a MASTER (priority 150, 3 transitions); lb-b backup priority 100, heard 0.1s ago from ...; rejected bad_mac 2". */
export function describePeer(peer: StatusReport['peer']): string {
  if (peer === null) return 'not configured';
  const parts = [`${peer.id} ${peer.state.toUpperCase()} (priority ${peer.priority}, ${peer.transitions} transitions)`];
  for (const p of peer.peers) {
    const heard = `${(p.lastHeardMs / 1000).toFixed(1)}s ago from ${p.address}`;
    // A peer silent for the dead interval is down, whatever it last said it was.
    parts.push(p.lost ? `${p.nodeId} LOST (was ${p.state}, priority ${p.priority}), last heard ${heard}` : `${p.nodeId} ${p.state} priority ${p.priority}, heard ${heard}`);
  }
  if (peer.peers.length === 0) parts.push('no peer heard yet');
  const rejected = Object.entries(peer.rejected).filter(([, n]) => n > 0);
  if (rejected.length > 0) parts.push(`rejected ${rejected.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  return parts.join('; ');
}
