import dgram from 'node:dgram';
import type { PeerConfig } from '../../config/types';
import { FulcrumError } from '../../errors';
import type { Logger } from '../../log';
import { realClock } from '../health/clock';
import { PeerStateMachine, type PeerState, type TransitionReason } from './state-machine';
import { AdvertVerifier, FLAG_FULL_SYNC_END, FLAG_LISTENING, FLAG_WANT_FULL_SYNC, MESSAGE_TYPE, SequenceCounter, decodeSessionBatch, encodeMessage, encodeSessionBatch, splitSessionBatches, type SessionEntry } from './wire';

export interface PeerHandlers {
  /** The node's role changed: open or close listeners, run hooks. */
  onRole(state: PeerState, reason: TransitionReason): void;
  /** Session pins from the master (UDP session sync); fullSyncEnd: the last batch of a full sync. */
  onSessions?(entries: SessionEntry[], fullSyncEnd: boolean): void;
  /** Another node advertises MASTER with its listeners open (FLAG_LISTENING). */
  onMasterListening?(): void;
  /** A peer asked for a full session sync (FLAG_WANT_FULL_SYNC in its advert). */
  onFullSyncWanted?(): void;
  /** Flags of this node's adverts (FLAG_WANT_FULL_SYNC, FLAG_LISTENING). */
  advertFlags?(): number;
  /** Preemption waits for ready() (a full session sync), at most maxWaitMs. */
  preemptGate?: { ready(): boolean; maxWaitMs: number };
}

export interface PeerStatus {
  id: string;
  state: PeerState;
  priority: number;
  transitions: number;
  /** Heartbeats rejected, by reason (bad_mac, replay, stale_timestamp, ...). */
  rejected: Record<string, number>;
  /** `state` is the last one heard; `lost` once nothing was heard for the dead interval (3 adverts + skew). */
  peers: Array<{ nodeId: string; address: string; state: PeerState; priority: number; lastHeardMs: number; lost: boolean }>;
}

/**
 * The network side of the pair: a UDP socket on peer.listen that sends
 * authenticated adverts to every peer each advertInterval (driven by the
 * state machine) and feeds verified ones back into it. Forged, replayed or
 * stale datagrams are counted by reason and otherwise ignored.
 */
export class Peer {
  readonly rejected: Record<string, number> = { truncated: 0, bad_magic: 0, bad_version: 0, bad_mac: 0, replay: 0, stale_timestamp: 0, malformed: 0 };
  readonly machine: PeerStateMachine;
  private readonly key: Buffer;
  private readonly seq = new SequenceCounter();
  private readonly verifier: AdvertVerifier;
  private readonly heard = new Map<string, { address: string; state: PeerState; priority: number; at: number }>();
  private socket: dgram.Socket | null = null;
  /** Set while stop() waits for another node to take over with its listeners open. */
  private masterHeard: ((heard: boolean) => void) | null = null;

  constructor(
    readonly config: PeerConfig,
    private readonly handlers: PeerHandlers,
    private readonly log: Logger,
  ) {
    this.key = Buffer.from(config.key, 'utf8');
    this.verifier = new AdvertVerifier(this.key, { maxSkewMs: config.maxSkew });
    this.machine = new PeerStateMachine({
      nodeId: config.id,
      priority: config.priority,
      advertInterval: config.advertInterval,
      preempt: config.preempt,
      preemptDelay: config.preemptDelay,
      readyToPreempt: handlers.preemptGate?.ready,
      preemptSyncWait: handlers.preemptGate?.maxWaitMs,
      clock: realClock,
      onTransition: (from, to, reason) => {
        this.log.warn({ from, to, reason, priority: this.config.priority }, `peer: ${from} -> ${to}`);
        this.handlers.onRole(to, reason);
      },
      sendAdvert: (priority, state) => this.sendAdvert(priority, state),
    });
  }

