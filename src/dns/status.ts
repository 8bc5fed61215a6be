/** The JSON shape of a dns service in `GET /status` (the `dns` list). Field names are public interface. */
import type { BackendState } from '../manager/status';

export interface DnsMemberStatus {
  name: string;
  address: string;
  /** up, down (failed its checks), draining / disabled (operator). */
  state: BackendState;
  reasons: string[];
  /** Health checks of this address (one per distinct health settings among its records). */
  checks: Array<{ port: number; up: boolean; lastCheckMs: number | null; lastLatencyMs: number | null; lastError: string | null }>;
}

export interface DnsRecordStatus {
  name: string;
  type: string;
  policy: string;
  ttl: number;
  /** What the record answers now, per location for geolocation (location null otherwise), and why. */
  answering: Array<{ location: string | null; mode: string; addresses: string[]; why: string }>;
  /** Answers sent per member (fulcrum_dns_answers_total). */
  answered: Record<string, number>;
  /** CNAME records: the target. */
  target: string | null;
}

export interface DnsServiceStatus {
  name: string;
  protocol: 'dns';
  listen: string;
  zones: string[];
  /** qtype → rcode → replies (fulcrum_dns_queries_total). */
  queries: Record<string, Record<string, number>>;
  /** Queries not answered, by reason (fulcrum_dns_dropped_total). */
  dropped: Record<string, number>;
  tcpConnections: number;
  /** The UDP receive buffer the kernel granted (4 MiB asked, capped by net.core.rmem_max); null before listen. */
  udpRecvBufferSize: number | null;
  /** Replies sent by each data-plane worker thread (null: answered on the main thread). */
  workerReplies: number[] | null;
  members: DnsMemberStatus[];
  records: DnsRecordStatus[];
}
