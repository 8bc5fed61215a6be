/**
 * The manager's dns services as one unit: start them all (or none), apply a
 * reload (same name and listen address: updated in place, sockets kept;
 * otherwise the new one listens before the old one closes), stop them.
 */
import type { DnsServiceConfig } from '../config/types';
import type { Logger } from '../log';
import type { ReloadReport } from '../manager/status';
import type { DnsCounters } from './stats';
import { RemoteDnsPlane } from '../workers/remote-dns-plane';
import type { DataPlaneThreads } from '../workers/threads';
import { DnsService } from './service';

export class DnsServices {
  readonly list: DnsService[] = [];
  /** The data-plane workers: when set, every worker answers every dns service (the main thread keeps checks and zones). */
  threads: DataPlaneThreads | null = null;

  constructor(private readonly log: Logger) {}

  private remotes(): RemoteDnsPlane[] {
    return this.list.flatMap((d) => (d.plane instanceof RemoteDnsPlane ? [d.plane] : []));
  }

  /** Ask every worker for its dns counters (before /status and /metrics). */
  async collectStats(): Promise<void> {
    const threads = this.threads;
    if (threads === null || this.list.length === 0) return;
    const replies = await threads.requestAll<Array<[string, DnsCounters]>>({ t: 'dnsStats' });
    const byKey = new Map(this.remotes().map((r) => [r.key, r]));
    replies.forEach((list, worker) => {
      for (const [key, counters] of list) byKey.get(key)?.record(worker, counters);
    });
  }

  /** A worker died: its counts so far stay counted. */
  forget(worker: number): void {
    for (const r of this.remotes()) r.forget(worker);
  }

  /** A replacement worker: every dns service's zones and listeners. */
  async replay(worker: number): Promise<void> {
    for (const r of this.remotes()) await r.replay(worker);
  }

  get(name: string): DnsService | undefined {
    return this.list.find((d) => d.name === name);
  }

  private async launch(config: DnsServiceConfig): Promise<DnsService> {
    const threads = this.threads;
    const service = threads === null ? new DnsService(config, this.log) : new DnsService(config, this.log, (c) => new RemoteDnsPlane(threads, c.name));
    try {
      await service.start();
      const bound = await service.listen();
      const records = config.zones.reduce((n, z) => n + z.records.length, 0);
      this.log.info({ service: config.name, listen: bound.text, zones: config.zones.map((z) => z.name), records }, 'dns service listening (udp and tcp)');
    } catch (err) {
      service.stop();
      throw err;
    }
    return service;
  }

  async start(configs: readonly DnsServiceConfig[]): Promise<void> {
    await this.apply(configs);
  }

  /** Returns the names added, removed and changed (for the reload report). */
  async apply(configs: readonly DnsServiceConfig[]): Promise<ReloadReport> {
    const report: ReloadReport = { servicesAdded: [], servicesRemoved: [], servicesChanged: [] };
    const started: DnsService[] = [];
    const replaced: DnsService[] = [];
    try {
      for (const c of configs) {
        const current = this.get(c.name);
        if (current !== undefined && sameListen(current, c)) continue;
        started.push(await this.launch(c));
        if (current !== undefined) replaced.push(current);
      }
    } catch (err) {
      for (const s of started) s.stop();
      throw err;
    }
    for (const c of configs) {
      const current = this.get(c.name);
      if (current === undefined) report.servicesAdded.push(c.name);
      else if (JSON.stringify({ ...current.config, zones: current.config.zones.map(unserial) }) !== JSON.stringify({ ...c, zones: c.zones.map(unserial) })) report.servicesChanged.push(c.name);
      if (current !== undefined && !replaced.includes(current)) await current.apply(c);
    }
    const next = configs.map((c) => started.find((s) => s.name === c.name) ?? this.get(c.name)!);
    for (const s of this.list) {
      if (next.includes(s)) continue;
      s.stop();
      if (!configs.some((c) => c.name === s.name)) report.servicesRemoved.push(s.name);
    }
    this.list.splice(0, this.list.length, ...next);
    return report;
  }

  stop(): void {
    for (const s of this.list) s.stop();
  }
}

/** The default SOA serial is the load time: not a change by itself. */
function unserial(z: DnsServiceConfig['zones'][number]) {
  return { ...z, soa: { ...z.soa, serial: 0 } };
}

/** The same listen address, or the one a port-0 listen was given (a file rewritten with the bound port). */
function sameListen(current: DnsService, next: DnsServiceConfig): boolean {
  return current.config.listen.text === next.listen.text || current.address?.text === next.listen.text;
}
