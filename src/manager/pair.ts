import type { PeerConfig } from '../config/types';
import type { Logger } from '../log';
import { guarded, reportTimerError } from '../timers';
import type { SessionSync, UdpProxy } from '../proxy/udp-proxy';
import type { UdpSession } from '../proxy/udp-session';
import { runHook } from './peer/hooks';
import { Peer, type PeerStatus } from './peer/peer';
import type { PeerState, TransitionReason } from './peer/state-machine';
import { reusePortSupported } from '../proxy/reuse-port';
import { FLAG_LISTENING, FLAG_WANT_FULL_SYNC, type SessionEntry } from './peer/wire';
import type { Service } from './service';

/** A full resync of every UDP pin this often, for a standby that started after the sessions did. */
const FULL_SYNC_MS = 5000;
const FULL_SYNC_MAX_ENTRIES = 20_000;
/** A better node that returns preempts only after a full sync, or after this long without one (a lost batch, an older peer). */
const PREEMPT_SYNC_WAIT_MS = FULL_SYNC_MS + 1000;

/** A pair whose standby keeps its listeners closed shares the port on one host: SO_REUSEPORT where Node has it. */
export function pairReusesPort(config: PeerConfig | null): boolean {
  return config !== null && config.standby === 'closed' && reusePortSupported();
}

/**
 * What being one node of an active/standby pair means for the services:
 * MASTER opens the listeners and runs onMaster; BACKUP and FAULT close them
 * (standby: closed, so both nodes can share one port on one host) and run
 * onBackup; a node whose services have no usable backend at all reports FAULT
 * so a healthy peer takes over. Live TCP sessions on a node that steps down go
 * on until they end. The master also sends its UDP session pins to the
 * standby, which uses them for clients it sees after a failover.
 */
export class Pair implements SessionSync {
  readonly peer: Peer;
  private readonly pending: SessionEntry[] = [];
  /**
   * Sessions new in a worker thread, for the service's other workers: a change
   * of the SO_REUSEPORT group (the peer binding the port during a handover, a
   * worker replaced) can move a client's datagrams to a sibling, which then
   * keeps the client's backend as it keeps a pin from the peer.
   */
  private readonly siblings = new Map<Service, Array<[string, string, number]>>();
  private readonly pins = new Map<string, Map<string, { backend: string; at: number }>>();
  private syncTimer: NodeJS.Timeout | null = null;
  private lastFullSync = 0;
  /** A peer asked for a full sync (it has none yet): sent at the next flush. */
  private fullSyncWanted = false;
  /** As BACKUP: a full sync from the master arrived since this node's last role change. */
  private fullSynced = false;
  private listenGeneration = 0;
  /** Stepped down, listeners still open: what to do when the new master says it listens. */
  private onPeerListening: (() => void) | null = null;
  /** As MASTER: every service's listener is open (FLAG_LISTENING in the adverts). */
  private listening = false;
  /** The last role onRole saw. */
  private role: PeerState = 'backup';

  constructor(
    readonly config: PeerConfig,
    private readonly services: () => readonly Service[],
    private readonly log: Logger,
  ) {
    this.peer = new Peer(
      config,
      {
        onRole: (state, reason) => this.onRole(state, reason),
        onSessions: (entries, fullSyncEnd) => this.learn(entries, fullSyncEnd),
        onFullSyncWanted: () => (this.fullSyncWanted = true),
        onMasterListening: () => this.onPeerListening?.(),
        advertFlags: () => (this.wantsFullSync() ? FLAG_WANT_FULL_SYNC : 0) | (this.listening ? FLAG_LISTENING : 0),
        // Taking over before the pins arrived would move the UDP clients of the old master (issue 11 item 7).
        preemptGate: { ready: () => !this.wantsFullSync(), maxWaitMs: PREEMPT_SYNC_WAIT_MS },
      },
      log.child({ component: 'peer' }),
    );
  }

  get state(): PeerState {
    return this.peer.state;
  }

  /** Listeners are open on a MASTER, or on both nodes with standby: open. */
  get shouldListen(): boolean {
    return this.config.standby === 'open' || this.peer.state === 'master';
  }

