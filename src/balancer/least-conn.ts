import type { Backend } from '../pool/backend';
import { isSkipped, type Balancer, type PickContext } from './balancer';

/**
 * Weighted least connections: the backend with the smallest active/weight.
 * Ratios are compared by cross-multiplication (a_i * w_j < a_j * w_i), which
 * avoids a division per candidate and handles active = 0 exactly.
 *
 * Ties are broken by scan order, and the scan starts just after the last
 * winner: with equal loads (e.g. all idle after start) backends are chosen in
 * turn rather than always the first one in the list.
 */
export class LeastConnBalancer implements Balancer {
  private backends: readonly Backend[] = [];
  /** Where the next scan starts; one past the last winner. */
  private next = 0;

  rebuild(backends: readonly Backend[]): void {
    this.backends = backends.slice();
    this.next = this.backends.length > 0 ? this.next % this.backends.length : 0;
  }

  pick(ctx: PickContext): Backend | null {
    const bs = this.backends;
    const n = bs.length;
    let best = -1;
    let bestActive = 0;
    let bestWeight = 0;
    let i = this.next;
    for (let k = 0; k < n; k++, i++) {
      if (i >= n) i = 0;
      const b = bs[i];
      const w = b.effectiveWeight;
      if (!(w > 0) || isSkipped(ctx, b)) continue;
      // Strictly less: an equal load keeps the earlier one in scan order.
      if (best < 0 || b.active * bestWeight < bestActive * w) {
        best = i;
        bestActive = b.active;
        bestWeight = w;
      }
    }
    if (best < 0) return null;
    this.next = best + 1 < n ? best + 1 : 0;
    return bs[best];
  }
}
