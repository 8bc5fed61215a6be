import net from 'node:net';
import type { Endpoint } from '../config/types';
import { FulcrumError } from '../errors';
import { HostLoadReader, type HostLoad } from './host-load';
import { agentLine, type AgentPolicy } from './policy';
import { guarded } from '../timers';

export interface HostAgentOptions {
  listen: Endpoint;
  /** How often /proc is read; CPU use is measured over this interval. */
  interval: number;
  policy: AgentPolicy;
  procRoot?: string;
  /** Every new reading (for logs and tests). */
  onReading?: (load: HostLoad, line: string) => void;
}

/** Connections answered at once; beyond it the kernel refuses (an agent is asked every few seconds per balancer). */
const MAX_CONNECTIONS = 1000;

/**
 * `fulcrum agent`: answers every TCP connection with one line in HAProxy's
 * agent-check protocol and closes it. The line is computed once per interval
 * from /proc, so a connection costs a write and a close, nothing more.
 */
export class HostAgent {
  private readonly server: net.Server;
  private readonly reader: HostLoadReader;
  private timer: NodeJS.Timeout | null = null;
  line = 'up ready 100%';
  last: HostLoad | null = null;

  constructor(private readonly options: HostAgentOptions) {
    this.reader = new HostLoadReader(options.procRoot);
    this.server = net.createServer((socket) => {
      socket.on('error', () => {}); // a client that resets must not take the agent down
      socket.end(`${this.line}\n`);
    });
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  /** Take a first reading over a short period, then listen; resolves with the bound address. */
  async start(): Promise<Endpoint> {
    await new Promise((r) => setTimeout(r, Math.min(this.options.interval, 500)));
    this.sample();
    this.timer = setInterval(guarded('agent sample', () => this.sample()), this.options.interval);
    const { host, port, family } = this.options.listen;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err) => reject(new FulcrumError('ERR_FULCRUM_LISTEN', `agent cannot listen on ${this.options.listen.text}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
      this.server.listen({ host, port }, resolve);
    });
    const bound = (this.server.address() as net.AddressInfo).port;
    return { host, port: bound, family, text: family === 6 ? `[${host}]:${bound}` : `${host}:${bound}` };
  }

  stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private sample(): void {
    try {
      this.last = this.reader.read();
      this.line = agentLine(this.last, this.options.policy);
      this.options.onReading?.(this.last, this.line);
    } catch {
      // /proc unreadable for a moment: keep answering the last line.
    }
  }
}
