/**
 * Per-client-IP admission limits on the accept path: a cap on concurrent
 * connections and a token-bucket connection rate, kept in a bounded table
 * so a flood of distinct sources cannot grow memory without limit.
 * Every operation is O(1): a Map lookup plus an intrusive idle-LRU list.
 */

export type AcquireResult = 'ok' | 'max_connections' | 'rate_limit' | 'table_full';

/** What the accept path needs of a per-source limiter: SourceLimiter (one thread) or SharedSourceLimiter (all workers). */
export interface SourceLimiterLike {
  acquire(ip: string): AcquireResult;
  release(ip: string): void;
  stats(): SourceLimiterStats;
}

export interface SourceLimiterOptions {
  /** Concurrent connections per IP (absent: no cap). */
  maxConnections?: number;
  /** New connections per second per IP, refilled continuously (absent: no rate limit). */
  ratePerSecond?: number;
  /** Bucket size; default ratePerSecond (at least 1, so a new IP can always connect once). */
  burst?: number;
  /** Most IPs tracked at once (default 100,000). */
  tableSize?: number;
  /** Milliseconds; default is monotonic (performance.now) so wall-clock steps cannot refill buckets. */
  clock?: { now(): number };
}

export interface SourceLimiterStats {
  /** IPs tracked. */
  size: number;
  /** Tracked IPs with no live connection (evictable). */
  idle: number;
  /** Live connections over all IPs. */
  active: number;
  /** Idle IPs dropped to make room for a new one. */
  evictions: number;
}

export interface SourceEntrySnapshot {
  active: number;
  tokens: number;
  lastRefill: number;
}

/** One whole token in the bucket's units: thousandths, so integer rates on a ms clock refill exactly. */
export const TOKEN = 1000;

class Entry {
  active = 0;
  /** In thousandths of a token: elapsedMs * ratePerSecond is then exact, with no float drift. */
  tokens: number;
  lastRefill: number;
  /** Links in the idle-LRU list; used only while active === 0. */
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;

  constructor(
    readonly ip: string,
    tokens: number,
    now: number,
  ) {
    this.tokens = tokens;
    this.lastRefill = now;
  }
}

const monotonic = { now: () => performance.now() };

/** Validated limits in the table's units (tokens in thousandths); both limiters start from these. */
export interface SourceLimits {
  /** null: no cap. */
  maxConnections: number | null;
  /** Thousandths of a token per ms (= tokens per second); 0 when rate limiting is off. */
  rate: number;
  /** Bucket size in thousandths of a token. */
  capacity: number;
  tableSize: number;
  /** Neither limit configured. */
  enabled: boolean;
}

