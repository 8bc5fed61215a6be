import { EventEmitter } from 'node:events';
import { Backend, HealthFlag } from './backend';
import type { BackendConfig } from '../config/types';

/**
 * The backends of one service and the snapshot of those that may take new
 * sessions. `usable` holds the healthy primaries, or, when none is healthy,
 * the healthy backups. 'change' is emitted only when that snapshot changes, so
 * balancers rebuild rarely and then only pick.
 */
export class Pool extends EventEmitter {
  readonly backends: Backend[];
  private snapshot: readonly Backend[] = [];

  constructor(configs: readonly BackendConfig[]) {
    super();
    this.backends = configs.map((c) => new Backend(c));
    this.snapshot = this.computeUsable();
  }

  get usable(): readonly Backend[] {
    return this.snapshot;
  }

  find(name: string): Backend | undefined {
    return this.backends.find((b) => b.name === name || b.address.text === name);
  }

  setFlag(backend: Backend, flag: HealthFlag, on: boolean): void {
    const before = backend.health;
    backend.health = on ? before | flag : before & ~flag;
    if ((before === 0) !== (backend.health === 0)) this.refresh();
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
