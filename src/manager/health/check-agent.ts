import type { AgentConfig } from '../../config/types';
import { HealthFlag, type Backend } from '../../pool/backend';
import { agentProbe, type AgentReport } from './agent';
import { HealthChecker } from './checker';
import type { Clock } from './clock';
import type { ProbeResult } from './tcp-probe';

/** The agent's last word on one backend, for status. */
export interface AgentInfo {
  /** The last line understood (`agent ready 75%`), or why there was none (`timeout`, `ECONNREFUSED`, `agent garbage: ...`). */
  result: string | null;
  ok: boolean | null;
  lastCheckAt: number | null;
}

export interface AgentEffects {
  /** Set / clear health reasons (BackendStates.update). */
  update(backend: Backend, set: number, clear: number): void;
  /** A backend's agent weight changed: balancers refresh what they precomputed. */
  weightsChanged(): void;
}

const ADMIN_FLAGS = HealthFlag.AgentDrain | HealthFlag.AgentMaint;

/**
 * The agent check beside the health check: every `interval` it reads one line
 * from each backend's agent (HAProxy's agent-check protocol) and applies it.
 * Scheduling, jitter and the one-in-flight rule are the health checker's
 * (with rise = fall = 1 and no verdict of its own). An agent that is
 * unreachable, silent or talks garbage changes nothing: the backend keeps
 * what the agent said last.
 */
export class CheckAgent {
  private readonly checker: HealthChecker;

  constructor(
    config: AgentConfig,
    clock: Clock,
    private readonly effects: AgentEffects,
  ) {
    this.checker = new HealthChecker({
      interval: config.interval,
      timeout: config.timeout,
      rise: 1,
      fall: 1,
      clock,
      probe: (b) => agentProbe(b.address, config.port, config.timeout),
      onChange: () => {},
      onResult: (b, r) => this.apply(b, r),
    });
  }

  add(backend: Backend): void {
    this.checker.add(backend);
  }

  /** Stop asking; what the agent said is undone (a backend without an agent is judged by its checks alone). */
  remove(backend: Backend): void {
    this.checker.remove(backend);
    this.reset(backend);
  }

  /** Stop every check; with `reset`, also undo what the agents said (a reload removed `agent:`). */
  stop(reset = false): void {
    for (const b of this.checker.backends()) {
      if (reset) this.remove(b);
      else this.checker.remove(b);
    }
  }

  info(backend: Backend): AgentInfo | null {
    const i = this.checker.info(backend);
    if (i === undefined) return null;
    const text = i.lastText;
    return { result: text === null || text.startsWith('agent') ? text : `agent ${text}`, ok: i.lastOk, lastCheckAt: i.lastCheckAt };
  }

  private apply(b: Backend, result: ProbeResult): void {
    const report = result.ok ? (result as { report?: AgentReport }).report : undefined;
    if (report === undefined) return;
    applyReport(b, report, this.effects);
  }

  private reset(b: Backend): void {
    this.effects.update(b, 0, ADMIN_FLAGS | HealthFlag.AgentDown);
    if (b.agentScale !== 1) {
      b.agentScale = 1;
      this.effects.weightsChanged();
    }
  }
}

/**
 * One understood line → the backend. The latest weight word wins (`75%` scales
 * the configured weight, `weight:N` replaces it: as a scale of the configured
 * weight, so effectiveWeight stays a plain product on the pick path; an
 * operator's weight 0 stays 0); `drain`, `maint` and `down` hold until the
 * agent says `ready` / `up`; `maxconn:N` caps sessions.
 */
export function applyReport(b: Backend, report: AgentReport, effects: AgentEffects): void {
  let set = 0;
  let clear = 0;
  if (report.admin === 'ready') clear |= ADMIN_FLAGS;
  else if (report.admin === 'drain') [set, clear] = [HealthFlag.AgentDrain, HealthFlag.AgentMaint];
  else if (report.admin === 'maint') [set, clear] = [HealthFlag.AgentMaint, HealthFlag.AgentDrain];
  if (report.operational === 'up') clear |= HealthFlag.AgentDown;
  else if (report.operational === 'down') set |= HealthFlag.AgentDown;
  if (set !== 0 || clear !== 0) effects.update(b, set, clear);
  if (report.maxconn !== undefined) b.maxConnections = report.maxconn;
  const scale = report.weight !== undefined ? (b.weight > 0 ? report.weight / b.weight : 1) : report.percent !== undefined ? report.percent / 100 : b.agentScale;
  if (scale !== b.agentScale) {
    b.agentScale = scale;
    effects.weightsChanged();
  }
}
