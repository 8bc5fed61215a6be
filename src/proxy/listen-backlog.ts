import fs from 'node:fs';

/**
 * The accept-queue length a TCP service's listener asks for. Node's default
 * (511) is too short for a burst: once 512 handshakes wait for accept(), Linux
 * drops further SYNs and the clients retransmit 1 s, 3 s, … later. A burst of
 * 9,900 connects (benchmarks' idle scenario) took ~10 s to be proxied that way;
 * HAProxy sizes its backlog from maxconn. So: the service's maxConnections (a
 * longer queue would only hold connections that are dropped at accept), capped
 * by the kernel's net.core.somaxconn (the kernel caps silently; asking for the
 * cap makes `ss -ltn`'s Send-Q say what was asked), never below Node's 511.
 */
export const NODE_DEFAULT_BACKLOG = 511;

/** Linux 5.4+'s default somaxconn, used where /proc/sys/net/core/somaxconn cannot be read (other kernels cap silently). */
export const FALLBACK_SOMAXCONN = 4096;

/** net.core.somaxconn from `file`; FALLBACK_SOMAXCONN when unreadable or not a positive integer. */
export function readSomaxconn(file: string): number {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // Not Linux, or /proc not mounted.
  }
  return FALLBACK_SOMAXCONN;
}

let kernelCap: number | null = null;

/** net.core.somaxconn, read once per process. */
export function somaxconn(): number {
  if (kernelCap === null) kernelCap = readSomaxconn('/proc/sys/net/core/somaxconn');
  return kernelCap;
}

export function listenBacklog(maxConnections: number, cap: number = somaxconn()): number {
  const wanted = Number.isFinite(maxConnections) && maxConnections > 0 ? Math.floor(maxConnections) : cap;
  return Math.max(NODE_DEFAULT_BACKLOG, Math.min(wanted, cap));
}
