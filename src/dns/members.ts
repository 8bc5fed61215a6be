/**
 * Health of a dns service's members. A member is an address checked with the
 * manager's health checker (TCP connect to health.port); an address used by
 * several records with the same health settings is one target, checked once.
 * Operators drain or disable a member by name (its address unless named),
 * which takes it out of every record it is in.
 */
import { isIP } from 'node:net';
import type { DnsMemberConfig, DnsRecordConfig, DnsServiceConfig, HealthConfig } from '../config/types';
import type { Logger } from '../log';
import { HealthChecker, type HealthInfo } from '../manager/health/checker';
import { tcpProbe } from '../manager/health/tcp-probe';
import type { BackendAction } from '../manager/status';
import { encodeV2 } from '../proxy/proxy-protocol';
import { Backend, HealthFlag } from '../pool/backend';
import type { MemberState } from './policies';

const OPERATOR = HealthFlag.Draining | HealthFlag.DisabledByOperator;

interface Checked {
  checker: HealthChecker;
  targets: Map<string, Backend>;
}

export class DnsMembers {
  /** health settings (as JSON) → its checker and the addresses it checks. */
  private readonly checked = new Map<string, Checked>();
  /** Member name → operator flags (Draining, DisabledByOperator). */
  private readonly operator = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    /** Called when a member's verdict or operator state changes: answers are rebuilt. */
    private readonly onChange: () => void,
  ) {}

  /** Check what `config` names (new targets' first checks are awaited); stop checking the rest. */
  async apply(config: DnsServiceConfig): Promise<void> {
    const wanted = new Map<string, { health: HealthConfig; addresses: Set<string> }>();
    for (const record of records(config)) {
      if (!record.health.enabled) continue;
      const key = healthKey(record.health);
      const entry = wanted.get(key) ?? { health: record.health, addresses: new Set<string>() };
      for (const m of record.members) entry.addresses.add(m.address);
      wanted.set(key, entry);
    }
    const added: Array<Promise<void>> = [];
    for (const [key, { health, addresses }] of wanted) {
      let c = this.checked.get(key);
      if (c === undefined) {
        c = { checker: this.createChecker(health), targets: new Map() };
        this.checked.set(key, c);
      }
      const fresh: Backend[] = [];
      for (const address of addresses) {
        if (c.targets.has(address)) continue;
        const target = new Backend({ address: { host: address, port: health.port!, family: isIP(address) === 6 ? 6 : 4, text: address }, name: address, weight: 1, backup: false, maxConnections: 0 });
        target.health = HealthFlag.FailedActiveCheck; // unknown until its first check answers
        c.targets.set(address, target);
        c.checker.add(target);
        fresh.push(target);
      }
      added.push(c.checker.firstRound(fresh));
    }
    // The running zones keep using what they check until the new ones are installed.
    await Promise.all(added);
    for (const [key, c] of this.checked) {
      const addresses = wanted.get(key)?.addresses;
      if (addresses === undefined) {
        c.checker.stop();
        this.checked.delete(key);
        continue;
      }
      for (const [address, target] of c.targets) {
        if (addresses.has(address)) continue;
        c.checker.remove(target);
        c.targets.delete(address);
      }
    }
    const names = new Set(records(config).flatMap((r) => r.members.map((m) => m.name)));
    for (const name of this.operator.keys()) if (!names.has(name)) this.operator.delete(name);
  }

  private createChecker(health: HealthConfig): HealthChecker {
    const greeting = health.proxyProtocol ? encodeV2(null) : undefined;
    return new HealthChecker({
      ...health, // interval, timeout, rise, fall
      probe: (b) => tcpProbe(b.address, undefined, health.timeout, greeting),
      onChange: (b, up, reason) => {
        b.health = up ? 0 : HealthFlag.FailedActiveCheck;
        if (up) this.log.info({ member: b.name, port: b.address.port }, 'dns member up');
        else this.log.warn({ member: b.name, port: b.address.port, reason }, 'dns member down');
        this.onChange();
      },
    });
  }

  private target(record: DnsRecordConfig, address: string): Backend | undefined {
    return this.checked.get(healthKey(record.health))?.targets.get(address);
  }

  state(record: DnsRecordConfig, m: DnsMemberConfig): MemberState {
    const eligible = (this.operator.get(m.name) ?? 0) === 0;
    const target = record.health.enabled ? this.target(record, m.address) : undefined;
    const healthy = target === undefined ? !record.health.enabled : target.health === 0;
    return { usable: eligible && healthy, eligible };
  }

  statesOf(record: DnsRecordConfig): MemberState[] {
    return record.members.map((m) => this.state(record, m));
  }

  has(name: string, config: DnsServiceConfig): boolean {
    return records(config).some((r) => r.members.some((m) => m.name === name));
  }

  act(name: string, action: BackendAction): void {
    const before = this.operator.get(name) ?? 0;
    const after = action === 'enable' ? 0 : action === 'drain' ? HealthFlag.Draining : HealthFlag.DisabledByOperator;
    this.operator.set(name, after);
    if (before !== after) this.onChange();
  }

  operatorFlags(name: string): number {
    return (this.operator.get(name) ?? 0) & OPERATOR;
  }

  /** The check of one member of one record (null when its record has checks off). */
  check(record: DnsRecordConfig, address: string): { health: number; info: HealthInfo | undefined } | null {
    if (!record.health.enabled) return null;
    const c = this.checked.get(healthKey(record.health));
    const target = c?.targets.get(address);
    return target === undefined ? null : { health: target.health, info: c!.checker.info(target) };
  }

  stop(): void {
    for (const c of this.checked.values()) c.checker.stop();
    this.checked.clear();
  }
}

function records(config: DnsServiceConfig): DnsRecordConfig[] {
  return config.zones.flatMap((z) => z.records);
}

function healthKey(h: HealthConfig): string {
  return JSON.stringify([h.interval, h.timeout, h.rise, h.fall, h.port, h.proxyProtocol]);
}
