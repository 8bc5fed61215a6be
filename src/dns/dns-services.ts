/**
 * The manager's dns services as one unit: start them all (or none), apply a
 * reload (same name and listen address: updated in place, sockets kept;
 * otherwise the new one listens before the old one closes), stop them.
 */
import type { DnsServiceConfig } from '../config/types';
import type { Logger } from '../log';
import type { ReloadReport } from '../manager/status';
import { DnsService } from './service';

export class DnsServices {
  readonly list: DnsService[] = [];

  constructor(private readonly log: Logger) {}

  get(name: string): DnsService | undefined {
    return this.list.find((d) => d.name === name);
  }

  private async launch(config: DnsServiceConfig): Promise<DnsService> {
    const service = new DnsService(config, this.log);
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
