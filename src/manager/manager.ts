import type { FulcrumConfig } from '../config/types';
import { rootLogger, setLogLevel, type Logger } from '../log';
import { Service } from './service';

export interface StopResult {
  /** Sessions still open at the deadline and closed by force. */
  aborted: number;
}

/**
 * Owns the running services: starts every listener (all or none), and stops
 * them gracefully: stop accepting, let live sessions finish until the
 * deadline, then close what is left.
 */
export class Manager {
  readonly services: Service[] = [];
  private stopping: Promise<StopResult> | null = null;

  private constructor(
    readonly config: FulcrumConfig,
    readonly log: Logger,
  ) {}

  static async start(config: FulcrumConfig, log: Logger = rootLogger): Promise<Manager> {
    setLogLevel(config.log.level);
    const manager = new Manager(config, log);
    for (const sc of config.services) {
      manager.services.push(new Service(sc, { logConnections: config.log.connections, log }));
    }
    try {
      for (const service of manager.services) {
        const bound = await service.listen();
        log.info({ service: service.name, listen: bound.text, balance: service.config.balance, backends: service.config.backends.length }, 'service listening');
      }
    } catch (err) {
      for (const s of manager.services) s.proxy.stopAccepting();
      throw err;
    }
    return manager;
  }

  service(name: string): Service | undefined {
    return this.services.find((s) => s.name === name);
  }

  stop(deadlineMs: number = this.config.shutdownTimeout): Promise<StopResult> {
    this.stopping ??= this.drainAndStop(deadlineMs);
    return this.stopping;
  }

  private async drainAndStop(deadlineMs: number): Promise<StopResult> {
    const live = () => this.services.reduce((n, s) => n + s.proxy.sessions.size, 0);
    this.log.info({ sessions: live(), deadlineMs }, 'stopping: no new connections, draining live sessions');
    for (const s of this.services) s.proxy.stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(resolve, deadlineMs, 'deadline');
    });
    const drained = Promise.all(this.services.map((s) => s.proxy.whenIdle())).then(() => 'drained' as const);
    const outcome = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    let aborted = 0;
    if (outcome === 'deadline') {
      aborted = live();
      for (const s of this.services) s.proxy.abortAll();
      await drained;
    }
    this.log.info({ aborted }, 'stopped');
    return { aborted };
  }
}
