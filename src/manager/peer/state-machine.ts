import type { Clock } from '../health/clock';

/**
 * The failover state machine of an active/standby pair, after VRRP (RFC 5798)
 * and keepalived. Pure: the network layer feeds it verified adverts through
 * receive() and sends what it asks for through sendAdvert(); time comes from
 * the injected clock, so tests drive it with a fake one.
 */
export type PeerState = 'backup' | 'master' | 'fault';

/** What a heartbeat carries once the network layer has verified it. */
export interface PeerAdvert {
  nodeId: string;
  /** 0..255; 0 means "I am leaving (stop) or faulty: take over now". */
  priority: number;
  state: PeerState;
}

/**
 * Why a transition happened:
 * - master-down: BACKUP heard no master for masterDownInterval (3 × advert + skew)
 * - master-released: BACKUP heard the master advertise priority 0 and waited skewTime
 * - preempt: BACKUP (preempt on) heard a live master of lower priority and waited preemptDelay
 * - better-master: MASTER heard a better MASTER (higher priority; tie → higher nodeId)
 * - fault / fault-cleared: setFault(true) / setFault(false)
 * - stop: stop() was called on a MASTER (it lets the VIP go)
 */
export type TransitionReason = 'master-down' | 'master-released' | 'preempt' | 'better-master' | 'fault' | 'fault-cleared' | 'stop';

export interface PeerStateMachineOptions {
  nodeId: string;
  /** 1..255, higher wins. */
  priority: number;
  /** ms between adverts; default 100. */
  advertInterval?: number;
  /** Default true: a BACKUP takes over from a live MASTER of lower priority. */
  preempt?: boolean;
  /** ms a BACKUP waits before preempting; default 0 (at once). */
  preemptDelay?: number;
  /**
   * A preemption waits until this is true (the pair: a full UDP session sync
   * from the master has arrived), for at most preemptSyncWait ms. Default: always ready.
   */
  readyToPreempt?: () => boolean;
  /** Upper bound of that wait, in ms (default 0: no wait). */
  preemptSyncWait?: number;
  clock: Clock;
  onTransition: (from: PeerState, to: PeerState, reason: TransitionReason) => void;
  sendAdvert: (priority: number, state: PeerState) => void;
}

/** VRRP's Skew_Time: the lower the priority, the longer a backup waits. */
export function skewTime(priority: number, advertInterval: number): number {
  return ((256 - priority) / 256) * advertInterval;
}

/** VRRP's Master_Down_Interval: 3 adverts missed, plus skew. */
export function masterDownInterval(priority: number, advertInterval: number): number {
  return 3 * advertInterval + skewTime(priority, advertInterval);
}

/** `a` beats `b`: higher priority; on a tie, the higher nodeId (string compare). */
export function isBetter(a: { nodeId: string; priority: number }, b: { nodeId: string; priority: number }): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.nodeId > b.nodeId;
}

const STATES: ReadonlySet<string> = new Set<PeerState>(['backup', 'master', 'fault']);
/** Adverts sent by stop(), so one lost datagram does not cost a full masterDownInterval. */
const STOP_ADVERTS = 3;

export class PeerStateMachine {
  readonly nodeId: string;
  readonly priority: number;
  readonly advertInterval: number;
  readonly preempt: boolean;
  readonly preemptDelay: number;
  /** 3 × advertInterval + skewTime, for this node's priority. */
  readonly masterDownInterval: number;
  readonly skewTime: number;

  private readonly clock: Clock;
  private readonly readyToPreempt: () => boolean;
  private readonly preemptSyncWait: number;
  private readonly onTransition: PeerStateMachineOptions['onTransition'];
  private readonly sendAdvert: PeerStateMachineOptions['sendAdvert'];

  private current: PeerState = 'backup';
  private count = 0;
  private running = false;
  /** The node a BACKUP believes is MASTER (last live master advert heard). */
  private masterId: string | undefined;
  private readonly heard = new Map<string, number>();

