import type { ServiceConfig } from '../config/types';
import type { Service } from './service';
import type { ReloadReport } from './status';

export interface ReloadPlan {
  /** Services to create and listen (new names, or a changed listen address/protocol). */
  start: ServiceConfig[];
  /** Services updated in place: same name, same listen address and protocol, so the listening socket stays. */
  update: Array<{ service: Service; config: ServiceConfig }>;
  /** Services that stop accepting and drain (removed, or replaced by a new listener). */
  retire: Service[];
  report: ReloadReport;
}

/** The difference between the running services and a new config, by service name. */
export function diffServices(running: readonly Service[], next: readonly ServiceConfig[]): ReloadPlan {
  const plan: ReloadPlan = { start: [], update: [], retire: [], report: { servicesAdded: [], servicesRemoved: [], servicesChanged: [] } };
  const byName = new Map(running.map((s) => [s.name, s]));
  for (const sc of next) {
    const current = byName.get(sc.name);
    byName.delete(sc.name);
    if (current === undefined) {
      plan.start.push(sc);
      plan.report.servicesAdded.push(sc.name);
    } else if (current.config.listen.text !== sc.listen.text || current.config.protocol !== sc.protocol) {
      plan.start.push(sc);
      plan.retire.push(current);
      plan.report.servicesChanged.push(sc.name);
    } else {
      plan.update.push({ service: current, config: sc });
      if (JSON.stringify(current.config) !== JSON.stringify(sc)) plan.report.servicesChanged.push(sc.name);
    }
  }
  for (const s of byName.values()) {
    plan.retire.push(s);
    plan.report.servicesRemoved.push(s.name);
  }
  return plan;
}
