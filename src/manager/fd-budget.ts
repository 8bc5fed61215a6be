import fs from 'node:fs';
import type { FulcrumConfig } from '../config/types';

/** The soft RLIMIT_NOFILE of this process (Linux /proc), or null when it cannot be read. */
export function openFilesLimit(): number | null {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

/**
 * Descriptors the configured caps could need at once: two per TCP session
 * (client and backend) and one per UDP session, plus a margin for listeners,
 * health checks and the admin API. Returns a warning when that exceeds the
 * limit: past it, accept() and connect() fail with EMFILE under load.
 */
export function fdBudgetWarning(config: FulcrumConfig, limit: number | null): string | null {
  if (limit === null) return null;
  let need = 64;
  for (const s of config.services) {
    need += s.protocol === 'udp' ? s.udp.maxSessions + 1 : 2 * s.maxConnections + 1;
    need += s.backends.length; // one health check in flight per backend
  }
  if (need <= limit) return null;
  return `the configured caps (maxConnections, udp.maxSessions) could need ${need} file descriptors but the open-files limit is ${limit}: raise it (ulimit -n, LimitNOFILE=) or lower the caps`;
}
