import type { DiscoveryConfig, DiscoveryEntry, FulcrumConfig } from '../config/types';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import type { DiscoverySourceStatus } from '../manager/status';
import { FileSource } from './file-source';
import { HostSource } from './host-source';
import { DnsResolver } from './resolver';
import { DiscoveryRunner } from './runner';
import { SrvSource } from './srv-source';
import type { FoundBackend, Source } from './types';

export const DEFAULT_DISCOVERY: DiscoveryConfig = { interval: 10_000, minTtl: 1000, maxTtl: 10_000, timeout: 2000, resolvers: [] };

/** What a service reads of discovery: the set in force of each of its entries. */
export interface DiscoveryView {
  found(source: string): readonly FoundBackend[];
  status(source: string): DiscoverySourceStatus | null;
}

export function createSource(entry: DiscoveryEntry, resolver: DnsResolver): Source {
  if (entry.kind === 'srv') return new SrvSource(entry.target, resolver);
  if (entry.kind === 'file') return new FileSource(entry.target);
  const colon = entry.target.lastIndexOf(':');
  return new HostSource(entry.target.slice(0, colon), Number(entry.target.slice(colon + 1)), resolver);
}

/**
 * Every discovery entry of the running config, one runner per distinct entry
 * (two services naming the same host share its lookups). Control plane only:
 * a changed set is reported to the manager, which applies it to the pools of
 * the services that name it, as a reload would.
 */
export class Discovery implements DiscoveryView {
  private readonly runners = new Map<string, DiscoveryRunner>();
  readonly resolver: DnsResolver;

  constructor(
    settings: DiscoveryConfig | undefined,
    private readonly log: Logger,
    private readonly onChange: (source: string) => void,
  ) {
    this.resolver = new DnsResolver(settings ?? DEFAULT_DISCOVERY);
  }

  /**
   * First lookups of the entries a config names that are not followed yet.
   * A required entry (not `optional`) that fails is ERR_FULCRUM_DISCOVERY and
   * nothing changes. The new sets are visible to found() at once; commit()
   * starts their runners and stops those no longer named; discard() forgets
   * the new ones (a later step of a reload failed).
   */
  async prepare(config: FulcrumConfig): Promise<{ commit(): void; discard(): void }> {
    const previous = this.resolver.settings;
    const settings = config.discovery ?? DEFAULT_DISCOVERY;
    if (JSON.stringify(settings) !== JSON.stringify(previous)) this.resolver.configure(settings);
    const wanted = new Map<string, { entry: DiscoveryEntry; required: string[] }>();
    for (const s of config.services) {
      for (const entry of s.discovery ?? []) {
        const w = wanted.get(entry.source) ?? { entry, required: [] };
        if (!entry.optional) w.required.push(s.name);
        wanted.set(entry.source, w);
      }
    }
    const fresh = [...wanted.values()].filter((w) => !this.runners.has(w.entry.source)).map((w) => ({ ...w, runner: this.runner(w.entry) }));
    // Visible (not yet started) at once, so services built before commit() see their sets.
    for (const f of fresh) this.runners.set(f.entry.source, f.runner);
    const lookups = await Promise.all(fresh.map((f) => f.runner.first()));
    const problems: string[] = [];
    lookups.forEach((lookup, i) => {
      const { entry, required } = fresh[i];
      if (lookup.result === 'ok') return;
      if (required.length > 0) problems.push(`${entry.source} (service ${required.join(', ')}): ${lookup.result}: ${lookup.reason}`);
      else this.log.warn({ source: entry.source, result: lookup.result, reason: lookup.reason }, 'optional discovery entry failed its first lookup: it starts empty');
    });
    const discard = () => {
      for (const f of fresh) {
        f.runner.stop();
        this.runners.delete(f.entry.source);
      }
      this.resolver.configure(previous);
    };
    if (problems.length > 0) {
      discard();
      const n = problems.length;
      throw new FulcrumError('ERR_FULCRUM_DISCOVERY', `cannot find the backends of ${n} discovery entr${n === 1 ? 'y' : 'ies'} (set optional: true to start without them)`, problems);
    }
    return {
      discard,
      commit: () => {
        for (const f of fresh) f.runner.start();
        for (const [source, runner] of this.runners) {
          if (wanted.has(source)) continue;
          runner.stop();
          this.runners.delete(source);
        }
      },
    };
  }

  found(source: string): readonly FoundBackend[] {
    return this.runners.get(source)?.policy.backends ?? [];
  }

  status(source: string): DiscoverySourceStatus | null {
    const runner = this.runners.get(source);
    if (runner === undefined) return null;
    const p = runner.policy;
    const now = Date.now();
    const ago = (t: number | null) => (t === null ? null : now - t);
    return {
      source,
      found: (p.backends ?? []).map((b) => ({ ...b, address: b.address.text })),
      lookups: { ...p.counts },
      lastSuccessAgoMs: ago(p.lastSuccessAt),
      lastChangeAgoMs: ago(p.lastChangeAt),
      failing: p.failure === null ? null : { result: p.failure.result, reason: p.failure.reason, forMs: now - p.failure.since },
    };
  }

  stop(): void {
    for (const r of this.runners.values()) r.stop();
    this.runners.clear();
  }

  private runner(entry: DiscoveryEntry): DiscoveryRunner {
    const log = this.log.child({ component: 'discovery' });
    return new DiscoveryRunner(entry, createSource(entry, this.resolver), this.resolver, log, () => this.onChange(entry.source));
  }
}