  /** Bind peer.listen, then start advertising as BACKUP. */
  async start(): Promise<void> {
    const ep = this.config.listen;
    const socket = dgram.createSocket({ type: ep.family === 6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) =>
        reject(new FulcrumError('ERR_FULCRUM_LISTEN', `peer: cannot listen on ${ep.text}: ${err.code ?? err.message}`, [], { cause: err })),
      );
      socket.bind({ port: ep.port, address: ep.host }, () => resolve());
    });
    socket.removeAllListeners('error');
    socket.on('error', (err) => this.log.warn({ err: err.message }, 'peer socket error'));
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    this.socket = socket;
    this.machine.start();
  }

  get state(): PeerState {
    return this.machine.state;
  }

  setFault(fault: boolean): void {
    if (this.machine.isRunning) this.machine.setFault(fault);
  }

  /**
   * Graceful: three priority-0 adverts so the peer takes over at once, then
   * close. With waitForMasterMs, the socket first waits (at most that long)
   * to hear another node advertise MASTER with its listeners open.
   */
  async stop(handover?: { waitForMasterMs: number }): Promise<void> {
    const heard = handover === undefined ? null : new Promise<boolean>((resolve) => (this.masterHeard = resolve));
    this.machine.stop();
    const socket = this.socket;
    // Nothing more is sent; adverts are still received until the close (the handover waits for one).
    this.socket = null;
    if (socket === null) return;
    // Let the queued adverts leave before the socket closes.
    await new Promise((r) => setImmediate(r));
    if (heard !== null && handover !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, handover.waitForMasterMs, false)));
      await Promise.race([heard, timeout]);
      clearTimeout(timer);
      this.masterHeard = null;
    }
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** An advert now, off the schedule: a new master tells the old one its listeners are open (FLAG_LISTENING). */
  advertNow(): void {
    if (this.machine.isRunning) this.sendAdvert(this.machine.effectivePriority, this.machine.state);
  }

  /** UDP session sync: the master tells its peers which backend each client is pinned to. A full sync ends with a flagged batch, empty or not. */
  sendSessions(entries: SessionEntry[], full = false): void {
    if (this.socket === null || (entries.length === 0 && !full)) return;
    const batches = splitSessionBatches(entries);
    if (batches.length === 0) batches.push([]);
    batches.forEach((batch, i) => {
      const flags = full && i === batches.length - 1 ? FLAG_FULL_SYNC_END : 0;
      const buf = encodeMessage(
        MESSAGE_TYPE.sessionSync,
        { nodeId: this.config.id, state: this.machine.state, priority: this.machine.effectivePriority, seq: this.seq.next(), timestamp: Date.now(), flags },
        encodeSessionBatch(batch),
        this.key,
      );
      this.broadcast(buf);
    });
  }

  status(): PeerStatus {
    const now = Date.now();
    const dead = this.machine.masterDownInterval;
    return {
      id: this.config.id,
      state: this.machine.state,
      priority: this.config.priority,
      transitions: this.machine.transitions,
      rejected: { ...this.rejected },
      peers: [...this.heard].map(([nodeId, h]) => ({ nodeId, address: h.address, state: h.state, priority: h.priority, lastHeardMs: now - h.at, lost: now - h.at > dead })),
    };
  }

  private sendAdvert(priority: number, state: PeerState): void {
    if (this.socket === null) return;
    const flags = this.handlers.advertFlags?.() ?? 0;
    const buf = encodeMessage(MESSAGE_TYPE.advert, { nodeId: this.config.id, priority, state, seq: this.seq.next(), timestamp: Date.now(), flags }, Buffer.alloc(0), this.key);
    this.broadcast(buf);
  }

  private broadcast(buf: Buffer): void {
    const socket = this.socket!;
    for (const p of this.config.peers) socket.send(buf, p.port, p.host, this.onSent);
  }

  /** A peer that is down answers with ICMP unreachable: expected, not worth a log line per advert. */
  private readonly onSent = (): void => {};

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const result = this.verifier.verify(msg);
    if (!result.ok) {
      this.rejected[result.reason] = (this.rejected[result.reason] ?? 0) + 1;
      return;
    }
    const m = result.message;
    if (m.nodeId === this.config.id) return;
    this.heard.set(m.nodeId, { address: `${rinfo.address}:${rinfo.port}`, state: m.state, priority: m.priority, at: Date.now() });
    if (m.type === MESSAGE_TYPE.advert) {
      this.machine.receive({ nodeId: m.nodeId, priority: m.priority, state: m.state });
      if (m.state === 'master' && m.priority > 0 && (m.flags & FLAG_LISTENING) !== 0) {
        this.masterHeard?.(true);
        this.handlers.onMasterListening?.();
      }
      if ((m.flags & FLAG_WANT_FULL_SYNC) !== 0) this.handlers.onFullSyncWanted?.();
    } else if (m.type === MESSAGE_TYPE.sessionSync) {
      const entries = decodeSessionBatch(m.payload);
      if (entries === null) this.rejected.malformed++;
      else this.handlers.onSessions?.(entries, (m.flags & FLAG_FULL_SYNC_END) !== 0);
    }
  }
}

