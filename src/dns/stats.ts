/**
 * Counters of one dns service, plain numbers bumped per query:
 * fulcrum_dns_queries_total{qtype,rcode} and drops by reason. Answers per
 * member are counted on each record slot (zone.ts). With workers each thread
 * keeps its own and the control plane sums their snapshots (DnsCounters).
 */
import { QTYPE_NAMES, RCODE_NAMES } from './query';

export type DnsDropReason = 'malformed' | 'response';

/** One data plane's counters as plain data (a worker's reply to 'dnsStats'), or several summed. */
export interface DnsCounters {
  /** [qtype * 32 + rcode, count] (qtype -1: no question). */
  replies: Array<[number, number]>;
  drops: Record<DnsDropReason, number>;
  tcpRefused: number;
  /** Queries that threw inside the responder (should stay 0). */
  failures: number;
  tcpConnections: number;
  recvBufferSize: number | null;
  /** The zones these answer counts belong to (each install is a new generation). */
  generation: number;
  /** Answers per member, per record slot of those zones. */
  answered: number[][];
}

export class DnsStats {
  /** qtype * 32 + rcode → count; qtypes outside QTYPE_NAMES are folded into "other" when reported. */
  private readonly replies = new Map<number, number>();
  readonly drops: Record<DnsDropReason, number> = { malformed: 0, response: 0 };

  replied(qtype: number, rcode: number): void {
    const key = qtype * 32 + rcode; // rcode < 32 (BADVERS = 16); a number key, no string per query
    this.replies.set(key, (this.replies.get(key) ?? 0) + 1);
  }

  dropped(reason: DnsDropReason): void {
    this.drops[reason]++;
  }

  entries(): Array<[number, number]> {
    return [...this.replies];
  }
}

/** Counters with nothing counted yet. */
export function emptyCounters(generation = 0): DnsCounters {
  return { replies: [], drops: { malformed: 0, response: 0 }, tcpRefused: 0, failures: 0, tcpConnections: 0, recvBufferSize: null, generation, answered: [] };
}

/** The sum of several data planes' counters; answer counts only of those at `generation`. */
export function sumCounters(list: readonly DnsCounters[], generation: number): DnsCounters {
  const out = emptyCounters(generation);
  const replies = new Map<number, number>();
  for (const c of list) {
    for (const [key, n] of c.replies) replies.set(key, (replies.get(key) ?? 0) + n);
    out.drops.malformed += c.drops.malformed;
    out.drops.response += c.drops.response;
    out.tcpRefused += c.tcpRefused;
    out.failures += c.failures;
    out.tcpConnections += c.tcpConnections;
    out.recvBufferSize ??= c.recvBufferSize;
    if (c.generation !== generation) continue;
    c.answered.forEach((row, i) => {
      const sum = (out.answered[i] ??= new Array<number>(row.length).fill(0));
      row.forEach((n, m) => (sum[m] = (sum[m] ?? 0) + n));
    });
  }
  out.replies = [...replies];
  return out;
}

/** The number of replies counted. */
export function totalReplies(c: DnsCounters): number {
  return c.replies.reduce((n, [, count]) => n + count, 0);
}

/** qtype name → rcode name → count. */
export function queriesByType(replies: ReadonlyArray<[number, number]>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [key, count] of replies) {
    const qtype = key < 0 ? 'none' : (QTYPE_NAMES[Math.floor(key / 32)] ?? 'other');
    const rcode = RCODE_NAMES[((key % 32) + 32) % 32] ?? String(key % 32);
    const row = (out[qtype] ??= {});
    row[rcode] = (row[rcode] ?? 0) + count;
  }
  return out;
}
