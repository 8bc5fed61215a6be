/**
 * The per-client-IP limiter of source-limiter.ts with its whole state in one
 * SharedArrayBuffer, so N worker threads (each accepting on its own reusePort
 * listener) enforce one limit per client instead of N times the limit.
 *
 *   main:    const lim = SharedSourceLimiter.create(options);
 *            worker.postMessage({ memory: lim.memory, options: plainOptions });
 *   worker:  const lim = SharedSourceLimiter.attach(memory, plainOptions);
 *
 * Same semantics as SourceLimiter: a concurrent-connection cap and a token
 * bucket per IP, a table of at most `tableSize` IPs, idle entries (no live
 * connection, spent bucket) evicted in exact LRU order to make room, and
 * 'table_full' when every tracked IP has live connections (fail closed).
 *
 * Concurrency: one lock word (futex-style mutex: compareExchange, a short
 * spin, then Atomics.wait) around each operation; the critical sections are
 * a hash probe and a few stores, no allocation, no calls out. Plain typed
 * array accesses inside the lock are ordered by its Atomics operations.
 *
 * Layout (little-endian host order, all offsets fixed at create()):
 *   header   128 bytes (lock, counters, limits, LRU head/tail, hash seed)
 *   entries  tableSize x 48 bytes:
 *              key 16 (IPv6; IPv4 as ::ffff:a.b.c.d), active 4 (-1 = free),
 *              hash 4, prev 4, next 4 (idle-LRU links; `next` is the free-list link
 *              of a free entry), tokens 8 (f64, thousandths), lastRefill 8 (f64, ms)
 *   index    M x 4 bytes, M = next power of two >= 1.5 x tableSize (load <= 2/3):
 *              linear probing; a slot holds (hash tag << 24 | entry number), -1 = empty.
 *              Deletion is by backward shift, so there are no tombstones to fill it.
 *   => 48 + 4 x M / tableSize bytes per IP: 58.5 bytes for the default 100,000
 *      (5.85 MB in all).
 *
 * Entries never move (the index holds their numbers), so the idle-LRU list
 * links stay valid across deletions: eviction is exact LRU, O(1).
 *
 * Keys: an IP is parsed into 16 bytes without allocating; IPv4 and
 * IPv4-mapped IPv6 ("::ffff:1.2.3.4") are the same key. A zone index
 * ("fe80::1%eth0") is ignored. A string that is not an address (the '' of a
 * socket already gone, or a test's name) gets a 64-bit hash key in 100::/64
 * (the discard-only prefix, never a real client).
 *
 * This module imports only node:crypto at run time, so a worker can load it as plain
 * JavaScript after a one-file transpile (the worker test does that).
 */
import { randomFillSync } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { sourceLimits, TOKEN, type AcquireResult, type SourceEntrySnapshot, type SourceLimiterLike, type SourceLimiterOptions, type SourceLimiterStats, type SourceLimits } from './source-limiter';

const MAGIC = 0x46534c31; // "FSL1"
const MAX_TABLE_SIZE = 0xffffff - 1; // entry numbers share an index slot with an 8-bit tag

// Header, in Int32 words.
const H_LOCK = 0;
const H_MAGIC = 1;
const H_TABLE_SIZE = 2;
const H_INDEX_SLOTS = 3;
const H_SIZE = 4;
const H_IDLE = 5;
const H_ACTIVE = 6;
const H_IDLE_HEAD = 7;
const H_IDLE_TAIL = 8;
const H_FREE_HEAD = 9;
const H_MAX_CONN = 10; // 0: no cap
const H_ENABLED = 11;
const H_SEED = 12; // 4 words: 12..15
const H_OWNER = 22; // threadId + 1 of the lock holder, 0 when free (words 16..21 are the Float64 fields)
// Header, in Float64 words.
const HF_EVICTIONS = 8; // byte 64
const HF_RATE = 9; // byte 72: thousandths of a token per ms; 0 = off
const HF_CAPACITY = 10; // byte 80: bucket size in thousandths
const HEADER_BYTES = 128;

const ENTRY_BYTES = 48;
const ENTRY_I32 = ENTRY_BYTES / 4;
const ENTRY_F64 = ENTRY_BYTES / 8;
// Entry fields, in Int32 words from the entry's start.
const E_KEY = 0;
const E_ACTIVE = 4;
const E_HASH = 5;
const E_PREV = 6;
const E_NEXT = 7;
// Entry fields, in Float64 words from the entry's start.
const EF_TOKENS = 4;
const EF_LAST = 5;

