import { EventEmitter } from 'node:events';
import { Backend, HealthFlag } from './backend';
import type { BackendConfig } from '../config/types';
import { BackendSlot } from './backend-slot';

/**
 * The backends of one service and the snapshot of those that may take new
 * sessions. `usable` holds the healthy primaries, or, when none is healthy,
 * the healthy backups. 'change' is emitted only when that snapshot changes, so
 * balancers rebuild rarely and then only pick.
 */
export class Pool extends EventEmitter {
  readonly backends: Backend[];
  private snapshot: readonly Backend[] = [];
  /** While held, health flips only mark the snapshot stale (see hold()). */
  private holds = 0;
  private stale = false;

  /** `slot`: where each backend's shared numbers go (default: a slot of its own). */
  constructor(configs: readonly BackendConfig[], slot: () => BackendSlot = BackendSlot.standalone) {
    super();
    this.backends = configs.map((c) => new Backend(c, slot()));
    this.snapshot = this.computeUsable();
  }

  get usable(): readonly Backend[] {
    return this.snapshot;
  }

  /** By name or address; a live backend wins over one a reload removed that is still draining under the same name. */
  find(name: string): Backend | undefined {
    const matches = (b: Backend) => b.name === name || b.address.text === name;
    return this.backends.find((b) => matches(b) && !(b.health & HealthFlag.Removed)) ?? this.backends.find(matches);
  }

  /** Add a backend (reload); it takes traffic once no health reason is set. */
  add(backend: Backend): void {
    this.backends.push(backend);
    this.refresh();
  }

  /** Forget a backend for good (after a reload removed it and it drained). */
  delete(backend: Backend): void {
    const i = this.backends.indexOf(backend);
    if (i >= 0) this.backends.splice(i, 1);
    this.refresh();
  }

  setFlag(backend: Backend, flag: HealthFlag, on: boolean): void {
    this.setHealth(backend, on ? backend.health | flag : backend.health & ~flag);
  }

  /** Replace a backend's set of reasons; the snapshot is recomputed only when usable flips. */
  setHealth(backend: Backend, health: number): void {
    const before = backend.health;
    backend.health = health;
    if ((before === 0) === (health === 0)) return;
    if (this.holds > 0) this.stale = true;
    else this.refresh();
  }

  /**
   * Defer snapshot recomputation until the returned release is called: one
   * refresh instead of one per flip. A refresh is O(backends) (and so is the
   * balancer rebuild it triggers), so N verdicts arriving one by one would
   * cost O(N²): 16k backends took seconds at startup. Only for a pool no
   * client is being served from (before its listener opens).
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0 && this.stale) {
        this.stale = false;
        this.refresh();
      }
    };
  }

  /** Recompute the usable snapshot (after health or weight changes); emits 'change' if it differs. */
  refresh(force = false): void {
    const next = this.computeUsable();
    const same = next.length === this.snapshot.length && next.every((b, i) => b === this.snapshot[i]);
    this.snapshot = next;
    if (!same || force) this.emit('change', next);
  }

  private computeUsable(): readonly Backend[] {
    const primaries = this.backends.filter((b) => !b.backup && b.usable);
    return primaries.length > 0 ? primaries : this.backends.filter((b) => b.backup && b.usable);
  }
}
