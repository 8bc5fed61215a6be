import type { Backend } from '../pool/backend';

/** What a balancer may look at to choose; the proxy reuses one per session. */
export interface PickContext {
  /** 32-bit hash of the client IP (see hashSource), computed once per session. */
  sourceHash: number;
  /** Backends already tried for this session (connect failed); pick skips them. */
  tried: readonly Backend[];
  /**
   * Take backends whose shared health says not usable. Set for a second pick
   * when the first found none: the control plane writes health to shared
   * memory at once and the worker's new usable set follows by message, so
   * for a moment the set this balancer was built from can be all unusable
   * (a reload that replaced every backend): the old view beats a refusal.
   */
  staleOk?: boolean;
}

/**
 * Every algorithm: `rebuild` when the pool's usable set changes (may allocate),
 * `pick` per session (must not allocate or sort). `null` means no backend: a
 * value, not an exception; the proxy turns it into a counted rejection.
 */
export interface Balancer {
  rebuild(backends: readonly Backend[]): void;
  pick(ctx: PickContext): Backend | null;
  /** Effective weights changed (slow-start step, same members): refresh anything precomputed from them. */
  weightsChanged?(): void;
}

export const NO_TRIED: readonly Backend[] = [];

/** Makes a pick whole when several threads share a balancer's state (round-robin's credits). */
export interface PickLock {
  acquire(): void;
  release(): void;
}

export const NO_LOCK: PickLock = { acquire() {}, release() {} };

export function wasTried(ctx: PickContext, b: Backend): boolean {
  const tried = ctx.tried;
  for (let i = 0; i < tried.length; i++) if (tried[i] === b) return true;
  return false;
}

/**
 * Not a candidate for this session: not usable (read from shared memory: a
 * worker may pick before the rebuild the control plane sent it arrives), at
 * its own maxConnections (a full backend is skipped), or already tried.
 */
export function isSkipped(ctx: PickContext, b: Backend): boolean {
  return (b.health !== 0 && ctx.staleOk !== true) || (b.maxConnections > 0 && b.active >= b.maxConnections) || wasTried(ctx, b);
}

/**
 * A retry's fallback when the balancer has no primary left to try (all tried
 * or full) while the health verdicts still list them: a usable backup, the
 * least loaded per unit of weight. Only on that failure path, so a plain scan.
 */
export function pickSpareBackup(backends: readonly Backend[], ctx: PickContext): Backend | null {
  let best: Backend | null = null;
  let bestLoad = Infinity;
  for (const b of backends) {
    if (!b.backup || !b.usable || isSkipped(ctx, b)) continue;
    const w = b.effectiveWeight;
    if (w <= 0) continue;
    const load = b.active / w;
    if (load < bestLoad) {
      best = b;
      bestLoad = load;
    }
  }
  return best;
}
