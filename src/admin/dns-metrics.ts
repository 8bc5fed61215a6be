/** The dns services' series of `GET /metrics` (names are public interface, DESIGN.md "Metrics"). */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DnsServiceStatus } from '../dns/status';

export function addDnsMetrics(registry: Registry, services: readonly DnsServiceStatus[]): void {
  if (services.length === 0) return;
  const registers = [registry];
  const queries = new Counter({ name: 'fulcrum_dns_queries_total', help: 'DNS queries answered, by query type and response code.', labelNames: ['service', 'qtype', 'rcode'], registers });
  const answers = new Counter({ name: 'fulcrum_dns_answers_total', help: 'Answers that included a member, per record.', labelNames: ['service', 'record', 'member'], registers });
  const dropped = new Counter({ name: 'fulcrum_dns_dropped_total', help: 'DNS queries not answered, by reason (malformed, response, tcp_max_connections, internal_error).', labelNames: ['service', 'reason'], registers });
  const up = new Gauge({ name: 'fulcrum_dns_member_up', help: '1 when the member passes its checks and is not drained or disabled, else 0.', labelNames: ['service', 'member'], registers });
  for (const s of services) {
    for (const [qtype, byRcode] of Object.entries(s.queries)) for (const [rcode, n] of Object.entries(byRcode)) queries.inc({ service: s.name, qtype, rcode }, n);
    for (const r of s.records) for (const [member, n] of Object.entries(r.answered)) answers.inc({ service: s.name, record: `${r.name}/${r.type}`, member }, n);
    for (const [reason, n] of Object.entries(s.dropped)) dropped.inc({ service: s.name, reason }, n);
    for (const m of s.members) up.set({ service: s.name, member: m.name }, m.state === 'up' ? 1 : 0);
  }
}
