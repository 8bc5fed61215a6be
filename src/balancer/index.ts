import type { BalanceName } from '../config/types';
import { FulcrumError } from '../errors';
import type { Balancer, PickLock } from './balancer';
import { LeastConnBalancer } from './least-conn';
import { RandomTwoBalancer } from './random-two';
import { RoundRobinBalancer } from './round-robin';
import { MaglevBalancer } from './source-hash';

export type { Balancer, PickContext } from './balancer';
export { NO_TRIED, wasTried } from './balancer';
export { LeastConnBalancer } from './least-conn';
export { RandomTwoBalancer } from './random-two';
export { RoundRobinBalancer } from './round-robin';
export { MaglevBalancer, MAGLEV_TABLE_SIZE } from './source-hash';

/** A new, empty balancer for the config's `balance` name; call rebuild before pick. */
export function createBalancer(name: BalanceName, lock?: PickLock): Balancer {
  switch (name) {
    case 'round-robin':
      return new RoundRobinBalancer(lock);
    case 'least-conn':
      return new LeastConnBalancer();
    case 'random-two':
      return new RandomTwoBalancer();
    case 'source-hash':
      return new MaglevBalancer();
    default: {
      // Exhaustive at compile time; at run time only a config that skipped validation gets here.
      const never: never = name;
      throw new FulcrumError('ERR_FULCRUM_CONFIG', `unknown balance algorithm: ${String(never)}`);
    }
  }
}
