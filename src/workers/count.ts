import os from 'node:os';
import { reusePortSupported } from '../proxy/reuse-port';

/** The config's `workers`: auto or a count. */
export type WorkersSetting = 'auto' | number;

/** Most worker threads a config may ask for. */
export const MAX_WORKERS = 256;

/**
 * Why a `workers` value cannot run on this Node, or null. Above 1, every
 * worker binds its own listener with SO_REUSEPORT, which `net` and `dgram`
 * have from Node 22.12 / 23.1 (older ones ignore the option, so the second
 * bind would fail with EADDRINUSE).
 */
export function workersProblem(setting: WorkersSetting, version: string = process.versions.node): string | null {
  if (setting === 'auto' || setting <= 1 || reusePortSupported(version)) return null;
  return `must be 1 or auto on Node ${version}: ${setting} workers need SO_REUSEPORT listeners (reusePort), which Node 22.12+ (23.1+) has; Node 24 LTS is recommended`;
}

/** How many data-plane workers to run: auto is one per available core (respects CPU affinity), and 1 without reusePort. */
export function resolveWorkers(setting: WorkersSetting | undefined, version: string = process.versions.node): number {
  if (setting === undefined) return 1;
  if (setting !== 'auto') return setting;
  if (!reusePortSupported(version)) return 1;
  return Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism()));
}
