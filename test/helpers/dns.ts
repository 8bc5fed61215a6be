/** Helpers for dns service tests: real dig, in-process queries with dns-packet, member listeners on 127.x. */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import * as packet from 'dns-packet';

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  /** The CLIENT-SUBNET line of the OPT pseudosection, if any ("10.1.2.0/24/16"). */
  subnet: string | null;
  raw: string;
}

/** Runs dig against 127.0.0.1:port; args like ['www.example.com', 'A', '+tcp']. */
export function dig(port: number, args: string[]): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile('dig', ['@127.0.0.1', '-p', String(port), '+norec', '+time=5', '+tries=1', ...args], { timeout: 15_000 }, (err, stdout) => {
      if (err && stdout === '') return reject(err);
      resolve(parseDig(stdout));
    });
  });
}

function parseDig(raw: string): DigResult {
  const status = /status: (\w+)/.exec(raw)?.[1] ?? 'none';
  const flags = (/;; flags: ([^;]*);/.exec(raw)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const section = (name: string) => {
    const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(raw);
    return m === null ? [] : m[1]!.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(/\s+/).join(' '));
  };
  const subnet = /CLIENT-SUBNET: (\S+)/.exec(raw)?.[1] ?? null;
  return { status, flags, answer: section('ANSWER'), authority: section('AUTHORITY'), additional: section('ADDITIONAL'), subnet, raw };
}

/** The response code of a reply ("NOERROR", "FORMERR", …): dns-packet decodes it, its types omit it. */
export const rcode = (reply: Buffer | null): string => (packet.decode(reply!) as packet.DecodedPacket & { rcode: string }).rcode;

/** The addresses of the A/AAAA records in a dig answer section. */
export const addresses = (r: DigResult) => r.answer.filter((l) => / (A|AAAA) /.test(l)).map((l) => l.split(' ').pop()!);

/** One UDP client socket for many in-process queries. Replies are matched by ID. */
export class DnsClient {
  private readonly socket = dgram.createSocket('udp4');
  private readonly waiting = new Map<number, (msg: Buffer) => void>();
  private nextId = 1;

  constructor(private readonly port: number) {
    this.socket.on('message', (msg) => {
      if (msg.length < 2) return;
      const id = msg.readUInt16BE(0);
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.(msg);
    });
  }

  /** Sends raw bytes; resolves with the reply or null after `timeoutMs`. */
  sendRaw(bytes: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const id = bytes.length >= 2 ? bytes.readUInt16BE(0) : -1;
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      this.socket.send(bytes, this.port, '127.0.0.1');
    });
  }

  async query(name: string, type: packet.RecordType = 'A', extra: Partial<packet.Packet> = {}): Promise<packet.DecodedPacket> {
    const id = (this.nextId = (this.nextId % 65535) + 1);
    const bytes = packet.encode({ id, type: 'query', flags: 0, questions: [{ name, type, class: 'IN' }], ...extra });
    const reply = await this.sendRaw(bytes, 5000);
    if (reply === null) throw new Error(`no reply to ${name} ${type}`);
    return packet.decode(reply);
  }

  close(): void {
    this.socket.close();
  }
}

/** A member: a TCP listener on a 127.x address (the health check connects to it). */
export class Member {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** Connections accepted (health checks). */
  accepted = 0;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  start(): Promise<void> {
    const server = net.createServer((s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.sockets.delete(s));
      s.end();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  }
}

/** A TCP port free on 127.0.0.1 now (members on other 127.x addresses use it too). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Polls `check` until it returns true or the deadline passes (generous, for a loaded machine). */
export async function until(check: () => Promise<boolean> | boolean, deadlineMs = 15_000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}
