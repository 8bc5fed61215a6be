import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FulcrumError } from '../errors';
import type { Logger } from '../log';
import type { FromWorker, ToWorker } from './messages';

/** Where the compiled worker entry is: next to this file, or in dist/ when this runs from the TypeScript sources (tests). */
function workerScript(): string {
  const here = path.join(__dirname, 'data-plane-worker.js');
  if (existsSync(here)) return here;
  const built = path.resolve(__dirname, '../../dist/src/workers/data-plane-worker.js');
  if (existsSync(built)) return built;
  throw new FulcrumError('ERR_FULCRUM_WORKERS', `cannot find the data-plane worker script (${here} or ${built}): run npm run build`);
}

/** What the control plane does with a worker's reports and its replacement. */
export interface ThreadsOwner {
  /** A message from a worker that is not a reply (a connect failure, a new UDP session). */
  report(worker: number, msg: FromWorker): void;
  /** A worker died: give back what it held (its sessions are gone with it); `threadId` was its thread's. */
  forget(worker: number, threadId: number): void;
  /** A replacement worker is up: send it every service and open its listeners. */
  replay(worker: number): Promise<void>;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
  ready: Promise<void>;
}

/** How long a reply may take before the request fails (a listen, a stats snapshot). */
const REPLY_TIMEOUT_MS = 10_000;

/**
 * The data-plane worker threads, seen from the control plane: start them,
 * post to one or all, ask and await a reply, and replace one that dies
 * (logged and counted; the others keep serving meanwhile).
 */
export class DataPlaneThreads {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private stopping = false;
  /** Workers that died and were replaced. */
  restarts = 0;
  owner: ThreadsOwner | null = null;

  private constructor(
    readonly size: number,
    private readonly log: Logger,
    private logLevel: string,
  ) {}

  static async start(size: number, log: Logger, logLevel: string): Promise<DataPlaneThreads> {
    const threads = new DataPlaneThreads(size, log, logLevel);
    for (let i = 0; i < size; i++) threads.slots.push(threads.spawn(i));
    try {
      await Promise.all(threads.slots.map((s) => s.ready));
    } catch (err) {
      await threads.stop();
      throw err;
    }
    return threads;
  }

  setLogLevel(level: string): void {
    this.logLevel = level;
    this.postAll({ t: 'logLevel', level });
  }

  postAll(msg: ToWorker): void {
    for (let i = 0; i < this.slots.length; i++) this.post(i, msg);
  }

  post(worker: number, msg: ToWorker): void {
    this.slots[worker]!.worker.postMessage(msg);
  }

  /** Ask one worker; the reply's value, or its error rethrown here. */
  request<T>(worker: number, msg: ToWorker & { id?: number }): Promise<T> {
    const slot = this.slots[worker]!;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        reject(new FulcrumError('ERR_FULCRUM_WORKERS', `worker ${worker} did not answer ${msg.t} within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      timer.unref();
      slot.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      slot.worker.postMessage({ ...msg, id });
    });
  }

  requestAll<T>(msg: ToWorker): Promise<T[]> {
    return Promise.all(this.slots.map((_, i) => this.request<T>(i, msg)));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(index: number): Slot {
    const worker = new Worker(workerScript(), { workerData: { index, workers: this.size, logLevel: this.logLevel } });
    // Read now: after the thread ends, worker.threadId is -1.
    const threadId = worker.threadId;
    const pending: Slot['pending'] = new Map();
    let signalReady: () => void = () => {};
    let failReady: (e: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      signalReady = resolve;
      failReady = reject;
    });
    // An unhandled rejection if nobody awaits a replacement's readiness: the exit handler reports it.
    ready.catch(() => undefined);
    const slot: Slot = { worker, pending, ready };
    worker.on('message', (msg: FromWorker) => {
      if (msg.t === 'ready') return signalReady();
      if (msg.t === 'reply') {
        const waiter = pending.get(msg.id);
        if (waiter === undefined) return;
        pending.delete(msg.id);
        if (msg.ok) waiter.resolve(msg.value);
        else waiter.reject(new FulcrumError(msg.code ?? 'ERR_FULCRUM_WORKERS', msg.error ?? 'worker request failed'));
        return;
      }
      try {
        this.owner?.report(index, msg);
      } catch (err) {
        this.log.error({ err, worker: index }, 'handling a worker report failed');
      }
    });
    worker.on('error', (err) => {
      this.log.error({ err, worker: index }, 'data-plane worker crashed');
    });
    worker.on('exit', (code) => {
      const failure = new FulcrumError('ERR_FULCRUM_WORKERS', `worker ${index} exited (code ${code})`);
      failReady(failure);
      for (const w of pending.values()) w.reject(failure);
      pending.clear();
      if (this.stopping || this.slots[index] !== slot) return;
      this.replace(index, code, threadId);
    });
    return slot;
  }

  private replace(index: number, code: number, threadId: number): void {
    this.restarts++;
    this.log.error({ worker: index, code, restarts: this.restarts }, 'data-plane worker died: replacing it');
    this.owner?.forget(index, threadId);
    const slot = this.spawn(index);
    this.slots[index] = slot;
    slot.ready
      .then(() => this.owner?.replay(index))
      .then(() => this.log.info({ worker: index }, 'data-plane worker replaced and serving'))
      .catch((err) => this.log.error({ err, worker: index }, 'replacing a data-plane worker failed'));
  }
}
