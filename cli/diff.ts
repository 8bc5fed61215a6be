/**
 * `fulcrum diff -c new.yaml`: what a reload with this file would change, per
 * service, against the running fulcrum (GET /status): backends added, removed
 * and re-weighted, and for source-hash services the exact share of clients
 * whose backend changes (the two Maglev tables compared slot by slot).
 * Discovery entries the running fulcrum follows use its current sets; new
 * ones are looked up once here.
 */
import type { Command } from 'commander';
import { parseEndpoint } from '../src/config/address';
import { loadConfigFile } from '../src/config';
import type { FulcrumConfig, ServiceConfig } from '../src/config/types';
import { composeBackends, createSource, DEFAULT_DISCOVERY, DnsResolver, type FoundBackend } from '../src/discovery';
import { formatShare, hasChanges, previewChange, type BackendChange } from '../src/manager/disruption';
import type { ServiceStatus, StatusReport } from '../src/manager/status';
import { call, withAdminOptions, type AdminOptions } from './status';

export interface ServiceDiff {
  name: string;
  /** added: not running; removed: running, not in the file; replaced: new listen address or protocol (a new listener). */
  status: 'added' | 'removed' | 'replaced' | 'changed' | 'unchanged';
  balance: string;
  change: BackendChange | null;
  /** Share of source-hash clients that move, 0..1 (null: not a source-hash service). */
  movedShare: number | null;
  /** Discovery entries this command had to look up and could not. */
  lookupErrors: string[];
}

export function registerDiffCommand(program: Command): void {
  withAdminOptions(program.command('diff'))
    .description('what a reload with this config would change: backends added/removed/re-weighted, share of source-hash clients that move')
    .requiredOption('-c, --config <file>', 'the new config file (YAML or JSON)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: AdminOptions & { config: string; json?: boolean }) => {
      const next = loadConfigFile(opts.config);
      const report = (await call(opts, 'GET', '/status')) as StatusReport;
      const diffs = await diffConfig(report, next);
      process.stdout.write(opts.json ? `${JSON.stringify({ services: diffs }, null, 2)}\n` : formatDiff(diffs));
    });
}

export async function diffConfig(report: StatusReport, next: FulcrumConfig): Promise<ServiceDiff[]> {
  const running = new Map(report.services.map((s) => [s.name, s]));
  const known = new Map<string, FoundBackend[]>();
  for (const s of report.services) {
    for (const d of s.discovery ?? []) known.set(d.source, d.found.map((f) => ({ ...f, address: parseEndpoint(f.address) }) as FoundBackend));
  }
  const resolver = new DnsResolver(next.discovery ?? DEFAULT_DISCOVERY);
  const out: ServiceDiff[] = [];
  for (const sc of next.services) {
    const now = running.get(sc.name);
    running.delete(sc.name);
    const lookupErrors = await lookUpNew(sc, known, resolver);
    const backends = composeBackends(sc, (source) => known.get(source) ?? []);
    const base = { name: sc.name, balance: sc.balance, lookupErrors };
    if (now === undefined || replaced(now, sc)) {
      out.push({ ...base, status: now === undefined ? 'added' : 'replaced', change: null, movedShare: null });
      continue;
    }
    const change = previewChange(
      now.backends.filter((b) => b.state !== 'removed').map((b) => ({ name: b.name, address: b.address, weight: b.weight, backup: b.backup, up: b.state === 'up' })),
      backends.map((b) => ({ name: b.name, address: b.address.text, weight: b.weight, backup: b.backup })),
      { before: now.balance, after: sc.balance },
    );
    const status = hasChanges(change) || now.balance !== sc.balance ? 'changed' : 'unchanged';
    out.push({ ...base, status, change, movedShare: change.movedSlots === null ? null : change.movedSlots / change.slots });
  }
  for (const s of running.values()) out.push({ name: s.name, status: 'removed', balance: s.balance, change: null, movedShare: null, lookupErrors: [] });
  return out;
}

/** Looks up (once) the entries the running fulcrum does not follow; returns what failed. */
async function lookUpNew(sc: ServiceConfig, known: Map<string, FoundBackend[]>, resolver: DnsResolver): Promise<string[]> {
  const errors: string[] = [];
  for (const entry of sc.discovery ?? []) {
    if (known.has(entry.source)) continue;
    const lookup = await createSource(entry, resolver).lookup();
    known.set(entry.source, lookup.result === 'ok' ? lookup.backends : []);
    if (lookup.result !== 'ok') errors.push(`${entry.source}: ${lookup.result}: ${lookup.reason}${entry.optional ? ' (optional: it would start empty)' : ' (the reload would be refused)'}`);
  }
  return errors;
}

/** A new listen address or protocol means a new listener (reload diff); port 0 in the file matches any bound port. */
function replaced(now: ServiceStatus, sc: ServiceConfig): boolean {
  if (now.protocol !== sc.protocol) return true;
  if (sc.listen.port !== 0) return now.listen !== sc.listen.text;
  return now.listen.slice(0, now.listen.lastIndexOf(':')) !== sc.listen.text.slice(0, sc.listen.text.lastIndexOf(':'));
}

export function formatDiff(diffs: readonly ServiceDiff[]): string {
  const out: string[] = [];
  for (const d of diffs) {
    const head = `${d.name} (${d.balance})`;
    if (d.status === 'added') out.push(`${head}: new service (starts listening)`);
    else if (d.status === 'removed') out.push(`${head}: removed (stops accepting; live sessions drain)`);
    else if (d.status === 'replaced') out.push(`${head}: new listen address or protocol (a new listener; the old one drains)`);
    else if (d.change !== null) {
      const c = d.change;
      const counts = [[c.added.length, 'added'], [c.removed.length, 'removed'], [c.reweighted.length, 're-weighted']].filter(([n]) => n !== 0).map(([n, w]) => `${n} ${w}`);
      const moved = c.movedSlots === null ? '' : `; source-hash clients that move: ${formatShare(c)} (${c.movedSlots} of ${c.slots} table slots)`;
      out.push(`${head}: ${counts.length === 0 ? 'no backend changes' : counts.join(', ')}${moved}`);
      for (const name of c.added) out.push(`  + ${name}`);
      for (const name of c.removed) out.push(`  - ${name}`);
      for (const r of c.reweighted) out.push(`  ~ ${r.name}: weight ${r.from} -> ${r.to}`);
    }
    for (const e of d.lookupErrors) out.push(`  ! ${e}`);
  }
  return `${out.join('\n')}\n`;
}