  private advertTimer: unknown;
  private downTimer: unknown;
  private downAt = 0;
  private preemptTimer: unknown;
  /** preemptDelay has elapsed under the current worse master; only readiness is awaited. */
  private preemptDelayDone = false;
  /** When this node first could preempt but was not ready (for the preemptSyncWait bound). */
  private preemptWaitSince: number | undefined;

  constructor(options: PeerStateMachineOptions) {
    const { nodeId, priority, advertInterval = 100, preempt = true, preemptDelay = 0 } = options;
    if (nodeId === '') throw new RangeError('peer nodeId must not be empty');
    if (!Number.isInteger(priority) || priority < 1 || priority > 255) throw new RangeError(`peer priority must be an integer 1..255 (got ${priority})`);
    if (!(advertInterval > 0) || !Number.isFinite(advertInterval)) throw new RangeError(`peer advertInterval must be > 0 ms (got ${advertInterval})`);
    if (!(preemptDelay >= 0) || !Number.isFinite(preemptDelay)) throw new RangeError(`peer preemptDelay must be >= 0 ms (got ${preemptDelay})`);
    this.nodeId = nodeId;
    this.priority = priority;
    this.advertInterval = advertInterval;
    this.preempt = preempt;
    this.preemptDelay = preemptDelay;
    this.skewTime = skewTime(priority, advertInterval);
    this.masterDownInterval = masterDownInterval(priority, advertInterval);
    this.clock = options.clock;
    this.readyToPreempt = options.readyToPreempt ?? (() => true);
    this.preemptSyncWait = options.preemptSyncWait ?? 0;
    this.onTransition = options.onTransition;
    this.sendAdvert = options.sendAdvert;
  }

  get state(): PeerState {
    return this.current;
  }

