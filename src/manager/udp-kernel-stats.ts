import fs from 'node:fs';

/** UDP datagrams the kernel dropped for lack of socket buffer (Linux /proc; whole network namespace). */
export interface UdpKernelStats {
  /** Udp RcvbufErrors + Udp6RcvbufErrors: a receive buffer was full (the reader fell behind). */
  rcvbufErrors: number;
  /** Udp SndbufErrors + Udp6SndbufErrors. */
  sndbufErrors: number;
}

/**
 * Reads the kernel's UDP buffer-drop counters. They count every UDP socket of
 * the network namespace, not only fulcrum's, and are the only trace of a
 * datagram dropped before fulcrum could read it. null where /proc is absent
 * (not Linux) or unreadable.
 */
export function readUdpKernelStats(snmpPath = '/proc/net/snmp', snmp6Path = '/proc/net/snmp6'): UdpKernelStats | null {
  let v4: Map<string, number>;
  try {
    v4 = parseSnmp(fs.readFileSync(snmpPath, 'utf8'), 'Udp');
  } catch {
    return null;
  }
  let v6 = new Map<string, number>();
  try {
    v6 = parseSnmp6(fs.readFileSync(snmp6Path, 'utf8'), 'Udp6');
  } catch {
    // No IPv6 in this kernel: the IPv4 counters alone.
  }
  const both = (name: string) => (v4.get(name) ?? 0) + (v6.get(name) ?? 0);
  return { rcvbufErrors: both('RcvbufErrors'), sndbufErrors: both('SndbufErrors') };
}

/** /proc/net/snmp: per protocol, a line of names then a line of values, both starting with "Proto:". */
export function parseSnmp(text: string, proto: string): Map<string, number> {
  const lines = text.split('\n').filter((l) => l.startsWith(`${proto}: `));
  const out = new Map<string, number>();
  if (lines.length < 2) return out;
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1);
  names.forEach((name, i) => {
    const n = Number(values[i]);
    if (name !== '' && Number.isFinite(n)) out.set(name, n);
  });
  return out;
}

/** /proc/net/snmp6: "Udp6RcvbufErrors   12" per line; returned without the prefix. */
export function parseSnmp6(text: string, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === undefined || !name.startsWith(prefix)) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(name.slice(prefix.length), n);
  }
  return out;
}