const NONE = -1;
const SPIN = 64;

/** Bytes of the SharedArrayBuffer for a table of `tableSize` IPs (for sizing and tests). */
export function sharedSourceLimiterBytes(tableSize: number): number {
  return HEADER_BYTES + tableSize * ENTRY_BYTES + indexSlots(tableSize) * 4;
}

function indexSlots(tableSize: number): number {
  let m = 4;
  while (m < tableSize + (tableSize >>> 1)) m *= 2;
  return m;
}

/**
 * Milliseconds on the process-wide monotonic clock (CLOCK_MONOTONIC, as
 * process.hrtime), the same in every thread. performance.now() counts from
 * each thread's own start, so it is shifted once per thread by an offset
 * measured against hrtime; a call then costs what performance.now() costs.
 */
function calibrate(): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 9; i++) {
    const a = performance.now();
    const h = Number(process.hrtime.bigint()) / 1e6;
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      offset = h - (a + b) / 2;
    }
  }
  return offset;
}
let clockOffset = NaN;
export const sharedClock = {
  now(): number {
    if (clockOffset !== clockOffset) clockOffset = calibrate();
    return performance.now() + clockOffset;
  },
};

/** The options, checked against what the fixed table can hold; no cap is 0 in the header. */
function validate(options: SourceLimiterOptions): SourceLimits & { maxConnections: number } {
  const limits = sourceLimits(options, { maxConnections: 0x7fffffff, tableSize: MAX_TABLE_SIZE });
  return { ...limits, maxConnections: limits.maxConnections ?? 0 };
}

export class SharedSourceLimiter implements SourceLimiterLike {
  /** Post this (with the plain options) to workers; attach() there. */
  readonly memory: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** The index, after the entries. */
  private readonly idx: Int32Array;
  private readonly mask: number;
  private readonly tableSize: number;
  private readonly maxConnections: number;
  private readonly rate: number;
  private readonly capacity: number;
  private readonly enabled: boolean;
  private readonly clock: { now(): number };
  /** threadId + 1: written next to the lock word while this thread holds it. */
  private readonly owner = threadId + 1;
  private readonly s0: number;
  private readonly s1: number;
  private readonly s2: number;
  private readonly s3: number;
  /** The parsed key of the IP being looked up: reused, so parsing allocates nothing. */
  private k0 = 0;
  private k1 = 0;
  private k2 = 0;
  private k3 = 0;

  /** A new table in a new SharedArrayBuffer (main thread). */
  static create(options: SourceLimiterOptions = {}): SharedSourceLimiter {
    const limits = validate(options);
    const tableSize = limits.enabled ? limits.tableSize : 0;
    const slots = limits.enabled ? indexSlots(tableSize) : 0;
    const memory = new SharedArrayBuffer(HEADER_BYTES + tableSize * ENTRY_BYTES + slots * 4);
    const i32 = new Int32Array(memory);
    const f64 = new Float64Array(memory);
    i32[H_TABLE_SIZE] = tableSize;
    i32[H_INDEX_SLOTS] = slots;
    i32[H_IDLE_HEAD] = NONE;
    i32[H_IDLE_TAIL] = NONE;
    i32[H_MAX_CONN] = limits.maxConnections;
    i32[H_ENABLED] = limits.enabled ? 1 : 0;
    // A secret seed per table: clients cannot pick addresses that collide in the index.
    randomFillSync(i32, H_SEED, 4);
    f64[HF_RATE] = limits.rate;
    f64[HF_CAPACITY] = limits.capacity;
    // Free list: every entry, in order.
    const entries = HEADER_BYTES / 4;
    for (let e = 0; e < tableSize; e++) {
      i32[entries + e * ENTRY_I32 + E_ACTIVE] = NONE;
      i32[entries + e * ENTRY_I32 + E_NEXT] = e + 1 < tableSize ? e + 1 : NONE;
    }
    i32[H_FREE_HEAD] = tableSize > 0 ? 0 : NONE;
    new Int32Array(memory, HEADER_BYTES + tableSize * ENTRY_BYTES, slots).fill(NONE);
    Atomics.store(i32, H_MAGIC, MAGIC); // last: publishes the initialised table
    return new SharedSourceLimiter(memory, options);
  }

