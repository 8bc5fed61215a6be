import type { Backend } from '../pool/backend';
import { isSkipped, type Balancer, type PickContext } from './balancer';

/**
 * Smooth weighted round-robin (nginx's `ngx_http_upstream_get_peer`): on each
 * pick every candidate's current weight grows by its effective weight, the
 * largest wins and gives back the total. Over sum(w) picks each backend is
 * chosen exactly w times, and heavy backends are interleaved with light ones
 * instead of being picked in bursts.
 *
 * Weights are read at pick time (effectiveWeight), so a slow-start ramp takes
 * effect without a rebuild. Tried backends simply do not take part in the
 * round, as in nginx, which keeps the other backends' credits consistent.
 */
export class RoundRobinBalancer implements Balancer {
  private backends: readonly Backend[] = [];
  /** Current weights, one per backend; preallocated so pick does not allocate. */
  private current = new Float64Array(0);

  rebuild(backends: readonly Backend[]): void {
    this.backends = backends.slice();
    // A fresh schedule: carrying credits over a membership change would break
    // the invariant that the credits sum to zero after each pick.
    this.current = new Float64Array(this.backends.length);
  }

  pick(ctx: PickContext): Backend | null {
    const bs = this.backends;
    const cw = this.current;
    let total = 0;
    let best = -1;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i];
      const w = b.effectiveWeight;
      if (!(w > 0) || isSkipped(ctx, b)) continue;
      cw[i] += w;
      total += w;
      if (best < 0 || cw[i] > cw[best]) best = i;
    }
    if (best < 0) return null;
    cw[best] -= total;
    return bs[best];
  }
}
