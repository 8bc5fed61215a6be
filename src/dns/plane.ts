/**
 * Where a dns service's queries are answered: on the main thread
 * (LocalDnsPlane, workers: 1) or in every data-plane worker
 * (RemoteDnsPlane). The service keeps the control half either way: health
 * checks, policies, the zones and operator actions; the plane gets the zones
 * and each change of member states, and answers.
 */
import type { DnsServiceConfig, Endpoint } from '../config/types';
import type { DnsCounters } from './stats';
import type { ZoneSet } from './zone';

export interface DnsPlane {
  /** New zones (start, reload): answered from the next query on; resolves once every thread has them. */
  install(config: DnsServiceConfig, zones: ZoneSet): Promise<void>;
  /** Member states changed: `zones` (the control plane's) has rebuilt its slots. */
  rebuilt(zones: ZoneSet): void;
  listen(endpoint: Endpoint): Promise<Endpoint>;
  readonly listening: boolean;
  /** Listeners and open TCP connections closed. */
  close(): void;
  /** Every thread's counters summed (with workers: their last snapshots, see Manager.collectStats). */
  counters(): DnsCounters;
  /** Replies per worker thread (null: answered on the main thread). */
  perWorker(): number[] | null;
}