  /**
   * The table made by create() in another thread. `options` must carry the
   * same limits (a worker with stale settings would enforce others): a
   * mismatch throws. Only `clock` may differ.
   */
  static attach(memory: SharedArrayBuffer, options: SourceLimiterOptions = {}): SharedSourceLimiter {
    if (!(memory instanceof SharedArrayBuffer) || memory.byteLength < HEADER_BYTES) {
      throw new Error('attach needs the SharedArrayBuffer of a SharedSourceLimiter (its .memory)');
    }
    const i32 = new Int32Array(memory, 0, HEADER_BYTES / 4);
    if (Atomics.load(i32, H_MAGIC) !== MAGIC) throw new Error('attach: this SharedArrayBuffer is not a SharedSourceLimiter table');
    const limits = validate(options);
    const f64 = new Float64Array(memory, 0, HEADER_BYTES / 8);
    const enabled = i32[H_ENABLED] === 1;
    if (
      enabled !== limits.enabled ||
      (enabled &&
        (i32[H_MAX_CONN] !== limits.maxConnections ||
          f64[HF_RATE] !== limits.rate ||
          f64[HF_CAPACITY] !== limits.capacity ||
          i32[H_TABLE_SIZE] !== limits.tableSize))
    ) {
      throw new Error('attach: options differ from the ones the shared table was created with');
    }
    return new SharedSourceLimiter(memory, options);
  }

  private constructor(memory: SharedArrayBuffer, options: SourceLimiterOptions) {
    this.memory = memory;
    this.i32 = new Int32Array(memory);
    this.f64 = new Float64Array(memory, 0, memory.byteLength >>> 3);
    const i32 = this.i32;
    this.tableSize = i32[H_TABLE_SIZE];
    const slots = i32[H_INDEX_SLOTS];
    this.idx = new Int32Array(memory, HEADER_BYTES + this.tableSize * ENTRY_BYTES, slots);
    this.mask = slots - 1;
    this.maxConnections = i32[H_MAX_CONN] === 0 ? Infinity : i32[H_MAX_CONN];
    this.rate = this.f64[HF_RATE];
    this.capacity = this.f64[HF_CAPACITY];
    this.enabled = i32[H_ENABLED] === 1;
    this.s0 = i32[H_SEED];
    this.s1 = i32[H_SEED + 1];
    this.s2 = i32[H_SEED + 2];
    this.s3 = i32[H_SEED + 3];
    this.clock = options.clock ?? sharedClock;
  }

  /** IPs tracked now (never more than tableSize). */
  get size(): number {
    return Atomics.load(this.i32, H_SIZE);
  }

  /** Admits one connection from `ip`. On 'ok' call release(ip) once at close. */
  acquire(ip: string): AcquireResult {
    if (!this.enabled) return 'ok';
    // Read outside the lock: a throwing injected clock cannot leave it held.
    const now = this.rate > 0 ? this.clock.now() : 0;
    const h = this.parse(ip);
    const i32 = this.i32;
    const f64 = this.f64;
    this.lock();
    const slot = this.find(h);
    if (slot < 0) {
      // Fail closed when every tracked IP has live connections: forgetting one would lift its cap.
      if (i32[H_SIZE] >= this.tableSize && !this.evictIdle()) {
        this.unlock();
        return 'table_full';
      }
      // The eviction may have shifted index slots: probe again for the free one.
      const e = this.insert(h);
      const b = HEADER_BYTES / 4 + e * ENTRY_I32;
      i32[b + E_ACTIVE] = 1;
      const fb = HEADER_BYTES / 8 + e * ENTRY_F64;
      f64[fb + EF_TOKENS] = this.capacity - TOKEN;
      f64[fb + EF_LAST] = now;
      i32[H_ACTIVE]++;
      this.unlock();
      return 'ok';
    }
    const e = this.idx[slot] & 0xffffff;
    const b = HEADER_BYTES / 4 + e * ENTRY_I32;
    const active = i32[b + E_ACTIVE];
    if (active >= this.maxConnections) {
      this.unlock();
      return 'max_connections';
    }
    if (this.rate > 0) {
      const fb = HEADER_BYTES / 8 + e * ENTRY_F64;
      const tokens = this.refill(fb, now);
      if (tokens < TOKEN) {
        // A refused attempt is still use: keep this IP's spent bucket away from eviction.
        if (active === 0 && i32[H_IDLE_TAIL] !== e) {
          this.unlinkIdle(e);
          this.appendIdle(e);
        }
        this.unlock();
        return 'rate_limit';
      }
      f64[fb + EF_TOKENS] = tokens - TOKEN;
    }
    if (active === 0) this.unlinkIdle(e);
    i32[b + E_ACTIVE] = active + 1;
    i32[H_ACTIVE]++;
    this.unlock();
    return 'ok';
  }

