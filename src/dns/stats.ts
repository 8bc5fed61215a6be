/**
 * Counters of one dns service, plain numbers bumped per query:
 * fulcrum_dns_queries_total{qtype,rcode} and drops by reason. Answers per
 * member are counted on each record slot (zone.ts).
 */
import { QTYPE_NAMES, RCODE_NAMES } from './query';

export type DnsDropReason = 'malformed' | 'response';

export class DnsStats {
  /** `${qtype}/${rcode}` → count; qtypes outside QTYPE_NAMES are folded into "other" when reported. */
  private readonly replies = new Map<number, number>();
  readonly drops: Record<DnsDropReason, number> = { malformed: 0, response: 0 };

  replied(qtype: number, rcode: number): void {
    const key = qtype * 32 + rcode; // rcode < 32 (BADVERS = 16); a number key, no string per query
    this.replies.set(key, (this.replies.get(key) ?? 0) + 1);
  }

  dropped(reason: DnsDropReason): void {
    this.drops[reason]++;
  }

  /** qtype name → rcode name → count. */
  queries(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [key, count] of this.replies) {
      const qtype = key < 0 ? 'none' : (QTYPE_NAMES[Math.floor(key / 32)] ?? 'other');
      const rcode = RCODE_NAMES[((key % 32) + 32) % 32] ?? String(key % 32);
      const row = (out[qtype] ??= {});
      row[rcode] = (row[rcode] ?? 0) + count;
    }
    return out;
  }
}
