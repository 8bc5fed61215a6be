import type { Backend } from '../pool/backend';
import { isSkipped, type Balancer, type PickContext } from './balancer';
import { fnv1a, fnv1aAlt } from './hash';

/** Lookup table size: prime (so every skip yields a full permutation) and >> 100 x backends. */
export const MAGLEV_TABLE_SIZE = 65537;
const M = MAGLEV_TABLE_SIZE;

/** Plain code-unit order: localeCompare would depend on the process's ICU/locale. */
function byName(a: Backend, b: Backend): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  const x = a.address.text;
  const y = b.address.text;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Source-IP affinity with Maglev consistent hashing (Eisenbud et al., NSDI
 * 2016). Each backend walks its own permutation of the M slots (offset and
 * skip from two hashes of its name) and the backends take turns claiming the
 * next free slot of their permutation. Because the permutations depend only on
 * names, removing one backend leaves most slots with their owner: only its
 * clients move, plus a small fraction of others.
 *
 * The table depends only on the set of (name, weight): backends are sorted by
 * name first, so two nodes of a pair, or a restarted node, with the same list
 * in any order map every client to the same backend.
 *
 * Weighted: each round every backend earns `weight` credit and takes a turn
 * per `maxWeight` of credit, so slots are split in proportion to weight. It
 * uses the configured `weight`, not `effectiveWeight`: a slow-start ramp must
 * not reshuffle the whole table while it rises.
 */
export class MaglevBalancer implements Balancer {
  private backends: readonly Backend[] = [];
  /** Slot -> index into `backends`; -1 only while building. */
  private readonly table = new Int32Array(M);

  rebuild(backends: readonly Backend[]): void {
    const bs = backends.filter((b) => b.weight > 0).sort(byName);
    this.backends = bs;
    fillMaglevTable(this.table, bs);
  }

  pick(ctx: PickContext): Backend | null {
    const bs = this.backends;
    if (bs.length === 0) return null;
    let slot = ctx.sourceHash % M;
    const first = bs[this.table[slot]];
    if (this.eligible(first, ctx)) return first;
    // Retry after a failed connect: walk forward to the next eligible owner.
    // The walk is deterministic per client, and slots are interleaved, so the
    // retried clients spread over the others. Check first that one exists, so
    // "all tried" costs O(backends), not O(M).
    if (!this.anyEligible(ctx)) return null;
    for (let k = 1; k < M; k++) {
      if (++slot === M) slot = 0;
      const b = bs[this.table[slot]];
      if (this.eligible(b, ctx)) return b;
    }
    return null;
  }

  private eligible(b: Backend, ctx: PickContext): boolean {
    return b.effectiveWeight > 0 && !isSkipped(ctx, b);
  }

  private anyEligible(ctx: PickContext): boolean {
    const bs = this.backends;
    for (let i = 0; i < bs.length; i++) if (this.eligible(bs[i], ctx)) return true;
    return false;
  }
}

/**
 * Fills `table` (M slots) with indices into `bs`, which must be sorted by
 * name and have weights > 0. Shared by the balancer and by the disruption
 * preview (src/manager/disruption.ts), which must build the same table.
 */
export function fillMaglevTable(table: Int32Array, bs: ReadonlyArray<{ name: string; weight: number }>): void {
  table.fill(-1);
  const n = bs.length;
  if (n === 0) return;

  const cursor = new Float64Array(n); // permutation[next[i]] of backend i
  const skip = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    cursor[i] = fnv1a(bs[i].name) % M;
    skip[i] = (fnv1aAlt(bs[i].name) % (M - 1)) + 1;
    if (bs[i].weight > maxWeight) maxWeight = bs[i].weight;
  }

  let filled = 0;
  // Terminates: the heaviest backend takes a turn every round, and each turn
  // fills one slot (M is prime, so every permutation visits every slot).
  for (;;) {
    for (let i = 0; i < n; i++) {
      credit[i] += bs[i].weight;
      if (credit[i] < maxWeight) continue;
      credit[i] -= maxWeight;
      let c = cursor[i];
      while (table[c] >= 0) c = (c + skip[i]) % M;
      table[c] = i;
      cursor[i] = (c + skip[i]) % M;
      if (++filled === M) return;
    }
  }
}
