/**
 * A dns service answered by every data-plane worker, seen from the control
 * plane: the zones and each change of member states go to every worker as
 * plain data (the config and MemberState lists; each worker builds its own
 * wire bytes), and the counters come back as snapshots that
 * Manager.collectStats fetches before /status and /metrics are read.
 */
import type { DnsServiceConfig, Endpoint } from '../config/types';
import type { DnsPlane } from '../dns/plane';
import { type DnsCounters, emptyCounters, sumCounters, totalReplies } from '../dns/stats';
import type { ZoneSet } from '../dns/zone';
import type { DataPlaneThreads } from './threads';

let nextKey = 1;

export class RemoteDnsPlane implements DnsPlane {
  readonly key: string;
  private generation = 0;
  private config: DnsServiceConfig | null = null;
  private zones: ZoneSet | null = null;
  private listenedAt: { endpoint: Endpoint; reusePort: boolean } | null = null;
  private closed = false;
  /** Each worker's last snapshot. */
  private readonly latest: Array<DnsCounters | undefined> = [];
  /** The counts of workers that died (their last snapshots), so no counter goes back. */
  private departed: DnsCounters = emptyCounters();

  constructor(
    private readonly threads: DataPlaneThreads,
    name: string,
  ) {
    this.key = `dns:${name}#${nextKey++}`;
  }

  /** The TCP connection cap is the service's: each worker holds its share. */
  private maxConnections(config: DnsServiceConfig): number {
    return Math.max(1, Math.ceil(config.tcp.maxConnections / this.threads.size));
  }

  async install(config: DnsServiceConfig, zones: ZoneSet): Promise<void> {
    this.config = config;
    this.zones = zones;
    this.generation++;
    const restarts = this.threads.restarts;
    const msg = this.zonesMessage();
    // A worker that dies meanwhile is replaced and gets these zones by replay(): not a failure of the reload.
    await Promise.all(
      Array.from({ length: this.threads.size }, (_, w) =>
        this.threads.request(w, msg).catch((err: unknown) => {
          if (this.threads.restarts === restarts) throw err;
        }),
      ),
    );
  }

  private zonesMessage() {
    const config = this.config!;
    return { t: 'dnsZones' as const, key: this.key, config, states: this.zones!.states(), cursors: this.zones!.cursors.buffer as SharedArrayBuffer, generation: this.generation, maxConnections: this.maxConnections(config) };
  }

  rebuilt(zones: ZoneSet): void {
    if (this.closed || zones !== this.zones) return;
    this.threads.postAll({ t: 'dnsStates', key: this.key, states: zones.states() });
  }

  /**
   * Every worker binds the address (SO_REUSEPORT with 2 or more). Port 0: the
   * first worker's bind picks the port and the others bind that one.
   */
  async listen(endpoint: Endpoint): Promise<Endpoint> {
    const reusePort = this.threads.size > 1;
    const first = await this.threads.request<Endpoint>(0, { t: 'dnsListen', key: this.key, endpoint, reusePort });
    const fixed = { ...endpoint, port: first.port, text: first.text };
    try {
      for (let w = 1; w < this.threads.size; w++) await this.threads.request<Endpoint>(w, { t: 'dnsListen', key: this.key, endpoint: fixed, reusePort });
    } catch (err) {
      this.threads.postAll({ t: 'dnsClose', key: this.key });
      throw err;
    }
    this.listenedAt = { endpoint: fixed, reusePort };
    return first;
  }

  get listening(): boolean {
    return this.listenedAt !== null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listenedAt = null;
    this.threads.postAll({ t: 'dnsClose', key: this.key });
  }

  /** A worker's snapshot (Manager.collectStats). */
  record(worker: number, counters: DnsCounters): void {
    this.latest[worker] = counters;
  }

  /** A worker died: what it had counted (up to its last snapshot) stays counted. */
  forget(worker: number): void {
    const last = this.latest[worker];
    this.latest[worker] = undefined;
    if (last !== undefined) this.departed = sumCounters([this.departed, { ...last, tcpConnections: 0, recvBufferSize: null }], this.generation);
  }

  /** A replacement worker: the zones, and its listeners when open. */
  async replay(worker: number): Promise<void> {
    if (this.closed || this.config === null) return;
    this.threads.post(worker, this.zonesMessage());
    const at = this.listenedAt;
    if (at !== null) await this.threads.request(worker, { t: 'dnsListen', key: this.key, endpoint: at.endpoint, reusePort: at.reusePort });
  }

  counters(): DnsCounters {
    const live = this.latest.filter((c): c is DnsCounters => c !== undefined);
    return sumCounters([this.departed, ...live], this.generation);
  }

  perWorker(): number[] {
    return Array.from({ length: this.threads.size }, (_, w) => {
      const c = this.latest[w];
      return c === undefined ? 0 : totalReplies(c);
    });
  }
}
