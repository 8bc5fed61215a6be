import type { HostLoad } from './host-load';

/** The thresholds of `fulcrum agent` (README: "fulcrum agent"). */
export interface AgentPolicy {
  /** CPU busy % up to which the weight stays 100 %. */
  cpuTarget: number;
  /** The weight % at 100 % CPU: the weight falls linearly from 100 % at cpuTarget to this. */
  minWeight: number;
  /** Drain when available memory falls below this % of the total. */
  memFloor: number;
  /** Drain when the 1-minute load average per CPU exceeds this (0 = never). */
  loadMax: number;
}

export const DEFAULT_POLICY: AgentPolicy = { cpuTarget: 70, minWeight: 10, memFloor: 5, loadMax: 2 };

/** The weight % for a CPU busy %: 100 up to the target, then linearly down to minWeight at 100 %. */
export function weightFor(cpuPercent: number, policy: AgentPolicy): number {
  if (cpuPercent <= policy.cpuTarget || policy.cpuTarget >= 100) return 100;
  const over = (cpuPercent - policy.cpuTarget) / (100 - policy.cpuTarget);
  return Math.max(policy.minWeight, Math.round(100 - over * (100 - policy.minWeight)));
}

/**
 * The agent line for a reading, e.g. `up ready 82% #cpu 76% mem 41% load 0.62/2`,
 * or `up drain 100% #mem 3% < 5%`. Always `up`: the host answering is alive, and
 * whether the service on it works is the health check's business, not the agent's.
 */
export function agentLine(load: HostLoad, policy: AgentPolicy): string {
  // The weight comes from the CPU figure as shown, so a line is consistent with itself.
  const cpu = Math.round(load.cpuPercent);
  const weight = weightFor(cpu, policy);
  const figures = `cpu ${cpu}% mem ${Math.round(load.memAvailablePercent)}% load ${load.load1.toFixed(2)}/${load.cpus}`;
  const why: string[] = [];
  if (load.memAvailablePercent < policy.memFloor) why.push(`mem ${Math.round(load.memAvailablePercent)}% < ${policy.memFloor}%`);
  if (policy.loadMax > 0 && load.load1 / load.cpus > policy.loadMax) why.push(`load ${(load.load1 / load.cpus).toFixed(2)}/cpu > ${policy.loadMax}`);
  return why.length > 0 ? `up drain ${weight}% #${why.join(', ')}; ${figures}` : `up ready ${weight}% #${figures}`;
}