  async start(): Promise<void> {
    for (const s of this.services()) this.attach(s);
    await this.peer.start();
    // A node starts as BACKUP without a transition: run onBackup as keepalived does, so a VIP left from before a reboot goes.
    if (this.peer.state === 'backup') this.runHook('backup');
    this.syncTimer = setInterval(guarded('pair session sync', () => this.flushSync()), this.config.advertInterval);
    this.syncTimer.unref();
  }

  /** A service (at start or added by a reload): fault tracking and UDP session sync. */
  attach(service: Service): void {
    service.pool.on('change', () => this.updateFault());
    if (service.udp !== null) {
      service.udp.sync = this;
      service.udp.backendByName = (name) => service.pool.find(name);
    }
    // Worker threads report their new UDP sessions (sessionCreated) and get the pins learned from the peer.
    if (service.remote !== null && service.config.protocol === 'udp') service.remote.syncSessions(true);
    this.updateFault();
  }

  /** FAULT when some service has backends but none usable: a healthy peer should serve instead. */
  updateFault(): void {
    const fault = this.services().some((s) => s.pool.backends.length > 0 && s.pool.usable.length === 0);
    this.peer.setFault(fault);
  }

  /**
   * Graceful: priority-0 adverts, then (with SO_REUSEPORT) wait until the peer
   * advertises MASTER with its listeners open before returning, since the
   * manager closes the listeners next: no moment without a listener. Bounded
   * by the time a backup needs to notice, plus an advert for its bind.
   */
  async stop(): Promise<void> {
    if (this.syncTimer !== null) clearInterval(this.syncTimer);
    this.syncTimer = null;
    const handover = this.handsOverListeners && this.peer.state === 'master';
    await this.peer.stop(handover ? { waitForMasterMs: this.peer.machine.masterDownInterval + this.config.advertInterval } : undefined);
  }

  /** Listeners with SO_REUSEPORT in a pair sharing the port: the new master binds before the old one closes. */
  get handsOverListeners(): boolean {
    return pairReusesPort(this.config);
  }

  status(): PeerStatus {
    return this.peer.status();
  }

  /** A BACKUP with UDP services and no full sync yet asks for one in its adverts. */
  private wantsFullSync(): boolean {
    return this.peer.state === 'backup' && !this.fullSynced && this.services().some((s) => s.config.protocol === 'udp');
  }

  private onRole(state: PeerState, reason?: TransitionReason): void {
    this.fullSynced = false;
    this.listening = this.config.standby === 'open' && state === 'master';
    const wasMaster = this.role === 'master';
    this.role = state;
    const generation = ++this.listenGeneration;
    if (this.config.standby === 'closed') {
      if (state === 'master') void this.openListeners(generation);
      else if (!wasMaster || !this.handsOverListeners) this.closeListeners();
      // Stopping: stop() waits for the new master, then the manager closes them.
      else if (reason !== 'stop') this.closeListenersLater(generation);
    }
    this.runHook(state);
  }

  private closeListeners(): void {
    for (const s of this.services()) s.closeListener();
  }

  /**
   * Stepped down with SO_REUSEPORT: close once the new master advertises its
   * listeners open, or after the time it needs to notice and bind (an older
   * peer never says), unless master again by then.
   */
  private closeListenersLater(generation: number): void {
    const close = (): void => {
      clearTimeout(timer);
      this.onPeerListening = null;
      if (generation === this.listenGeneration) this.closeListeners();
    };
    const timer = setTimeout(guarded('pair listener handover', close), this.peer.machine.masterDownInterval + this.config.advertInterval);
    timer.unref();
    this.onPeerListening = close;
  }

  private runHook(state: PeerState): void {
    const env = { FULCRUM_STATE: state.toUpperCase(), FULCRUM_PEER_ID: this.config.id, FULCRUM_PRIORITY: String(this.config.priority) };
    void runHook(state === 'master' ? this.config.onMaster : this.config.onBackup, env, this.config.hookTimeout, this.log);
  }

  /** The old master may still hold a port for a moment (split brain on one host): retry each advert while still master. */
  private async openListeners(generation: number): Promise<void> {
    for (;;) {
      let failed = false;
      for (const s of this.services()) {
        try {
          const bound = await s.listen();
          this.log.info({ service: s.name, listen: bound.text }, 'service listening (master)');
        } catch (err) {
          failed = true;
          this.log.warn({ service: s.name, err: (err as Error).message }, 'master cannot open its listener yet; retrying');
        }
      }
      if (!failed && generation === this.listenGeneration && this.peer.state === 'master') {
        this.listening = true;
        this.peer.advertNow();
      }
      if (!failed || generation !== this.listenGeneration) return;
      await new Promise((r) => setTimeout(r, this.config.advertInterval));
      if (generation !== this.listenGeneration || this.peer.state !== 'master') return;
    }
  }

