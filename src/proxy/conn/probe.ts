import { isIP } from 'node:net';
import { rootLogger } from '../../log';
import { guarded } from '../../timers';
import type { Connection, ConnectionEvents, DataPlaneFactory, DataPlaneKind, ListenerEvents } from './connection';
import { handleConnect, loadBindings, useBindings } from './handle-connection';
import { HandleListener } from './handle-listener';
import { netConnect, NetListener } from './net-connection';

/**
 * Which data plane carries TCP: `handle` (libuv handles, handle-connection.ts)
 * where this Node's bindings have the expected shape AND carry a loopback
 * connection correctly (accept, connect, write, read, FIN both ways, close,
 * within PROBE_TIMEOUT_MS); `net` otherwise, or when FULCRUM_DATAPLANE=net.
 * Decided once per process (each worker thread probes for itself) and logged.
 */

export const netDataPlane: DataPlaneFactory = {
  kind: 'net',
  listener: (events, connectionEvents) => new NetListener(events, connectionEvents),
  connect: netConnect,
};

export const handleDataPlane: DataPlaneFactory = {
  kind: 'handle',
  listener: (events, connectionEvents) => new HandleListener(events, connectionEvents),
  // The handle connects to addresses only: a host name (not resolved before) goes through net, which resolves it.
  connect: (options, events, owner) => (isIP(options.host) === 0 ? netConnect(options, events, owner) : handleConnect(options, events, owner)),
};

export interface DataPlaneChoice {
  factory: DataPlaneFactory;
  kind: DataPlaneKind;
  /** Why: 'forced' (FULCRUM_DATAPLANE=net), 'probe passed', or what failed. */
  reason: string;
}

const PROBE_TIMEOUT_MS = 2000;
/** The probe of the handle path runs once per process (each worker thread probes for itself). */
let probed: Promise<string | null> | null = null;
let current: DataPlaneKind | null = null;
let logged: string | null = null;

/**
 * The data plane for a service starting now: FULCRUM_DATAPLANE is read on
 * each call (so tests can run suites under both), the probe only once. The
 * choice is logged when it changes.
 */
export async function chooseDataPlane(): Promise<DataPlaneChoice> {
  const choice = await decide();
  current = choice.kind;
  const line = `${choice.kind}: ${choice.reason}`;
  if (line !== logged) {
    logged = line;
    rootLogger.info({ dataPlane: choice.kind, reason: choice.reason, node: process.version }, `tcp data plane: ${choice.kind}`);
  }
  return choice;
}

/** The last choice made in this process (for /status), null before any TCP service started. */
export function currentDataPlane(): DataPlaneKind | null {
  return current;
}

async function decide(): Promise<DataPlaneChoice> {
  if (process.env.FULCRUM_DATAPLANE === 'net') return { factory: netDataPlane, kind: 'net', reason: 'forced by FULCRUM_DATAPLANE=net' };
  if (probed === null) probed = probeHandle();
  const failure = await probed;
  if (failure !== null) return { factory: netDataPlane, kind: 'net', reason: failure };
  return { factory: handleDataPlane, kind: 'handle', reason: 'probe passed' };
}

async function probeHandle(): Promise<string | null> {
  const bindings = loadBindings();
  if (bindings === null) return 'libuv handle bindings missing or of another shape';
  useBindings(bindings);
  const failure = await probeBehaviour(handleDataPlane);
  return failure === null ? null : `handle probe failed: ${failure}`;
}

const PING = Buffer.from('fulcrum data plane probe →');
const PONG = Buffer.from('← and back, with a FIN');

/**
 * Carry one loopback connection with `plane`: the client writes PING and
 * shuts down; the server reads PING, sees the FIN, writes PONG and shuts
 * down; the client reads PONG and the FIN; both close. Resolves null when all
 * of it happened in order and every close came, else what went wrong.
 */
export function probeBehaviour(plane: DataPlaneFactory, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | null> {
  return new Promise((resolve) => {
    let done = false;
    const conns: Connection[] = [];
    let closes = 0;
    let serverGot = Buffer.alloc(0);
    let clientGot = Buffer.alloc(0);
    let serverEnd = false;
    let clientEnd = false;
    const finish = (failure: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const c of conns) c.close();
      void listener.close().then(() => resolve(failure));
    };
    const timer = setTimeout(
      guarded('data plane probe', () => finish(`no complete exchange within ${timeoutMs} ms (server read ${serverGot.length}, client read ${clientGot.length}, closes ${closes})`)),
      timeoutMs,
    );
    const events: ConnectionEvents = {
      connect(conn) {
        if (!conn.write(PING, 0, PING.length, true)) return finish('a small write to a fresh connection was queued');
        conn.shutdown();
        conn.readStart((c, n, buffer) => {
          clientGot = Buffer.concat([clientGot, buffer.subarray(0, n)]);
        });
      },
      end(conn) {
        if (conn.owner === 'server') {
          serverEnd = true;
          if (!serverGot.equals(PING)) return finish('server read other bytes than were written');
          conn.write(PONG, 0, PONG.length, false);
          conn.shutdown();
        } else {
          clientEnd = true;
          if (!clientGot.equals(PONG)) return finish('client read other bytes than were written');
        }
      },
      error(_conn, err) {
        finish(`error: ${err.message}`);
      },
      drain() {},
      close() {
        if (++closes === 2) finish(serverEnd && clientEnd ? null : 'closed before both FINs were seen');
      },
    };
    const listenerEvents: ListenerEvents = {
      connection(conn) {
        conn.owner = 'server';
        conns.push(conn);
        if (conn.remoteAddress !== '127.0.0.1' || conn.localPort !== port || !(conn.fd >= 0 || process.platform === 'win32')) return finish('accepted connection has wrong addresses or no descriptor');
        conn.readStart((c, n, buffer) => {
          serverGot = Buffer.concat([serverGot, buffer.subarray(0, n)]);
        });
      },
      error(err) {
        finish(`accept: ${err.message}`);
      },
    };
    let port = 0;
    const listener = plane.listener(listenerEvents, events);
    listener.listen({ host: '127.0.0.1', port: 0 }).then(
      (bound) => {
        if (done) return;
        port = bound.port;
        try {
          conns.push(plane.connect({ host: '127.0.0.1', port }, events, 'client'));
        } catch (err) {
          finish(`connect threw: ${(err as Error).message}`);
        }
      },
      (err: Error) => finish(`listen: ${err.message}`),
    );
  });
}
