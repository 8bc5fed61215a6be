import type { Backend } from '../pool/backend';
import { guarded } from '../timers';

/**
 * How a backend that passive checks marked down comes back when its service
 * has no active check (a UDP service without health.port or health.udpProbe):
 * after `holdMs` it is given traffic again, with its failure streak reset, so
 * `passiveFailures` new refusals are needed to mark it down once more. With
 * active checks this is not used: `rise` good checks bring a backend back.
 */
export class PassiveHold {
  private readonly timers = new Map<Backend, NodeJS.Timeout>();

  constructor(
    private holdMs: number,
    private readonly release: (backend: Backend) => void,
  ) {}

  setHold(ms: number): void {
    this.holdMs = ms;
  }

  hold(backend: Backend): void {
    this.cancel(backend);
    const timer = setTimeout(
      guarded('passive hold', () => {
        this.timers.delete(backend);
        backend.consecutiveFailures = 0;
        this.release(backend);
      }),
      this.holdMs,
    );
    timer.unref();
    this.timers.set(backend, timer);
  }

  cancel(backend: Backend): void {
    const t = this.timers.get(backend);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(backend);
  }

  /** No backend is held any more (active checks took over, or the service stops). */
  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
