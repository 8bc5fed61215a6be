import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { promises as dns } from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A real dnsmasq serving the zone fulcrum.test from files a test edits:
 * A/AAAA from a hosts file (reread on SIGHUP), SRV from its config file
 * (srv-host lines: dnsmasq reads those only at start, so setSrv restarts it
 * on the same port). Names under fulcrum.test that are not listed are NXDOMAIN.
 */
export class Dnsmasq {
  private child: ChildProcess | null = null;
  private stderr = '';

  private constructor(
    readonly dir: string,
    public port: number,
  ) {}

  get hostsFile(): string {
    return path.join(this.dir, 'hosts');
  }

  static async start(hosts: string, srv: string[] = []): Promise<Dnsmasq> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-dnsmasq-'));
    const d = new Dnsmasq(dir, 0);
    d.writeFiles(hosts, srv);
    // dnsmasq takes the port for UDP and TCP and cannot report an ephemeral one: pick a free
    // UDP port and retry with another when it exits at once (the TCP side was taken).
    for (let attempt = 0; attempt < 5; attempt++) {
      d.port = await freeUdpPort();
      if (await d.spawn()) return d;
    }
    throw new Error(`dnsmasq did not start: ${d.stderr}`);
  }

  private generation = 0;

  /** Replace the A/AAAA records ("127.0.0.2 db.fulcrum.test" lines), signal dnsmasq, and wait until it serves them. */
  async setHosts(hosts: string): Promise<void> {
    const marker = `gen-${++this.generation}.fulcrum.test`;
    fs.writeFileSync(this.hostsFile, `127.0.0.1 ready.fulcrum.test\n127.0.0.1 ${marker}\n${hosts}`);
    this.child?.kill('SIGHUP');
    const resolver = new dns.Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${this.port}`]);
    for (let i = 0; i < 100; i++) {
      if (await resolver.resolve4(marker).then(() => true, () => false)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('dnsmasq did not reread its hosts file');
  }

  /** Replace the SRV records ("_pg._tcp.fulcrum.test,target,port,priority,weight"): a restart on the same port. */
  async setSrv(srv: string[]): Promise<void> {
    this.writeFiles(fs.readFileSync(this.hostsFile, 'utf8').replace(/^127\.0\.0\.1 ready\.fulcrum\.test\n/, ''), srv);
    await this.kill();
    for (let i = 0; i < 20; i++) {
      if (await this.spawn()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`dnsmasq did not restart: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private writeFiles(hosts: string, srv: string[]): void {
    fs.writeFileSync(this.hostsFile, `127.0.0.1 ready.fulcrum.test\n${hosts}`);
    fs.writeFileSync(path.join(this.dir, 'conf'), srv.map((s) => `srv-host=${s}\n`).join(''));
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts dnsmasq and waits (bounded) until it answers; false if it exited or never answered. */
  private async spawn(): Promise<boolean> {
    const args = [
      '--no-daemon', '--keep-in-foreground', `--port=${this.port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      '--no-resolv', '--no-hosts', `--conf-file=${path.join(this.dir, 'conf')}`, `--addn-hosts=${this.hostsFile}`,
      '--local=/fulcrum.test/', '--local-ttl=1', '--user=root',
    ];
    const child = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d) => (this.stderr += d));
    let exited = false;
    child.on('exit', () => (exited = true));
    const resolver = new dns.Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${this.port}`]);
    for (let i = 0; i < 50 && !exited; i++) {
      const ok = await resolver.resolve4('ready.fulcrum.test').then(() => true, () => false);
      if (ok) {
        this.child = child;
        return true;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    return false;
  }
}

export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A DNS server in front of another that can be told to misbehave: forward
 * (relay each query and its answer), servfail (answer SERVFAIL itself) or
 * drop (answer nothing: the client times out).
 */
export class DnsFault {
  mode: 'forward' | 'servfail' | 'drop' = 'forward';
  private readonly pending = new Map<number, dgram.RemoteInfo>();

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly upstream: dgram.Socket,
    private readonly upstreamPort: number,
  ) {
    socket.on('message', (query, client) => this.onQuery(query, client));
    upstream.on('message', (answer) => {
      const client = this.pending.get(answer.readUInt16BE(0));
      if (client === undefined) return;
      this.pending.delete(answer.readUInt16BE(0));
      socket.send(answer, client.port, client.address);
    });
  }

  static async start(upstreamPort: number): Promise<DnsFault> {
    const socket = dgram.createSocket('udp4');
    const upstream = dgram.createSocket('udp4');
    await Promise.all([socket, upstream].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
    return new DnsFault(socket, upstream, upstreamPort);
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
    this.upstream.close();
  }

  private onQuery(query: Buffer, client: dgram.RemoteInfo): void {
    if (query.length < 12 || this.mode === 'drop') return;
    if (this.mode === 'forward') {
      this.pending.set(query.readUInt16BE(0), client);
      this.upstream.send(query, this.upstreamPort, '127.0.0.1');
      return;
    }
    // SERVFAIL: the header and question section of the query, QR and RA set, rcode 2, no records.
    let end = 12;
    while (end < query.length && query[end] !== 0) end += query[end] + 1;
    const answer = Buffer.from(query.subarray(0, Math.min(query.length, end + 5)));
    answer[2] = 0x80 | (query[2] & 0x01);
    answer[3] = 0x80 | 2;
    answer.writeUInt16BE(0, 6);
    answer.writeUInt16BE(0, 8);
    answer.writeUInt16BE(0, 10);
    this.socket.send(answer, client.port, client.address);
  }
}