  /** Number of transitions so far. */
  get transitions(): number {
    return this.count;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** The priority this node advertises: 0 while in FAULT. */
  get effectivePriority(): number {
    return this.current === 'fault' ? 0 : this.priority;
  }

  /** Who this node believes is MASTER: itself, the last live master heard (BACKUP), or undefined. */
  get master(): string | undefined {
    if (this.current === 'master') return this.nodeId;
    return this.current === 'backup' ? this.masterId : undefined;
  }

  /** ms since the last advert from `nodeId`; undefined if it was never heard. */
  lastHeard(nodeId: string): number | undefined {
    const at = this.heard.get(nodeId);
    return at === undefined ? undefined : this.clock.now() - at;
  }

  /** Begin advertising (at once, then every advertInterval) and, as BACKUP, wait for a master. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.current === 'backup') this.armDown(this.masterDownInterval, 'master-down');
    this.advertNow();
  }

  /** Graceful handover: 3 adverts with priority 0 right away, then silence. A MASTER becomes BACKUP. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.downTimer = this.clear(this.downTimer);
    this.cancelPreempt();
    this.advertTimer = this.clear(this.advertTimer);
    const state = this.current;
    for (let i = 0; i < STOP_ADVERTS; i++) this.sendAdvert(0, state);
    if (state === 'master') this.become('backup', 'stop');
  }

  /** FAULT (advertising priority 0, so a healthy peer takes over) or back to BACKUP. */
  setFault(fault: boolean): void {
    if (fault && this.current !== 'fault') this.become('fault', 'fault');
    else if (!fault && this.current === 'fault') this.become('backup', 'fault-cleared');
  }

  /** A verified advert from the network layer. */
  receive(advert: PeerAdvert): void {
    const { nodeId, priority, state } = advert;
    if (nodeId === this.nodeId) return; // our own advert looped back
    if (!Number.isInteger(priority) || priority < 0 || priority > 255 || !STATES.has(state)) return;
    this.heard.set(nodeId, this.clock.now());
    if (!this.running) return;
    if (this.current === 'master') this.receiveAsMaster(advert);
    else if (this.current === 'backup') this.receiveAsBackup(advert);
    // FAULT: only lastHeard is kept; the node takes part again after setFault(false).
  }

  private receiveAsMaster(advert: PeerAdvert): void {
    if (advert.state !== 'master') return; // a BACKUP never displaces a MASTER by its adverts alone
    if (advert.priority !== 0 && isBetter(advert, this)) {
      this.become('backup', 'better-master', advert.nodeId);
      return;
    }
    // A worse (or leaving) master: keep mastership and say so at once, so a split ends within one advert.
    this.advertNow();
  }

  private receiveAsBackup(advert: PeerAdvert): void {
    if (advert.priority === 0) {
      // The master is leaving (stop or fault): take over after skewTime, so the best backup wins.
      if (advert.state !== 'master' && advert.nodeId !== this.masterId) return;
      this.masterId = undefined;
      this.cancelPreempt();
      const remaining = this.downTimer === undefined ? Infinity : this.downAt - this.clock.now();
      if (this.skewTime < remaining) this.armDown(this.skewTime, 'master-released');
      return;
    }
    if (advert.state !== 'master') return; // other backups and faulty nodes: visibility only
    // A live master: it is not down, whatever its priority.
    this.masterId = advert.nodeId;
    this.armDown(this.masterDownInterval, 'master-down');
    if (!this.preempt || advert.priority >= this.priority) {
      this.cancelPreempt();
      return;
    }
    if (this.preemptDelay === 0 || this.preemptDelayDone) this.tryPreempt();
    else if (this.preemptTimer === undefined) {
      this.preemptTimer = this.clock.setTimeout(() => {
        this.preemptTimer = undefined;
        this.preemptDelayDone = true;
        if (this.running && this.current === 'backup') this.tryPreempt();
      }, this.preemptDelay);
    }
  }

  /**
   * Take over from a worse live master once ready (readyToPreempt), or once
   * preemptSyncWait has passed without it. Re-tried at each of its adverts.
   */
  private tryPreempt(): void {
    if (!this.readyToPreempt()) {
      const now = this.clock.now();
      this.preemptWaitSince ??= now;
      if (now - this.preemptWaitSince < this.preemptSyncWait) return;
    }
    this.become('master', 'preempt');
  }

  private cancelPreempt(): void {
    this.preemptTimer = this.clear(this.preemptTimer);
    this.preemptDelayDone = false;
    this.preemptWaitSince = undefined;
  }

  private become(to: PeerState, reason: TransitionReason, masterId?: string): void {
    const from = this.current;
    this.current = to;
    this.count++;
    this.masterId = to === 'backup' ? masterId : undefined;
    this.downTimer = this.clear(this.downTimer);
    this.cancelPreempt();
    if (to === 'backup' && this.running) this.armDown(this.masterDownInterval, 'master-down');
    this.onTransition(from, to, reason);
    // Announce the new state at once (a new MASTER must be heard before the next tick).
    if (this.running && this.current === to) this.advertNow();
  }

  /** Send an advert now and restart the advert period from here. */
  private advertNow(): void {
    this.clear(this.advertTimer);
    this.advertTimer = this.clock.setTimeout(() => {
      this.advertTimer = undefined;
      if (this.running) this.advertNow();
    }, this.advertInterval);
    this.sendAdvert(this.effectivePriority, this.current);
  }

  private armDown(ms: number, reason: TransitionReason): void {
    this.clear(this.downTimer);
    this.downAt = this.clock.now() + ms;
    this.downTimer = this.clock.setTimeout(() => {
      this.downTimer = undefined;
      if (this.running && this.current === 'backup') this.become('master', reason);
    }, ms);
  }

  /** Clear a timer handle if set; returns undefined to store back. */
  private clear(handle: unknown): undefined {
    if (handle !== undefined) this.clock.clearTimeout(handle);
    return undefined;
  }
}
