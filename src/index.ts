/**
 * fulcrum's public API: start(config) → handle. The CLI is a thin layer over it.
 */
import type { Endpoint, FulcrumConfig } from './config/types';
import { Manager, type StopResult } from './manager/manager';

export interface FulcrumHandle {
  readonly manager: Manager;
  /** Bound address of each service by name (port resolved when the config said 0). */
  readonly addresses: ReadonlyMap<string, Endpoint>;
  /** Stop accepting, let live sessions finish up to deadlineMs (default config.shutdownTimeout), close the rest. */
  stop(deadlineMs?: number): Promise<StopResult>;
}

export async function start(config: FulcrumConfig): Promise<FulcrumHandle> {
  const manager = await Manager.start(config);
  const addresses = new Map<string, Endpoint>();
  for (const s of manager.services) addresses.set(s.name, s.address!);
  return { manager, addresses, stop: (deadlineMs) => manager.stop(deadlineMs) };
}

export { ERROR_CODES, FulcrumError } from './errors';
export { loadConfigFile, parseConfigText, validateConfig } from './config';
export type * from './config/types';