  /** Ends one connection admitted by acquire(ip). Unknown IPs and extra releases are ignored. */
  release(ip: string): void {
    if (!this.enabled) return;
    const now = this.rate > 0 ? this.clock.now() : 0;
    const h = this.parse(ip);
    const i32 = this.i32;
    this.lock();
    const slot = this.find(h);
    if (slot < 0) return this.unlock();
    const e = this.idx[slot] & 0xffffff;
    const b = HEADER_BYTES / 4 + e * ENTRY_I32;
    const active = i32[b + E_ACTIVE];
    if (active === 0) return this.unlock();
    i32[b + E_ACTIVE] = active - 1;
    i32[H_ACTIVE]--;
    if (active > 1) return this.unlock();
    if (this.rate > 0) {
      // A spent bucket must be remembered, or reconnecting would reset the rate limit.
      if (this.refill(HEADER_BYTES / 8 + e * ENTRY_F64, now) < this.capacity) {
        this.appendIdle(e);
        return this.unlock();
      }
    }
    // Idle with a full bucket is the same as never seen: drop it now rather than wait for eviction.
    this.remove(slot, e);
    this.unlock();
  }

  stats(): SourceLimiterStats {
    const i32 = this.i32;
    if (!this.enabled) return { size: 0, idle: 0, active: 0, evictions: 0 };
    this.lock();
    const stats = { size: i32[H_SIZE], idle: i32[H_IDLE], active: i32[H_ACTIVE], evictions: this.f64[HF_EVICTIONS] };
    this.unlock();
    return stats;
  }

  /** The stored state of one IP (tokens in whole tokens, not refilled to now), for tests and debugging. */
  peek(ip: string): SourceEntrySnapshot | undefined {
    if (!this.enabled) return undefined;
    const h = this.parse(ip);
    this.lock();
    const slot = this.find(h);
    let snapshot: SourceEntrySnapshot | undefined;
    if (slot >= 0) {
      const e = this.idx[slot] & 0xffffff;
      const fb = HEADER_BYTES / 8 + e * ENTRY_F64;
      snapshot = {
        active: this.i32[HEADER_BYTES / 4 + e * ENTRY_I32 + E_ACTIVE],
        tokens: this.f64[fb + EF_TOKENS] / TOKEN,
        lastRefill: this.f64[fb + EF_LAST],
      };
    }
    this.unlock();
    return snapshot;
  }

  /**
   * For the thread that started the workers, after one exited (worker 'exit'
   * event): if that thread died holding the table's lock (worker.terminate()
   * can stop it inside an operation), the table may be half-updated and every
   * other thread would wait forever. Then the index, free list, idle list and
   * counters are rebuilt from the entries (the idle order becomes
   * least-recently-refilled first), the lock is freed, and this returns true.
   * O(tableSize); returns false at once in the normal case.
   */
  recoverFrom(deadThreadId: number): boolean {
    const i32 = this.i32;
    if (!this.enabled || Atomics.load(i32, H_LOCK) === 0 || Atomics.load(i32, H_OWNER) !== deadThreadId + 1) return false;
    // While the dead thread's id is in H_OWNER, it holds the lock: nobody else is inside.
    this.rebuild();
    i32[H_OWNER] = 0;
    Atomics.store(i32, H_LOCK, 0);
    Atomics.notify(i32, H_LOCK);
    return true;
  }

