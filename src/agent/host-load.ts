import fs from 'node:fs';
import path from 'node:path';

/** Cumulative CPU time of the whole host from /proc/stat (jiffies). */
export interface CpuTimes {
  busy: number;
  total: number;
}

/** One reading of the host's load, as `fulcrum agent` reports it. */
export interface HostLoad {
  /** Busy share of all CPUs since the previous reading, 0..100. */
  cpuPercent: number;
  /** MemAvailable / MemTotal, 0..100. */
  memAvailablePercent: number;
  /** 1-minute load average, and the CPUs it is measured against. */
  load1: number;
  cpus: number;
}

/**
 * The first line of /proc/stat: user nice system idle iowait irq softirq
 * steal (guest time is already inside user/nice). Idle is idle + iowait: a CPU
 * waiting on disk could run something else.
 */
export function parseCpuTimes(stat: string): { times: CpuTimes; cpus: number } {
  const first = /^cpu\s+(.*)$/m.exec(stat);
  if (first === null) throw new Error('/proc/stat has no "cpu" line');
  const f = first[1].trim().split(/\s+/).slice(0, 8).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) throw new Error('/proc/stat "cpu" line is not numbers');
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0);
  const cpus = stat.match(/^cpu\d+\s/gm)?.length ?? 1;
  return { times: { busy: total - idle, total }, cpus };
}

/** MemAvailable and MemTotal (kB) from /proc/meminfo, as a percentage. */
export function parseMemAvailable(meminfo: string): number {
  const total = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1]);
  const available = Number(/^MemAvailable:\s+(\d+)/m.exec(meminfo)?.[1]);
  if (!(total > 0) || !Number.isFinite(available)) throw new Error('/proc/meminfo has no MemTotal/MemAvailable');
  return (available / total) * 100;
}

export function parseLoad1(loadavg: string): number {
  const load1 = Number(loadavg.trim().split(/\s+/)[0]);
  if (!Number.isFinite(load1)) throw new Error('/proc/loadavg is not numbers');
  return load1;
}

/**
 * Reads the host's load from a proc directory (`/proc`; tests pass their own).
 * CPU use is the busy share between two readings, so `read()` compares with
 * the previous call: call it once per interval.
 */
export class HostLoadReader {
  private last: CpuTimes;

  constructor(private readonly procRoot = '/proc') {
    this.last = this.cpu().times;
  }

  read(): HostLoad {
    const { times, cpus } = this.cpu();
    const dt = times.total - this.last.total;
    const cpuPercent = dt > 0 ? Math.min(100, Math.max(0, ((times.busy - this.last.busy) / dt) * 100)) : 0;
    this.last = times;
    return {
      cpuPercent,
      memAvailablePercent: parseMemAvailable(this.file('meminfo')),
      load1: parseLoad1(this.file('loadavg')),
      cpus,
    };
  }

  private cpu() {
    return parseCpuTimes(this.file('stat'));
  }

  private file(name: string): string {
    return fs.readFileSync(path.join(this.procRoot, name), 'utf8');
  }
}
