import type { Backend } from '../pool/backend';
import { isSkipped, NO_LOCK, type Balancer, type PickContext, type PickLock } from './balancer';

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

  /**
   * The current weights are the backends' `rrCredit` (shared memory), so
   * worker threads turn through one schedule; `lock` makes each pick whole
   * (absent: one thread only).
   */
  constructor(private readonly lock: PickLock = NO_LOCK) {}

  rebuild(backends: readonly Backend[]): void {
    this.backends = backends.slice();
    // A fresh schedule: carrying credits over a membership change would break
    // the invariant that the credits sum to zero after each pick.
    this.lock.acquire();
    for (const b of this.backends) b.rrCredit = 0;
    this.lock.release();
  }

  pick(ctx: PickContext): Backend | null {
    const bs = this.backends;
    let total = 0;
    let best: Backend | null = null;
    this.lock.acquire();
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i];
      const w = b.effectiveWeight;
      if (!(w > 0) || isSkipped(ctx, b)) continue;
      const credit = b.rrCredit + w;
      b.rrCredit = credit;
      total += w;
      if (best === null || credit > best.rrCredit) best = b;
    }
    if (best !== null) best.rrCredit -= total;
    this.lock.release();
    return best;
  }
}