  private rebuild(): void {
    const i32 = this.i32;
    const f64 = this.f64;
    this.idx.fill(NONE);
    let size = 0;
    let active = 0;
    let freeHead = NONE;
    const idle: number[] = [];
    for (let e = this.tableSize - 1; e >= 0; e--) {
      const b = HEADER_BYTES / 4 + e * ENTRY_I32;
      const a = i32[b + E_ACTIVE];
      if (a < 0 || (a === 0 && this.rate === 0)) {
        i32[b + E_ACTIVE] = NONE;
        i32[b + E_NEXT] = freeHead;
        freeHead = e;
        continue;
      }
      const h = i32[b + E_HASH];
      let i = h & this.mask;
      while (this.idx[i] !== NONE) i = (i + 1) & this.mask;
      this.idx[i] = ((h >>> 24) << 24) | e;
      size++;
      active += a;
      if (a === 0) idle.push(e);
    }
    i32[H_FREE_HEAD] = freeHead;
    i32[H_SIZE] = size;
    i32[H_ACTIVE] = active;
    i32[H_IDLE] = 0;
    i32[H_IDLE_HEAD] = NONE;
    i32[H_IDLE_TAIL] = NONE;
    idle.sort((x, y) => f64[HEADER_BYTES / 8 + x * ENTRY_F64 + EF_LAST] - f64[HEADER_BYTES / 8 + y * ENTRY_F64 + EF_LAST]);
    for (const e of idle) this.appendIdle(e);
  }

  // --- lock ------------------------------------------------------------------
  // 0 free, 1 held, 2 held with (possible) waiters: Drepper's "Futexes are tricky" mutex 2.

  private lock(): void {
    const i32 = this.i32;
    let c = Atomics.compareExchange(i32, H_LOCK, 0, 1);
    if (c === 0) {
      i32[H_OWNER] = this.owner;
      return;
    }
    for (let n = 0; n < SPIN; n++) {
      c = Atomics.load(i32, H_LOCK);
      if (c === 0) {
        c = Atomics.compareExchange(i32, H_LOCK, 0, 1);
        if (c === 0) {
          i32[H_OWNER] = this.owner;
          return;
        }
      }
      if (c === 2) break;
    }
    if (c !== 2) c = Atomics.exchange(i32, H_LOCK, 2);
    while (c !== 0) {
      Atomics.wait(i32, H_LOCK, 2);
      c = Atomics.exchange(i32, H_LOCK, 2);
    }
    i32[H_OWNER] = this.owner;
  }

  private unlock(): void {
    this.i32[H_OWNER] = 0;
    if (Atomics.sub(this.i32, H_LOCK, 1) !== 1) {
      Atomics.store(this.i32, H_LOCK, 0);
      Atomics.notify(this.i32, H_LOCK, 1);
    }
  }

  // --- index -------------------------------------------------------------------

