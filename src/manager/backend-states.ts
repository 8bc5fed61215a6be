import type { OnBackendDown } from '../config/types';
import type { Logger } from '../log';
import { HealthFlag, type Backend } from '../pool/backend';
import type { Pool } from '../pool/pool';
import type { DataPlane } from '../proxy/data-plane';
import type { BackendAction } from './status';
import type { SlowStart } from './slow-start';
import { guarded } from '../timers';

const HEALTH_REASONS = HealthFlag.FailedActiveCheck | HealthFlag.FailedPassiveCheck | HealthFlag.AgentDown | HealthFlag.Damped;

/**
 * Every change of a backend's health reasons goes through here, so the side
 * effects of a verdict happen in one place: slow start on recovery, closing
 * sessions on down (onBackendDown: close) or disable, and drain deadlines.
 */
export class BackendStates {
  private readonly drainTimers = new Map<Backend, NodeJS.Timeout>();
  onBackendDown: OnBackendDown;
  drainTimeout: number;

  constructor(
    private readonly pool: Pool,
    private readonly proxy: DataPlane,
    private readonly slowStart: SlowStart,
    private readonly log: Logger,
    options: { onBackendDown: OnBackendDown; drainTimeout: number },
    /** Extra reaction when health checks mark a backend down (UDP: move or drop its sessions). */
    private readonly onUnhealthy: (backend: Backend) => void = () => {},
  ) {
    this.onBackendDown = options.onBackendDown;
    this.drainTimeout = options.drainTimeout;
  }

  /**
   * Set or clear reasons. `ramp`: a recovery (not the first verdict at start)
   * ramps the backend in under slow start.
   */
  update(backend: Backend, set: number, clear: number, ramp = true): void {
    const wasUsable = backend.usable;
    const before = backend.health;
    const after = (before | set) & ~clear;
    if (after === before) return;
    this.pool.setHealth(backend, after);
    if (!wasUsable && backend.usable) {
      this.log.info({ backend: backend.name }, 'backend usable');
      if (ramp) this.slowStart.begin(backend);
    } else if (wasUsable && !backend.usable) {
      this.slowStart.cancel(backend);
      this.log.warn({ backend: backend.name, reasons: reasonNames(backend.health) }, 'backend not usable');
    }
    const newlyUnhealthy = (after & HEALTH_REASONS) !== 0 && (before & HEALTH_REASONS) === 0;
    if (newlyUnhealthy) this.onUnhealthy(backend);
    if (newlyUnhealthy && this.onBackendDown === 'close') {
      const n = this.proxy.closeBackendSessions(backend, 'backend_down');
      if (n > 0) this.log.warn({ backend: backend.name, sessions: n }, 'closed sessions of a backend marked down');
    }
  }

  /** Operator actions from the admin API. */
  act(backend: Backend, action: BackendAction): void {
    switch (action) {
      case 'drain':
        this.update(backend, HealthFlag.Draining, HealthFlag.DisabledByOperator);
        this.armDrainDeadline(backend);
        break;
      case 'disable':
        this.cancelDrain(backend);
        this.update(backend, HealthFlag.DisabledByOperator, HealthFlag.Draining);
        this.proxy.closeBackendSessions(backend, 'backend_disabled');
        break;
      case 'enable':
        this.cancelDrain(backend);
        this.update(backend, 0, HealthFlag.Draining | HealthFlag.DisabledByOperator);
        break;
    }
  }

  /** A reload removed it: no new sessions; live ones finish until drainTimeout, then it is forgotten. */
  retire(backend: Backend, forget: () => void): void {
    this.update(backend, HealthFlag.Removed, 0);
    this.armDrainDeadline(backend, forget);
  }

  /** A reload brought a retiring backend back. */
  unretire(backend: Backend): void {
    this.cancelDrain(backend);
    this.update(backend, 0, HealthFlag.Removed | HealthFlag.Draining);
  }

  stop(): void {
    for (const t of this.drainTimers.values()) clearTimeout(t);
    this.drainTimers.clear();
  }

  private armDrainDeadline(backend: Backend, then?: () => void): void {
    this.cancelDrain(backend);
    const timer = setTimeout(guarded('drain deadline', () => {
      this.drainTimers.delete(backend);
      const n = this.proxy.closeBackendSessions(backend, 'drain_timeout');
      if (n > 0) this.log.warn({ backend: backend.name, sessions: n }, 'drain deadline: closed remaining sessions');
      then?.();
    }), this.drainTimeout);
    timer.unref();
    this.drainTimers.set(backend, timer);
  }

  private cancelDrain(backend: Backend): void {
    const t = this.drainTimers.get(backend);
    if (t !== undefined) clearTimeout(t);
    this.drainTimers.delete(backend);
  }
}

const REASON_NAMES: Array<[HealthFlag, string]> = [
  [HealthFlag.FailedActiveCheck, 'failed_active_check'],
  [HealthFlag.FailedPassiveCheck, 'failed_passive_check'],
  [HealthFlag.Draining, 'draining'],
  [HealthFlag.DisabledByOperator, 'disabled'],
  [HealthFlag.Removed, 'removed'],
  [HealthFlag.AgentDrain, 'agent_drain'],
  [HealthFlag.AgentMaint, 'agent_maint'],
  [HealthFlag.AgentDown, 'agent_down'],
  [HealthFlag.Damped, 'damped'],
];

export function reasonNames(health: number): string[] {
  return REASON_NAMES.filter(([flag]) => (health & flag) !== 0).map(([, name]) => name);
}
