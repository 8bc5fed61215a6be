/**
 * One `protocol: dns` service: its zones with precomputed answers, the
 * health of its members, and where queries are answered (a DnsPlane: the
 * UDP and TCP servers on this thread, or in every data-plane worker).
 * Health verdicts and operator actions rebuild the answers; a reload
 * rebuilds the zones and swaps them in while the sockets stay open.
 */
import type { DnsServiceConfig, Endpoint } from '../config/types';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import { reasonNames } from '../manager/backend-states';
import type { BackendAction, BackendStatus } from '../manager/status';
import { HealthFlag } from '../pool/backend';
import { LocalDnsPlane } from './local-plane';
import { DnsMembers } from './members';
import type { DnsPlane } from './plane';
import { queriesByType } from './stats';
import type { DnsMemberStatus, DnsRecordStatus, DnsServiceStatus } from './status';
import { ZoneSet } from './zone';

/** Makes the plane of a service (DnsServices: local, or remote when workers run). */
export type DnsPlaneFactory = (config: DnsServiceConfig, log: Logger) => DnsPlane;

const localPlane: DnsPlaneFactory = (config, log) => new LocalDnsPlane(config, log);

export class DnsService {
  readonly name: string;
  private readonly members: DnsMembers;
  private zones: ZoneSet | null = null;
  readonly plane: DnsPlane;
  private readonly log: Logger;
  address: Endpoint | null = null;

  constructor(
    public config: DnsServiceConfig,
    log: Logger,
    makePlane: DnsPlaneFactory = localPlane,
  ) {
    this.name = config.name;
    this.log = log.child({ service: config.name });
    this.members = new DnsMembers(this.log, () => this.rebuildAnswers());
    this.plane = makePlane(config, this.log);
  }

  /** First health checks (bounded by their timeouts), then the zones; the manager listens after. */
  async start(): Promise<void> {
    await this.members.apply(this.config);
    await this.install(this.config);
  }

  /** Reload with the same listen address: new checks first, then the new zones replace the old at once. */
  async apply(next: DnsServiceConfig): Promise<void> {
    await this.members.apply(next);
    this.config = next;
    await this.install(next);
  }

  private async install(config: DnsServiceConfig): Promise<void> {
    const zones = new ZoneSet(config, (record) => this.members.statesOf(record));
    this.zones = zones;
    await this.plane.install(config, zones);
  }

  /** Health or operator state changed: every record's answers are recomputed (cheap: records × members). */
  private rebuildAnswers(): void {
    const zones = this.zones;
    if (zones === null) return;
    for (const slot of zones.slots) slot.rebuild(this.members.statesOf(slot.config));
    this.plane.rebuilt(zones);
  }

  async listen(): Promise<Endpoint> {
    if (this.address !== null) return this.address;
    this.address = await this.plane.listen(this.config.listen);
    return this.address;
  }

  get listening(): boolean {
    return this.plane.listening;
  }

  stop(): void {
    this.members.stop();
    this.plane.close();
    this.address = null;
  }

  act(memberName: string, action: BackendAction): BackendStatus {
    if (!this.members.has(memberName, this.config)) {
      throw new FulcrumError('ERR_FULCRUM_NOT_FOUND', `dns service "${this.name}" has no member named "${memberName}"`);
    }
    this.members.act(memberName, action);
    this.log.info({ member: memberName, action }, 'operator action');
    const m = this.memberStatus().find((s) => s.name === memberName)!;
    return { name: m.name, address: m.address, state: m.state, reasons: m.reasons, backup: false, weight: 0, effectiveWeight: 0, active: 0, total: 0, connectFailures: 0, bytesIn: 0, bytesOut: 0, health: null, connectTime: { count: 0, p50: null, p90: null, p99: null, p999: null, max: null } };
  }

  private memberStatus(): DnsMemberStatus[] {
    const byName = new Map<string, DnsMemberStatus>();
    for (const record of this.config.zones.flatMap((z) => z.records)) {
      for (const m of record.members) {
        let s = byName.get(m.name);
        if (s === undefined) {
          s = { name: m.name, address: m.address, state: 'up', reasons: [], checks: [] };
          byName.set(m.name, s);
        }
        const check = this.members.check(record, m.address);
        if (check !== null && !s.checks.some((c) => c.port === record.health.port)) {
          const info = check.info;
          s.checks.push({
            port: record.health.port!,
            up: check.health === 0,
            lastCheckMs: info?.lastCheckAt == null ? null : Math.round(Date.now() - info.lastCheckAt),
            lastLatencyMs: info?.lastMs == null ? null : Math.round(info.lastMs * 1000) / 1000,
            lastError: info?.lastOk === false ? info.lastFailure : null,
          });
        }
      }
    }
    for (const s of byName.values()) {
      const flags = this.members.operatorFlags(s.name) | (s.checks.some((c) => !c.up) ? HealthFlag.FailedActiveCheck : 0);
      s.reasons = reasonNames(flags);
      s.state = flags & HealthFlag.DisabledByOperator ? 'disabled' : flags & HealthFlag.Draining ? 'draining' : flags !== 0 ? 'down' : 'up';
    }
    return [...byName.values()];
  }

  status(): DnsServiceStatus {
    const counters = this.plane.counters();
    const records: DnsRecordStatus[] = (this.zones?.slots ?? []).map((slot, i) => {
      const answered: Record<string, number> = {};
      const counts = counters.answered[i];
      slot.config.members.forEach((m, k) => (answered[m.name] = (answered[m.name] ?? 0) + (counts?.[k] ?? 0)));
      const r = slot.config;
      return { name: r.name, type: r.type, policy: r.policy, ttl: r.ttl, answering: slot.answers.describe(), answered, target: null };
    });
    for (const zone of this.config.zones) {
      for (const r of zone.records) {
        if (r.type !== 'CNAME') continue;
        records.push({ name: r.name, type: r.type, policy: 'simple', ttl: r.ttl, answering: [{ location: null, mode: 'answer', addresses: [], why: `CNAME to ${r.target}` }], answered: {}, target: r.target });
      }
    }
    return {
      name: this.name,
      protocol: 'dns',
      listen: this.address?.text ?? this.config.listen.text,
      zones: this.config.zones.map((z) => z.name),
      queries: queriesByType(counters.replies),
      dropped: { ...counters.drops, tcp_max_connections: counters.tcpRefused, internal_error: counters.failures },
      tcpConnections: counters.tcpConnections,
      udpRecvBufferSize: counters.recvBufferSize,
      workerReplies: this.plane.perWorker(),
      members: this.memberStatus(),
      records,
    };
  }
}