/** Checks the options (throws naming the bad one); `bounds` are a fixed-size table's limits. */
export function sourceLimits(options: SourceLimiterOptions, bounds: { maxConnections: number; tableSize: number } = { maxConnections: Infinity, tableSize: Infinity }): SourceLimits {
  const { maxConnections, ratePerSecond, burst, tableSize = 100_000 } = options;
  if (maxConnections !== undefined && !(Number.isInteger(maxConnections) && maxConnections >= 1 && maxConnections <= bounds.maxConnections)) {
    throw new Error(`maxConnections must be an integer >= 1 (got ${maxConnections})`);
  }
  if (ratePerSecond !== undefined && !(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
    throw new Error(`ratePerSecond must be a number > 0 (got ${ratePerSecond})`);
  }
  if (burst !== undefined) {
    if (ratePerSecond === undefined) throw new Error('burst needs ratePerSecond');
    if (!(Number.isFinite(burst) && burst >= 1)) throw new Error(`burst must be a number >= 1 (got ${burst})`);
  }
  if (!(Number.isInteger(tableSize) && tableSize >= 1 && tableSize <= bounds.tableSize)) {
    const upTo = Number.isFinite(bounds.tableSize) ? ` and <= ${bounds.tableSize}` : '';
    throw new Error(`tableSize must be an integer >= 1${upTo} (got ${tableSize})`);
  }
  const rate = ratePerSecond ?? 0;
  return {
    maxConnections: maxConnections ?? null,
    rate,
    capacity: Math.round((burst ?? Math.max(1, rate)) * TOKEN),
    tableSize,
    enabled: maxConnections !== undefined || ratePerSecond !== undefined,
  };
}

export class SourceLimiter implements SourceLimiterLike {
  private readonly maxConnections: number;
  /** Thousandths of a token per ms (= tokens per second); 0 when rate limiting is off. */
  private readonly rate: number;
  private readonly capacity: number;
  private readonly tableSize: number;
  private readonly clock: { now(): number };
  /** Neither limit configured: acquire/release do nothing, no table is kept. */
  private readonly enabled: boolean;
  private readonly table = new Map<string, Entry>();
  /** Entries with active === 0, least recently used first: eviction takes the head. */
  private idleHead: Entry | undefined = undefined;
  private idleTail: Entry | undefined = undefined;
  private idleCount = 0;
  private activeCount = 0;
  private evictions = 0;

  constructor(options: SourceLimiterOptions = {}) {
    const limits = sourceLimits(options);
    this.maxConnections = limits.maxConnections ?? Infinity;
    this.rate = limits.rate;
    this.capacity = limits.capacity;
    this.tableSize = limits.tableSize;
    this.clock = options.clock ?? monotonic;
    this.enabled = limits.enabled;
  }

  /** IPs tracked now (never more than tableSize). */
  get size(): number {
    return this.table.size;
  }

  /** Admits one connection from `ip` (already folded, see normalizeClientIp). On 'ok' call release(ip) once at close. */
  acquire(ip: string): AcquireResult {
    if (!this.enabled) return 'ok';
    const now = this.rate > 0 ? this.clock.now() : 0;
    let entry = this.table.get(ip);
    if (entry === undefined) {
      // Fail closed when every tracked IP has live connections: forgetting one would lift its cap.
      if (this.table.size >= this.tableSize && !this.evictIdle()) return 'table_full';
      entry = new Entry(ip, this.capacity - TOKEN, now);
      entry.active = 1;
      this.activeCount++;
      this.table.set(ip, entry);
      return 'ok';
    }
    if (entry.active >= this.maxConnections) return 'max_connections';
    if (this.rate > 0) {
      this.refill(entry, now);
      if (entry.tokens < TOKEN) {
        // A refused attempt is still use: keep this IP's spent bucket away from eviction.
        if (entry.active === 0) this.touchIdle(entry);
        return 'rate_limit';
      }
      entry.tokens -= TOKEN;
    }
    if (entry.active === 0) this.unlinkIdle(entry);
    entry.active++;
    this.activeCount++;
    return 'ok';
  }

  /** Ends one connection admitted by acquire(ip). Unknown IPs and extra releases are ignored. */
  release(ip: string): void {
    if (!this.enabled) return;
    const entry = this.table.get(ip);
    if (entry === undefined || entry.active === 0) return;
    entry.active--;
    this.activeCount--;
    if (entry.active > 0) return;
    if (this.rate > 0) {
      this.refill(entry, this.clock.now());
      // A spent bucket must be remembered, or reconnecting would reset the rate limit.
      if (entry.tokens < this.capacity) {
        this.appendIdle(entry);
        return;
      }
    }
    // Idle with a full bucket is the same as never seen: drop it now rather than wait for eviction.
    this.table.delete(ip);
  }

  stats(): SourceLimiterStats {
    return { size: this.table.size, idle: this.idleCount, active: this.activeCount, evictions: this.evictions };
  }

  /** The stored state of one IP (tokens in whole tokens, not refilled to now), for tests and debugging. */
  peek(ip: string): SourceEntrySnapshot | undefined {
    const entry = this.table.get(ip);
    if (entry === undefined) return undefined;
    return { active: entry.active, tokens: entry.tokens / TOKEN, lastRefill: entry.lastRefill };
  }

  private refill(entry: Entry, now: number): void {
    const elapsed = now - entry.lastRefill;
    entry.lastRefill = now;
    // elapsed < 0 only with a stepping injected clock: restart from now rather than refill.
    if (elapsed > 0) entry.tokens = Math.min(this.capacity, entry.tokens + elapsed * this.rate);
  }

  private evictIdle(): boolean {
    const victim = this.idleHead;
    if (victim === undefined) return false;
    this.unlinkIdle(victim);
    this.table.delete(victim.ip);
    this.evictions++;
    return true;
  }

  private appendIdle(entry: Entry): void {
    entry.prev = this.idleTail;
    entry.next = undefined;
    if (this.idleTail === undefined) this.idleHead = entry;
    else this.idleTail.next = entry;
    this.idleTail = entry;
    this.idleCount++;
  }

  private unlinkIdle(entry: Entry): void {
    if (entry.prev === undefined) this.idleHead = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.idleTail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    this.idleCount--;
  }

  private touchIdle(entry: Entry): void {
    if (this.idleTail === entry) return;
    this.unlinkIdle(entry);
    this.appendIdle(entry);
  }
}