  /** The index slot of the parsed key (k0..k3, hash h), or -1. */
  private find(h: number): number {
    const idx = this.idx;
    const i32 = this.i32;
    const tag = h >>> 24;
    let i = h & this.mask;
    for (;;) {
      const v = idx[i];
      if (v === NONE) return -1;
      if (v >>> 24 === tag) {
        const b = HEADER_BYTES / 4 + (v & 0xffffff) * ENTRY_I32;
        if (i32[b] === this.k0 && i32[b + 1] === this.k1 && i32[b + 2] === this.k2 && i32[b + 3] === this.k3) return i;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** A free entry for the parsed key, linked into the index (the key is known absent and a free entry exists). */
  private insert(h: number): number {
    const i32 = this.i32;
    const e = i32[H_FREE_HEAD];
    const b = HEADER_BYTES / 4 + e * ENTRY_I32;
    i32[H_FREE_HEAD] = i32[b + E_NEXT];
    i32[b + E_KEY] = this.k0;
    i32[b + E_KEY + 1] = this.k1;
    i32[b + E_KEY + 2] = this.k2;
    i32[b + E_KEY + 3] = this.k3;
    i32[b + E_HASH] = h;
    i32[b + E_PREV] = NONE;
    i32[b + E_NEXT] = NONE;
    let i = h & this.mask;
    while (this.idx[i] !== NONE) i = (i + 1) & this.mask;
    this.idx[i] = ((h >>> 24) << 24) | e;
    i32[H_SIZE]++;
    return e;
  }

  /** Drops entry e (at index slot `slot`): backward-shift deletion, then e goes to the free list. */
  private remove(slot: number, e: number): void {
    const idx = this.idx;
    const i32 = this.i32;
    const mask = this.mask;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & mask;
      const v = idx[j];
      if (v === NONE) break;
      const home = i32[HEADER_BYTES / 4 + (v & 0xffffff) * ENTRY_I32 + E_HASH] & mask;
      // v may fill the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        idx[hole] = v;
        hole = j;
      }
    }
    idx[hole] = NONE;
    const b = HEADER_BYTES / 4 + e * ENTRY_I32;
    i32[b + E_ACTIVE] = NONE;
    i32[b + E_NEXT] = i32[H_FREE_HEAD];
    i32[H_FREE_HEAD] = e;
    i32[H_SIZE]--;
  }

  private evictIdle(): boolean {
    const i32 = this.i32;
    const victim = i32[H_IDLE_HEAD];
    if (victim === NONE) return false;
    this.unlinkIdle(victim);
    const b = HEADER_BYTES / 4 + victim * ENTRY_I32;
    const h = i32[b + E_HASH];
    let i = h & this.mask;
    while ((this.idx[i] & 0xffffff) !== victim) i = (i + 1) & this.mask;
    this.remove(i, victim);
    this.f64[HF_EVICTIONS]++;
    return true;
  }

  // --- idle LRU (exact: oldest at the head) ---------------------------------------

  private appendIdle(e: number): void {
    const i32 = this.i32;
    const b = HEADER_BYTES / 4 + e * ENTRY_I32;
    const tail = i32[H_IDLE_TAIL];
    i32[b + E_PREV] = tail;
    i32[b + E_NEXT] = NONE;
    if (tail === NONE) i32[H_IDLE_HEAD] = e;
    else i32[HEADER_BYTES / 4 + tail * ENTRY_I32 + E_NEXT] = e;
    i32[H_IDLE_TAIL] = e;
    i32[H_IDLE]++;
  }

  private unlinkIdle(e: number): void {
    const i32 = this.i32;
    const b = HEADER_BYTES / 4 + e * ENTRY_I32;
    const prev = i32[b + E_PREV];
    const next = i32[b + E_NEXT];
    if (prev === NONE) i32[H_IDLE_HEAD] = next;
    else i32[HEADER_BYTES / 4 + prev * ENTRY_I32 + E_NEXT] = next;
    if (next === NONE) i32[H_IDLE_TAIL] = prev;
    else i32[HEADER_BYTES / 4 + next * ENTRY_I32 + E_PREV] = prev;
    i32[b + E_PREV] = NONE;
    i32[b + E_NEXT] = NONE;
    i32[H_IDLE]--;
  }

  /**
   * Tokens of the entry at f64 word fb, refilled to `now` and stored. Clocks of
   * different threads may disagree by microseconds and a thread reads the clock
   * before it takes the lock, so a `now` behind lastRefill neither refills nor
   * moves lastRefill back (that would count the gap twice).
   */
  private refill(fb: number, now: number): number {
    const f64 = this.f64;
    let tokens = f64[fb + EF_TOKENS];
    const elapsed = now - f64[fb + EF_LAST];
    if (elapsed > 0) {
      f64[fb + EF_LAST] = now;
      tokens = Math.min(this.capacity, tokens + elapsed * this.rate);
      f64[fb + EF_TOKENS] = tokens;
    }
    return tokens;
  }

  // --- keys --------------------------------------------------------------------

  /** Parses `ip` into k0..k3 and returns its seeded hash. */
  private parse(ip: string): number {
    if (!this.parseIp(ip)) this.hashKey(ip);
    // murmur3_32 over the 4 words, each first XORed with a secret seed word.
    let h = 0x9747b28c;
    h = mixWord(h, this.k0 ^ this.s0);
    h = mixWord(h, this.k1 ^ this.s1);
    h = mixWord(h, this.k2 ^ this.s2);
    h = mixWord(h, this.k3 ^ this.s3);
    h ^= 16;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h;
  }

  /** A key in 100::/64 (discard-only) for a string that is not an IP address. */
  private hashKey(s: string): void {
    let a = 0x811c9dc5;
    let b = 0x2545f491;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.k0 = 0x01000000;
    this.k1 = 0;
    this.k2 = a | 0;
    this.k3 = b ^ s.length;
  }

  /** IPv4 or IPv6 text into k0..k3 (IPv4 as ::ffff:a.b.c.d); false when `s` is not an address. */
  private parseIp(s: string): boolean {
    const n = s.length;
    if (n === 0 || n > 60) return false;
    if (s.indexOf(':') === -1) {
      const v4 = parseV4(s, 0, n);
      if (v4 === -1) return false;
      this.k0 = 0;
      this.k1 = 0;
      this.k2 = 0xffff;
      this.k3 = v4 | 0;
      return true;
    }
    // Node's spelling of an IPv4 peer on a dual-stack listener: "::ffff:a.b.c.d".
    if (n > 7 && s.charCodeAt(6) === 58 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58 && (s.charCodeAt(2) | 32) === 102) {
      if ((s.charCodeAt(3) | 32) === 102 && (s.charCodeAt(4) | 32) === 102 && (s.charCodeAt(5) | 32) === 102) {
        const v4 = parseV4(s, 7, n);
        if (v4 !== -1) {
          this.k0 = 0;
          this.k1 = 0;
          this.k2 = 0xffff;
          this.k3 = v4 | 0;
          return true;
        }
      }
    }
    // IPv6: up to 8 groups; "::" once; an IPv4 tail for the last 32 bits; a zone after "%" ignored.
    let end = s.indexOf('%');
    if (end === -1) end = n;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    let groups = 0; // 16-bit groups written so far (before "::", then after)
    let gap = -1; // groups before "::"
    let i = 0;
    if (s.charCodeAt(0) === 58) {
      if (end < 2 || s.charCodeAt(1) !== 58) return false;
      gap = 0;
      i = 2;
      if (i === end) {
        this.k0 = this.k1 = this.k2 = this.k3 = 0;
        return true;
      }
    }
    // Groups after "::" are collected in `tail` words, then placed at the end.
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    let tailGroups = 0;
    for (;;) {
      // One group, or an IPv4 tail.
      let v = 0;
      let digits = 0;
      const start = i;
      while (i < end) {
        const c = s.charCodeAt(i);
        let d: number;
        if (c >= 48 && c <= 57) d = c - 48;
        else if (c >= 97 && c <= 102) d = c - 87;
        else if (c >= 65 && c <= 70) d = c - 55;
        else break;
        v = (v << 4) | d;
        digits++;
        i++;
      }
      let two = false; // an IPv4 tail: two groups
      let v2 = 0;
      if (i < end && s.charCodeAt(i) === 46) {
        const v4 = parseV4(s, start, end);
        if (v4 === -1) return false;
        v = v4 >>> 16;
        v2 = v4 & 0xffff;
        two = true;
        i = end;
      } else if (digits === 0 || digits > 4) {
        return false;
      }
      const count = two ? 2 : 1;
      if (gap === -1) {
        if (groups + count > 8) return false;
        for (let k = 0; k < count; k++) {
          const g = k === 0 ? v : v2;
          const at = groups++;
          if (at < 2) w0 |= g << (at === 0 ? 16 : 0);
          else if (at < 4) w1 |= g << (at === 2 ? 16 : 0);
          else if (at < 6) w2 |= g << (at === 4 ? 16 : 0);
          else w3 |= g << (at === 6 ? 16 : 0);
        }
      } else {
        if (groups + tailGroups + count > 7) return false;
        for (let k = 0; k < count; k++) {
          // Shift the tail left by one group and append.
          t0 = (t0 << 16) | (t1 >>> 16);
          t1 = (t1 << 16) | (t2 >>> 16);
          t2 = (t2 << 16) | (t3 >>> 16);
          t3 = (t3 << 16) | (k === 0 ? v : v2);
          tailGroups++;
        }
      }
      if (i === end) break;
      if (two || s.charCodeAt(i) !== 58) return false;
      i++;
      if (i < end && s.charCodeAt(i) === 58) {
        if (gap !== -1) return false;
        gap = groups;
        i++;
        if (i === end) break;
      } else if (i === end) {
        return false; // a trailing single ":"
      }
    }
    if (gap === -1 && groups !== 8) return false;
    this.k0 = w0 | t0;
    this.k1 = w1 | t1;
    this.k2 = w2 | t2;
    this.k3 = w3 | t3;
    return true;
  }
}

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** a.b.c.d in s[from, to) as an unsigned 32-bit number, or -1. */
function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}
