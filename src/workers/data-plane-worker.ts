/**
 * Entry of a data-plane worker thread. It gets plain settings and shared
 * memory from the control plane (threads.ts) and serves: listeners,
 * sessions, balancers. It never reads the config file and never runs a
 * health check.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FulcrumError, isFulcrumError } from '../errors';
import { rootLogger, setLogLevel } from '../log';
import type { FromWorker, ToWorker } from './messages';
import { WorkerDns } from './worker-dns';
import { WorkerService } from './worker-service';

const { index, logLevel } = workerData as { index: number; workers: number; logLevel: string };
const port = parentPort!;
setLogLevel(logLevel);
const log = rootLogger.child({ worker: index });
const services = new Map<string, WorkerService>();
const dns = new Map<string, WorkerDns>();
let syncSessions = false;

function post(msg: FromWorker): void {
  port.postMessage(msg);
}

function service(key: string): WorkerService {
  const s = services.get(key);
  if (s === undefined) throw new Error(`worker ${index}: no service ${key}`);
  return s;
}

/** One message; the value of a request is sent back as its reply. */
async function handle(msg: ToWorker): Promise<unknown> {
  switch (msg.t) {
    case 'service': {
      const old = services.get(msg.spec.key);
      if (old !== undefined) old.proxy.stopAccepting();
      const s = new WorkerService(msg.spec, index, log.child({ service: msg.spec.name }), post);
      s.syncSessions = syncSessions;
      services.set(msg.spec.key, s);
      return undefined;
    }
    case 'settings':
      return service(msg.key).applySettings(msg.settings, msg.limiter);
    case 'backends':
      return service(msg.key).update(msg.backends, msg.usable);
    case 'weights':
      return service(msg.key).weightsChanged();
    case 'balance':
      return service(msg.key).setBalance(msg.balance, msg.usable);
    case 'listen':
      return service(msg.key).proxy.listen(msg.endpoint, { reusePort: msg.reusePort });
    case 'stopAccepting':
      return service(msg.key).proxy.stopAccepting();
    case 'abortAll':
      return service(msg.key).proxy.abortAll();
    case 'closeBackend':
      return service(msg.key).closeBackend(msg.backend, msg.reason as never);
    case 'backendDown':
      return service(msg.key).backendDown(msg.backend);
    case 'remove': {
      const s = services.get(msg.key);
      s?.proxy.stopAccepting();
      s?.proxy.abortAll();
      services.delete(msg.key);
      return undefined;
    }
    case 'stats':
      return [...services.values()].map((s) => [s.key, s.stats()]);
    case 'pins':
      return services.get(msg.key)?.learnPins(msg.pins);
    case 'syncSessions':
      syncSessions = msg.on;
      for (const s of services.values()) s.syncSessions = msg.on;
      return undefined;
    case 'udpSessions':
      return services.get(msg.key)?.udpSessions() ?? [];
    case 'dnsZones': {
      let d = dns.get(msg.key);
      if (d === undefined) dns.set(msg.key, (d = new WorkerDns(msg.config, log.child({ service: msg.config.name }))));
      return d.install(msg.config, msg.states, msg.cursors, msg.generation, msg.maxConnections);
    }
    case 'dnsStates':
      return dns.get(msg.key)?.statesChanged(msg.states);
    case 'dnsListen': {
      const d = dns.get(msg.key);
      if (d === undefined) throw new FulcrumError('ERR_FULCRUM_WORKERS', `worker ${index}: no dns service ${msg.key}`);
      return d.listen(msg.endpoint, msg.reusePort);
    }
    case 'dnsClose':
      dns.get(msg.key)?.close();
      dns.delete(msg.key);
      return undefined;
    case 'dnsStats':
      return [...dns].map(([key, d]) => [key, d.counters()]);
    case 'logLevel':
      return setLogLevel(msg.level);
    case 'barrier':
      return undefined; // the reply itself is the point: every message before it was handled
    case 'crash':
      // For the test of a worker that dies: an exception nobody catches, as a bug would throw.
      setImmediate(() => {
        throw new Error(`worker ${index}: crash on purpose`);
      });
      return undefined;
  }
}

port.on('message', (msg: ToWorker & { id?: number }) => {
  handle(msg).then(
    (value) => {
      if (msg.id !== undefined) post({ t: 'reply', id: msg.id, ok: true, value });
    },
    (err: Error) => {
      if (msg.id !== undefined) post({ t: 'reply', id: msg.id, ok: false, error: err.message, ...(isFulcrumError(err) && { code: err.code }) });
      else log.error({ err, message: msg.t }, 'control message failed');
    },
  );
});

post({ t: 'ready' });
