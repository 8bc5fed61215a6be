/**
 * fulcrum's public API: start(config) → handle. The CLI is a thin layer over it.
 */
import type { Endpoint, FulcrumConfig } from './config/types';
import { Manager, type StartOptions, type StopResult } from './manager/manager';
import type { ReloadReport } from './manager/status';

export interface FulcrumHandle {
  readonly manager: Manager;
  /** Bound address of the admin API, null when it is off. */
  readonly admin: Endpoint | null;
  /** Bound address of each listening service by name (port resolved when the config said 0; a standby in a pair has none). */
  readonly addresses: ReadonlyMap<string, Endpoint>;
  /** Stop accepting, let live sessions finish up to deadlineMs (default config.shutdownTimeout), close the rest. */
  stop(deadlineMs?: number): Promise<StopResult>;
  /** Re-read the config file (as SIGHUP and POST /reload do) and apply the difference. */
  reload(): Promise<ReloadReport>;
}

export async function start(config: FulcrumConfig, options: Pick<StartOptions, 'configFile' | 'threads'> = {}): Promise<FulcrumHandle> {
  const manager = await Manager.start(config, options);
  return {
    manager,
    admin: manager.adminAddress,
    get addresses() {
      const addresses = new Map<string, Endpoint>();
      for (const s of manager.services) if (s.address !== null) addresses.set(s.name, s.address);
      for (const d of manager.dns.list) if (d.address !== null) addresses.set(d.name, d.address);
      return addresses;
    },
    stop: (deadlineMs) => manager.stop(deadlineMs),
    reload: () => manager.reload(),
  };
}

export { ERROR_CODES, FulcrumError } from './errors';
export { loadConfigFile, parseConfigText, validateConfig } from './config';
export type * from './config/types';
export type * from './manager/status';
