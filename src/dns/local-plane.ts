/**
 * The query-answering half of a dns service, on the thread it lives in: the
 * UDP and TCP servers at one address and a Responder over a ZoneSet. The
 * main thread runs one (workers: 1); with workers each worker thread runs
 * one over its own copy of the zones (src/workers/worker-dns.ts).
 */
import type { DnsServiceConfig, Endpoint } from '../config/types';
import type { Logger } from '../log';
import { LocationTable } from './geo';
import { Responder } from './responder';
import { type DnsCounters, DnsStats } from './stats';
import { DnsTcpServer } from './tcp-server';
import { DnsUdpServer } from './udp-server';
import type { DnsPlane } from './plane';
import type { ZoneSet } from './zone';

export class LocalDnsPlane implements DnsPlane {
  readonly stats = new DnsStats();
  private responder: Responder | null = null;
  private zones: ZoneSet | null = null;
  private generation = 0;
  private readonly udp: DnsUdpServer;
  private readonly tcp: DnsTcpServer;

  constructor(config: DnsServiceConfig, log: Logger) {
    const respond = (msg: Buffer, client: string, udp: boolean) => this.responder!.respond(msg, client, udp);
    this.udp = new DnsUdpServer(respond, log);
    this.tcp = new DnsTcpServer(respond, config.tcp.idleTimeout, config.tcp.maxConnections, log);
  }

  /** New zones answer from the next query on (the sockets stay). */
  setZones(config: DnsServiceConfig, zones: ZoneSet, generation: number, maxConnections = config.tcp.maxConnections): void {
    this.zones = zones;
    this.generation = generation;
    this.responder = new Responder(zones, new LocationTable(config.locations), this.stats);
    this.tcp.idleTimeout = config.tcp.idleTimeout;
    this.tcp.maxConnections = maxConnections;
  }

  async install(config: DnsServiceConfig, zones: ZoneSet): Promise<void> {
    this.setZones(config, zones, this.generation + 1);
  }

  /** The slots of the zones answered from were rebuilt in place: nothing to do. */
  rebuilt(): void {}

  perWorker(): null {
    return null;
  }

  /** UDP first (port 0 picks one), then TCP on the same port. */
  async listen(endpoint: Endpoint, reusePort = false): Promise<Endpoint> {
    for (let attempt = 0; ; attempt++) {
      const bound = await this.udp.listen(endpoint, reusePort);
      try {
        await this.tcp.listen(bound, reusePort);
        return bound;
      } catch (err) {
        this.udp.close();
        // With port 0 the UDP port may be taken for TCP by someone else: pick another.
        if (endpoint.port !== 0 || attempt >= 5) throw err;
      }
    }
  }

  get listening(): boolean {
    return this.udp.listening;
  }

  /** Listeners closed and open TCP connections with them. */
  close(): void {
    this.udp.close();
    this.tcp.close();
    this.tcp.closeAll();
  }

  counters(): DnsCounters {
    return {
      replies: this.stats.entries(),
      drops: { ...this.stats.drops },
      tcpRefused: this.tcp.refused,
      failures: this.udp.failures + this.tcp.failures,
      tcpConnections: this.tcp.connections,
      recvBufferSize: this.udp.recvBufferSize,
      generation: this.generation,
      answered: (this.zones?.slots ?? []).map((s) => Array.from(s.answered)),
    };
  }
}
