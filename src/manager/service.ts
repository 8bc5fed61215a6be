import { createBalancer } from '../balancer';
import type { Balancer } from '../balancer/balancer';
import type { Endpoint, ServiceConfig } from '../config/types';
import type { Logger } from '../log';
import { Pool } from '../pool/pool';
import { TcpProxy } from '../proxy/tcp-proxy';

/**
 * One configured service: its pool, its balancer (rebuilt whenever the pool's
 * usable set changes) and its proxy. The data flows one way: the manager
 * mutates the pool, the pool tells the balancer, the proxy only picks.
 */
export class Service {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly pool: Pool;
  readonly balancer: Balancer;
  readonly proxy: TcpProxy;
  /** The bound address (port resolved when the config asked for port 0). */
  address: Endpoint | null = null;

  constructor(config: ServiceConfig, options: { logConnections: boolean; log: Logger }) {
    this.name = config.name;
    this.config = config;
    this.pool = new Pool(config.backends);
    this.balancer = createBalancer(config.balance);
    this.balancer.rebuild(this.pool.usable);
    this.pool.on('change', (usable) => this.balancer.rebuild(usable));
    this.proxy = new TcpProxy({
      name: config.name,
      balancer: this.balancer,
      connectTimeout: config.timeouts.connect,
      idleTimeout: config.timeouts.idle,
      retries: config.retries,
      maxConnections: config.maxConnections,
      logConnections: options.logConnections,
      log: options.log.child({ service: config.name }),
    });
  }

  async listen(): Promise<Endpoint> {
    this.address = await this.proxy.listen(this.config.listen);
    return this.address;
  }
}
