/** The dns part of `fulcrum status`: each record with what it answers now and why, then the members. */
import type { DnsServiceStatus } from '../src/dns/status';

export function formatDnsStatus(services: readonly DnsServiceStatus[]): string[] {
  const out: string[] = [];
  for (const s of services) {
    const byRcode = new Map<string, number>();
    for (const row of Object.values(s.queries)) for (const [rcode, n] of Object.entries(row)) byRcode.set(rcode, (byRcode.get(rcode) ?? 0) + n);
    const total = [...byRcode.values()].reduce((a, b) => a + b, 0);
    const detail = [...byRcode].map(([r, n]) => `${r} ${n}`).join(', ');
    const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
    out.push('', `${s.name}: dns ${s.listen}, zones ${s.zones.join(', ')}, ${total} answered${total > 0 ? ` (${detail})` : ''}, dropped ${dropped}, ${s.tcpConnections} tcp connections${s.workerReplies == null ? '' : `, answered by worker ${s.workerReplies.join(' / ')}`}`);
    const rows = [['RECORD', 'TYPE', 'POLICY', 'ANSWERS NOW', 'WHY']];
    for (const r of s.records) {
      for (const a of r.answering) {
        const name = a.location === null ? r.name : `${r.name} [${a.location}]`;
        const now = a.mode === 'servfail' ? 'SERVFAIL' : a.mode === 'empty' ? '(no data)' : r.target ?? a.addresses.join(', ');
        rows.push([name, r.type, r.policy, now, a.why]);
      }
    }
    out.push(...align(rows));
    const members = [['MEMBER', 'STATE', 'CHECKS']];
    for (const m of s.members) {
      const checks = m.checks.map((c) => `:${c.port} ${c.up ? 'ok' : `fail${c.lastError === null ? '' : ` (${c.lastError})`}`}`).join(', ') || 'off';
      members.push([m.name === m.address ? m.name : `${m.name} (${m.address})`, m.state, checks]);
    }
    if (members.length > 1) out.push(...align(members));
  }
  return out;
}

function align(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}