  // ---- UDP session sync (SessionSync)

  created(proxy: UdpProxy, session: UdpSession): void {
    this.sessionCreated(proxy.name, session.key, session.backend.name);
  }

  /** A UDP session started (here, or in a worker thread): the peer learns its pin at the next flush. */
  sessionCreated(service: string, client: string, backend: string): void {
    if (this.peer.state === 'master') this.pending.push({ service, client, backend });
  }

  /** A session new in one of a service's workers: its siblings learn it at the next flush (bounded per flush). */
  workerSessionCreated(service: Service, client: string, backend: string): void {
    this.sessionCreated(service.name, client, backend);
    let list = this.siblings.get(service);
    if (list === undefined) this.siblings.set(service, (list = []));
    if (list.length < FULL_SYNC_MAX_ENTRIES) list.push([client, backend, Date.now()]);
  }

  pinned(proxy: UdpProxy, clientKey: string): string | undefined {
    const pin = this.pins.get(proxy.name)?.get(clientKey);
    if (pin === undefined) return undefined;
    // A pin older than the session idle timeout belongs to a session that is gone.
    if (Date.now() - pin.at > proxy.settings.idleTimeout) return undefined;
    return pin.backend;
  }

  private flushSync(): void {
    for (const [service, list] of this.siblings) service.remote?.pushPins(list);
    this.siblings.clear();
    if (this.peer.state !== 'master') {
      this.pending.length = 0;
      return;
    }
    const now = Date.now();
    // A requested full sync waits two adverts after the last one, so a burst of requests costs one.
    const requested = this.fullSyncWanted && now - this.lastFullSync >= 2 * this.config.advertInterval;
    if (requested || now - this.lastFullSync >= FULL_SYNC_MS) {
      this.lastFullSync = now;
      this.fullSyncWanted = false;
      this.pending.length = 0;
      // A promise chain started by a timer ends in reportTimerError, as a throw in the timer would.
      void this.fullSync().catch((err) => reportTimerError('pair session sync', err));
      return;
    }
    if (this.pending.length > 0) this.peer.sendSessions(this.pending.splice(0));
  }

  /** Every live UDP session, from this thread's proxies and from each worker's. */
  private async fullSync(): Promise<void> {
    const all: SessionEntry[] = [];
    for (const s of this.services()) {
      if (s.udp !== null) {
        for (const session of s.udp.sessions.values()) {
          if (all.length >= FULL_SYNC_MAX_ENTRIES) break;
          all.push({ service: s.name, client: session.key, backend: session.backend.name });
        }
      } else if (s.remote !== null && s.config.protocol === 'udp') {
        for (const [client, backend] of await s.remote.udpSessions()) {
          if (all.length >= FULL_SYNC_MAX_ENTRIES) break;
          all.push({ service: s.name, client, backend });
        }
      }
    }
    if (this.peer.state === 'master') this.peer.sendSessions(all, true);
  }

  private learn(entries: SessionEntry[], fullSyncEnd: boolean): void {
    if (fullSyncEnd && this.peer.state === 'backup') this.fullSynced = true;
    const now = Date.now();
    for (const e of entries) {
      let table = this.pins.get(e.service);
      if (table === undefined) this.pins.set(e.service, (table = new Map()));
      table.delete(e.client); // re-insert: the Map stays in age order
      table.set(e.client, { backend: e.backend, at: now });
    }
    // Worker threads keep their own copy: whichever worker gets a client's datagrams looks it up.
    for (const s of this.services()) {
      if (s.remote === null) continue;
      const mine = entries.filter((e) => e.service === s.name);
      s.remote.pushPins(mine.map((e) => [e.client, e.backend, now]));
    }
    // Bounded: drop the oldest beyond what a full sync can carry.
    for (const table of this.pins.values()) {
      for (const key of table.keys()) {
        if (table.size <= FULL_SYNC_MAX_ENTRIES) break;
        table.delete(key);
      }
    }
  }
}
