import type { Backend } from '../pool/backend';
import { isSkipped, type Balancer, type PickContext } from './balancer';

/** Samples that may land on tried backends before pick falls back to a scan. */
const ATTEMPTS = 4;

/**
 * Power of two choices (Mitzenmacher): sample two distinct backends at random,
 * weighted by weight, and take the one with the lower active/weight. Nearly as
 * even as least-conn, but without a full scan and without every balancer
 * instance herding onto the same "least loaded" backend.
 *
 * The weighted sampling uses a prefix-sum array built in rebuild (binary
 * search per sample), or a plain uniform index when all weights are equal.
 * The second sample excludes the first by drawing from the remaining weight,
 * so it needs no retry loop. The sampling weights are the ones seen at
 * rebuild; the comparison uses the live effectiveWeight.
 */
export class RandomTwoBalancer implements Balancer {
  private backends: readonly Backend[] = [];
  /** cum[i] = sum of the weights of backends 0..i. */
  private cum = new Float64Array(0);
  private total = 0;
  private uniform = true;

  rebuild(backends: readonly Backend[]): void {
    const bs = backends.slice();
    const cum = new Float64Array(bs.length);
    let total = 0;
    let uniform = true;
    for (let i = 0; i < bs.length; i++) {
      const w = bs[i].effectiveWeight;
      total += w > 0 ? w : 0;
      cum[i] = total;
      if (w !== bs[0].effectiveWeight) uniform = false;
    }
    this.backends = bs;
    this.cum = cum;
    this.total = total;
    this.uniform = uniform;
  }

  /** Slow start moves effective weights: re-derive the sampling sums (cheap, no membership change). */
  weightsChanged(): void {
    this.rebuild(this.backends);
  }

  pick(ctx: PickContext): Backend | null {
    const bs = this.backends;
    const n = bs.length;
    if (n === 0 || !(this.total > 0)) return null;
    if (n === 1) return this.eligible(bs[0], ctx) ? bs[0] : null;

    let a = -1;
    for (let k = 0; k < ATTEMPTS && a < 0; k++) {
      const i = this.sample(-1);
      if (this.eligible(bs[i], ctx)) a = i;
    }
    // Most backends tried or drained to weight 0: scan instead of sampling on.
    if (a < 0) return this.scan(ctx, -1);

    let c = -1;
    for (let k = 0; k < ATTEMPTS && c < 0; k++) {
      const i = this.sample(a);
      if (i !== a && this.eligible(bs[i], ctx)) c = i;
    }
    const x = bs[a];
    const y = c >= 0 ? bs[c] : this.scan(ctx, a);
    if (y === null) return x;
    // x.active / wx <= y.active / wy, by cross-multiplication.
    return x.active * y.effectiveWeight <= y.active * x.effectiveWeight ? x : y;
  }

  private eligible(b: Backend, ctx: PickContext): boolean {
    return b.effectiveWeight > 0 && !isSkipped(ctx, b);
  }

  /** A random index weighted by the rebuild weights; never `exclude` (if >= 0). */
  private sample(exclude: number): number {
    const n = this.backends.length;
    if (this.uniform) {
      if (exclude < 0) return (Math.random() * n) | 0;
      const i = (Math.random() * (n - 1)) | 0;
      return i >= exclude ? i + 1 : i;
    }
    const cum = this.cum;
    let r: number;
    if (exclude < 0) {
      r = Math.random() * this.total;
    } else {
      // Draw from the total minus the excluded backend's span, then skip the span.
      const lo = exclude > 0 ? cum[exclude - 1] : 0;
      const span = cum[exclude] - lo;
      if (!(this.total - span > 0)) return exclude;
      r = Math.random() * (this.total - span);
      if (r >= lo) r += span;
    }
    // Smallest i with cum[i] > r: zero-weight entries have an empty span.
    let left = 0;
    let right = n - 1;
    while (left < right) {
      const mid = (left + right) >>> 1;
      if (cum[mid] > r) right = mid;
      else left = mid + 1;
    }
    return left;
  }

  /** Fallback: least active/weight among eligible backends other than `exclude`. */
  private scan(ctx: PickContext, exclude: number): Backend | null {
    const bs = this.backends;
    let best: Backend | null = null;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i];
      if (i === exclude || !this.eligible(b, ctx)) continue;
      if (best === null || b.active * best.effectiveWeight < best.active * b.effectiveWeight) best = b;
    }
    return best;
  }
}
