import net from 'node:net';
import path from 'node:path';
import { validateConfig } from '../src/config';
import { FulcrumError } from '../src/errors';
import { start } from '../src/index';
import { stopOnSignals } from './run';

const DEFAULT_PORT = 7000;
const DEFAULT_ADMIN_PORT = 9090;

/** An echo server that prefixes each reply with its name, so the balancing is visible. */
function startEchoBackend(name: string): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => socket.write(`[${name}] ${chunk.toString('utf8')}`));
    socket.on('end', () => socket.end());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export async function demoCommand(opts: { port?: string }): Promise<void> {
  let port = DEFAULT_PORT;
  if (opts.port !== undefined) {
    port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new FulcrumError('ERR_FULCRUM_ARGS', `--port: "${opts.port}" is not a port number`);
  } else if (!(await portIsFree(port))) {
    port = 0; // 7000 is taken: any free port will do for a demo
  }
  const adminPort = opts.port === undefined && (await portIsFree(DEFAULT_ADMIN_PORT)) ? DEFAULT_ADMIN_PORT : 0;
  let backends: net.Server[];
  try {
    backends = await Promise.all(['echo-1', 'echo-2', 'echo-3'].map(startEchoBackend));
  } catch (err) {
    throw new FulcrumError('ERR_FULCRUM_DEMO', `cannot start the demo's echo backends: ${(err as Error).message}`);
  }
  const addresses = backends.map((s) => `127.0.0.1:${(s.address() as net.AddressInfo).port}`);
  const config = validateConfig({
    log: { level: 'info', connections: true },
    shutdownTimeout: '2s',
    admin: { listen: `127.0.0.1:${adminPort}` },
    services: [{ name: 'demo', listen: `127.0.0.1:${port}`, balance: 'round-robin', maxConnections: 1000, backends: addresses.map((address) => ({ address })) }],
  });
  const signals = stopOnSignals(() => Promise.all(backends.map((s) => new Promise((r) => s.close(r)))).then(() => undefined));
  const handle = await start(config);
  const listen = handle.addresses.get('demo')!;
  const adminUrl = `http://${handle.admin!.text}`;
  // How this CLI was started, so the hints can be pasted as they are.
  const script = process.argv[1] ?? 'fulcrum';
  const self = path.basename(script) === 'fulcrum' ? 'fulcrum' : `node ${path.relative(process.cwd(), script) || script}`;
  process.stdout.write(
    [
      '',
      `fulcrum demo: three echo backends on ${addresses.join(', ')}`,
      `service "demo" (round-robin) listens on ${listen.text}`,
      '',
      'Try it from another terminal:',
      `  nc ${listen.host} ${listen.port}            then type a line; each new connection goes to the next backend`,
      `  for i in 1 2 3 4; do echo hello | nc -N ${listen.host} ${listen.port}; done   (OpenBSD nc; use -q1 with traditional nc)`,
      '',
      `Admin API on ${adminUrl}:`,
      `  ${self} status --admin ${adminUrl}`,
      `  ${self} drain demo ${addresses[0]} --admin ${adminUrl}     (then enable it again)`,
      `  curl ${adminUrl}/metrics`,
      '',
      'One access-log line (JSON) is printed per closed connection. Ctrl-C stops.',
      '',
    ].join('\n'),
  );
  signals.started(handle);
}
