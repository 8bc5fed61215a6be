/**
 * A dns service inside a data-plane worker thread: its own UDP and TCP
 * listeners (SO_REUSEPORT beside the other workers) and a Responder over its
 * copy of the zones, built from the config and the member states the
 * control plane sends. It decides nothing: the states say what is usable.
 */
import type { DnsServiceConfig, Endpoint } from '../config/types';
import { LocalDnsPlane } from '../dns/local-plane';
import type { MemberState } from '../dns/policies';
import type { DnsCounters } from '../dns/stats';
import { ZoneSet } from '../dns/zone';
import type { Logger } from '../log';

export class WorkerDns {
  private readonly plane: LocalDnsPlane;
  private zones: ZoneSet | null = null;

  constructor(config: DnsServiceConfig, log: Logger) {
    this.plane = new LocalDnsPlane(config, log);
  }

  /** New zones (start, reload, a replacement worker): answered from the next query on. */
  install(config: DnsServiceConfig, states: MemberState[][], cursors: SharedArrayBuffer, generation: number, maxConnections: number): void {
    const zones = ZoneSet.fromStates(config, states, cursors);
    this.zones = zones;
    this.plane.setZones(config, zones, generation, maxConnections);
  }

  /** Member states changed: each slot's answers are rebuilt (the answer counts stay). */
  statesChanged(states: MemberState[][]): void {
    this.zones?.slots.forEach((slot, i) => {
      const s = states[i];
      if (s !== undefined) slot.rebuild(s);
    });
  }

  listen(endpoint: Endpoint, reusePort: boolean): Promise<Endpoint> {
    return this.plane.listen(endpoint, reusePort);
  }

  close(): void {
    this.plane.close();
  }

  counters(): DnsCounters {
    return this.plane.counters();
  }
}
