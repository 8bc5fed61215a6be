import { SourceLimiter, type AcquireResult, type SourceLimiterLike, type SourceLimiterOptions } from '../../src/admission/source-limiter';
import { SharedSourceLimiter, sharedClock, sharedSourceLimiterBytes } from '../../src/admission/shared-source-limiter';
import { prng } from '../helpers/prng';

class FakeClock {
  t = 0;
  now(): number {
    return this.t;
  }
}

// The SourceLimiter tests of admission.test.ts with the same expectations, on a table made by
// create() and on a second instance attached to it (the view a worker gets).
describe.each([
  ['created', (o: SourceLimiterOptions) => SharedSourceLimiter.create(o)],
  ['attached', (o: SourceLimiterOptions) => SharedSourceLimiter.attach(SharedSourceLimiter.create(o).memory, o)],
])('SharedSourceLimiter (%s)', (_how, make) => {
  test('concurrent cap per IP; release frees a slot; other IPs are independent', () => {
    const lim = make({ maxConnections: 3 });
    expect([1, 2, 3].map(() => lim.acquire('1.1.1.1'))).toEqual(['ok', 'ok', 'ok']);
    expect(lim.acquire('1.1.1.1')).toBe('max_connections');
    expect(lim.acquire('2.2.2.2')).toBe('ok');
    lim.release('1.1.1.1');
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    expect(lim.acquire('1.1.1.1')).toBe('max_connections');
    expect(lim.stats()).toEqual({ size: 2, idle: 0, active: 4, evictions: 0 });
    for (let i = 0; i < 3; i++) lim.release('1.1.1.1');
    expect(lim.peek('1.1.1.1')).toBeUndefined();
    expect(lim.size).toBe(1);
  });

  test('release of an unknown IP, or one release too many, is a no-op', () => {
    const lim = make({ maxConnections: 1, ratePerSecond: 1, burst: 3, clock: new FakeClock() });
    lim.release('9.9.9.9');
    expect(lim.stats()).toEqual({ size: 0, idle: 0, active: 0, evictions: 0 });
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    lim.release('1.1.1.1');
    lim.release('1.1.1.1');
    expect(lim.peek('1.1.1.1')).toEqual({ active: 0, tokens: 2, lastRefill: 0 });
    expect(lim.stats()).toEqual({ size: 1, idle: 1, active: 0, evictions: 0 });
  });

  test('token bucket: burst, then continuous refill at the rate, capped at burst', () => {
    const clock = new FakeClock();
    const lim = make({ ratePerSecond: 10, burst: 5, clock });
    const tryN = (n: number): AcquireResult[] => Array.from({ length: n }, () => lim.acquire('1.1.1.1'));
    const oks = (results: AcquireResult[]): number => results.filter((r) => r === 'ok').length;

    expect(oks(tryN(7))).toBe(5);
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 99;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 100;
    expect(tryN(2)).toEqual(['ok', 'rate_limit']);
    clock.t = 110;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 130;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 200;
    expect(tryN(2)).toEqual(['ok', 'rate_limit']);
    clock.t = 450;
    expect(oks(tryN(4))).toBe(2);
    expect(lim.peek('1.1.1.1')?.tokens).toBeCloseTo(0.5, 10);
    clock.t = 60_000;
    expect(oks(tryN(10))).toBe(5);
    expect(lim.acquire('2.2.2.2')).toBe('ok');
  });

  test('rate limit survives disconnects; an IP idle long enough to refill is forgotten', () => {
    const clock = new FakeClock();
    const lim = make({ ratePerSecond: 1, burst: 2, clock });
    expect([lim.acquire('1.1.1.1'), lim.acquire('1.1.1.1'), lim.acquire('1.1.1.1')]).toEqual(['ok', 'ok', 'rate_limit']);
    lim.release('1.1.1.1');
    lim.release('1.1.1.1');
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 1000;
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    clock.t = 3000;
    lim.release('1.1.1.1');
    expect(lim.size).toBe(0);
  });

  test('a clock reading behind the stored one (another thread read it first) neither refills nor moves time back', () => {
    const clock = new FakeClock();
    const lim = make({ ratePerSecond: 1, burst: 1, clock });
    clock.t = 1000;
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    clock.t = 999;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    expect(lim.peek('1.1.1.1')).toEqual({ active: 1, tokens: 0, lastRefill: 1000 });
    clock.t = 1999;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit'); // 0.999 tokens: the 1 ms is not counted twice
    clock.t = 2000;
    expect(lim.acquire('1.1.1.1')).toBe('ok');
  });

  test('table full and every entry live: new IPs get table_full, known IPs still work', () => {
    const lim = make({ maxConnections: 2, tableSize: 3 });
    for (const ip of ['1.0.0.1', '1.0.0.2', '1.0.0.3']) expect(lim.acquire(ip)).toBe('ok');
    expect(lim.acquire('1.0.0.4')).toBe('table_full');
    expect(lim.acquire('1.0.0.1')).toBe('ok');
    expect(lim.acquire('1.0.0.1')).toBe('max_connections');
    expect(lim.size).toBe(3);
    lim.release('1.0.0.2');
    expect(lim.acquire('1.0.0.4')).toBe('ok');
    expect(lim.stats()).toEqual({ size: 3, idle: 0, active: 4, evictions: 0 });
  });

  test('table full with idle entries: the least recently used idle entry is evicted', () => {
    const clock = new FakeClock();
    const lim = make({ ratePerSecond: 1, burst: 1, tableSize: 4, clock });
    for (const ip of ['a', 'b', 'c', 'd']) expect(lim.acquire(ip)).toBe('ok');
    lim.release('a');
    lim.release('b');
    lim.release('c');
    expect(lim.acquire('a')).toBe('rate_limit');
    expect(lim.acquire('e')).toBe('ok');
    expect(lim.peek('b')).toBeUndefined();
    expect(lim.acquire('f')).toBe('ok');
    expect(lim.peek('c')).toBeUndefined();
    expect(lim.acquire('g')).toBe('ok');
    expect(lim.peek('a')).toBeUndefined();
    expect(lim.acquire('h')).toBe('table_full');
    expect(lim.stats()).toEqual({ size: 4, idle: 0, active: 4, evictions: 3 });
    expect(lim.peek('d')).toEqual({ active: 1, tokens: 0, lastRefill: 0 });
  });

  test('options are validated; no limits means nothing is tracked', () => {
    expect(() => make({ maxConnections: 0 })).toThrow('maxConnections');
    expect(() => make({ ratePerSecond: -1 })).toThrow('ratePerSecond');
    expect(() => make({ burst: 5 })).toThrow('burst needs ratePerSecond');
    expect(() => make({ ratePerSecond: 1, burst: 0.5 })).toThrow('burst');
    expect(() => make({ maxConnections: 1, tableSize: 0 })).toThrow('tableSize');
    expect(() => make({ maxConnections: 1, tableSize: 1 << 24 })).toThrow('tableSize');
    const open = make({ tableSize: 1 });
    for (let i = 0; i < 10; i++) expect(open.acquire(`10.0.0.${i}`)).toBe('ok');
    expect(open.size).toBe(0);
    expect(open.memory.byteLength).toBe(128); // no table kept
    const slow = make({ ratePerSecond: 0.5, clock: new FakeClock() });
    expect([slow.acquire('x'), slow.acquire('x')]).toEqual(['ok', 'rate_limit']);
  });

  test('100,000 random operations never grow the table past tableSize, and agree with SourceLimiter step by step', () => {
    const rand = prng(42);
    const clock = new FakeClock();
    const tableSize = 64;
    const options = { maxConnections: 3, ratePerSecond: 2, burst: 4, tableSize, clock };
    const lim = make(options);
    const reference = new SourceLimiter(options);
    const live: string[] = [];
    const perIp = new Map<string, number>();
    let maxSize = 0;
    let wrong = 0;
    let differ = 0;
    const seen: Record<AcquireResult, number> = { ok: 0, max_connections: 0, rate_limit: 0, table_full: 0 };
    for (let i = 0; i < 100_000; i++) {
      clock.t += Math.floor(rand() * 5);
      if (live.length === 0 || rand() < 0.55) {
        // IPv4 busy clients, and occasional ones in IPv4 and IPv6 (some spelled as IPv4-mapped IPv6).
        const r1 = rand();
        const ip =
          r1 < 0.3 ? `192.0.2.${Math.floor(rand() * 8)}` : r1 < 0.65 ? `10.0.${Math.floor(rand() * 2)}.${Math.floor(rand() * 128)}` : `2001:db8::${Math.floor(rand() * 256).toString(16)}`;
        const before = perIp.get(ip) ?? 0;
        const full = lim.size === tableSize;
        const r = lim.acquire(ip);
        if (reference.acquire(ip) !== r) differ++;
        seen[r]++;
        if ((r === 'ok' && before >= 3) || (r === 'max_connections' && before !== 3) || (r === 'table_full' && !full)) wrong++;
        if (r === 'ok') {
          live.push(ip);
          perIp.set(ip, before + 1);
        }
      } else {
        const k = Math.floor(rand() * live.length);
        lim.release(live[k]);
        reference.release(live[k]);
        perIp.set(live[k], perIp.get(live[k])! - 1);
        live[k] = live[live.length - 1];
        live.pop();
      }
      if (lim.size > maxSize) maxSize = lim.size;
      if (lim.size !== reference.size) differ++;
    }
    expect(maxSize).toBe(tableSize);
    expect(wrong).toBe(0);
    expect(differ).toBe(0);
    const stats = lim.stats();
    expect(stats).toEqual(reference.stats());
    expect(stats.active).toBe(live.length);
    for (const r of Object.keys(seen) as AcquireResult[]) expect(seen[r]).toBeGreaterThan(0);
    expect(stats.evictions).toBeGreaterThan(0);
    for (const ip of live) lim.release(ip);
    expect(lim.stats().active).toBe(0);
    expect(lim.stats().idle).toBe(lim.size);
  });
});

describe('SharedSourceLimiter keys', () => {
  test('IPv4 and its IPv4-mapped spellings are one client; IPv6 spellings of one address are one client', () => {
    const lim = SharedSourceLimiter.create({ maxConnections: 3 });
    expect(['1.2.3.4', '::ffff:1.2.3.4', '0:0:0:0:0:FFFF:102:304'].map((ip) => lim.acquire(ip))).toEqual(['ok', 'ok', 'ok']);
    expect(lim.acquire('::ffff:0102:0304')).toBe('max_connections');
    expect(lim.size).toBe(1);
    const v6 = ['2001:db8::1', '2001:0DB8:0:0:0:0:0:1', '2001:db8:0::0:1'];
    expect(v6.map((ip) => lim.acquire(ip))).toEqual(['ok', 'ok', 'ok']);
    expect(lim.acquire('2001:db8::1%eth0')).toBe('max_connections'); // zone ignored
    expect(lim.size).toBe(2);
  });

  test('distinct addresses are distinct keys', () => {
    const lim = SharedSourceLimiter.create({ maxConnections: 1, tableSize: 64 });
    const ips = [
      '::', '::1', '1::', '::1.2.3.4', '1.2.3.4', '1.2.3.5', '4.3.2.1', '2001:db8::', '2001:db8::1:0', '2001:db8:1::',
      '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1::8', '1:2::7:8', 'fe80::1', '::ffff:0:1.2.3.4', '255.255.255.255',
      '0.0.0.0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '100::', '', 'not-an-ip', '1.2.3', '1:2:3', ':::',
    ];
    expect(ips.map((ip) => lim.acquire(ip))).toEqual(ips.map(() => 'ok'));
    expect(ips.map((ip) => lim.acquire(ip))).toEqual(ips.map(() => 'max_connections'));
    expect(lim.size).toBe(ips.length);
  });

  test('strings that are not addresses are refused as IPs but tracked under a hash', () => {
    const lim = SharedSourceLimiter.create({ maxConnections: 1 });
    for (const s of ['1.2.3.256', '1.2.3.4.5', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::', '1:2:3:4:5:6:7:', '::ffff:1.2.3.4x']) {
      expect(lim.acquire(s)).toBe('ok');
      expect(lim.acquire(s)).toBe('max_connections');
    }
  });
});

describe('SharedSourceLimiter table', () => {
  test('bytes per tracked IP: 58.5 for the default 100,000 (5.85 MB)', () => {
    expect(sharedSourceLimiterBytes(100_000)).toBe(128 + 100_000 * 48 + 262_144 * 4);
    expect(SharedSourceLimiter.create({ maxConnections: 1 }).memory.byteLength).toBe(5_848_704);
  });

  test('attach refuses other memory and other limits', () => {
    const lim = SharedSourceLimiter.create({ maxConnections: 2, tableSize: 10 });
    expect(() => SharedSourceLimiter.attach(new SharedArrayBuffer(1024), { maxConnections: 2, tableSize: 10 })).toThrow('not a SharedSourceLimiter');
    expect(() => SharedSourceLimiter.attach(lim.memory, { maxConnections: 3, tableSize: 10 })).toThrow('options differ');
    expect(() => SharedSourceLimiter.attach(lim.memory, { maxConnections: 2 })).toThrow('options differ');
    expect(() => SharedSourceLimiter.attach(lim.memory, { maxConnections: 2, ratePerSecond: 1, tableSize: 10 })).toThrow('options differ');
    const other = SharedSourceLimiter.attach(lim.memory, { maxConnections: 2, tableSize: 10 });
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    expect(other.acquire('1.1.1.1')).toBe('ok');
    expect(lim.acquire('1.1.1.1')).toBe('max_connections');
    other.release('1.1.1.1');
    expect(lim.stats()).toEqual({ size: 1, idle: 0, active: 1, evictions: 0 });
  });

  test('a full table churned 200,000 times: deletions leave no residue (index probes stay short)', () => {
    const tableSize = 1000;
    const lim = SharedSourceLimiter.create({ maxConnections: 1, tableSize });
    const rand = prng(7);
    const live: string[] = [];
    for (let i = 0; i < tableSize; i++) {
      live.push(`10.${i >> 8}.${i & 255}.1`);
      expect(lim.acquire(live[i])).toBe('ok');
    }
    let bad = 0;
    for (let i = 0; i < 200_000; i++) {
      const k = Math.floor(rand() * tableSize);
      lim.release(live[k]);
      const ip = `${1 + Math.floor(rand() * 200)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${i & 255}`;
      const r = lim.acquire(ip);
      if (r === 'ok') live[k] = ip;
      else if (r !== 'max_connections' || lim.acquire(live[k]) !== 'ok') bad++;
    }
    expect(bad).toBe(0);
    expect(lim.stats()).toEqual({ size: tableSize, idle: 0, active: tableSize, evictions: 0 });
    for (const ip of live) expect(lim.acquire(ip)).toBe('max_connections');
    for (const ip of live) lim.release(ip);
    expect(lim.stats()).toEqual({ size: 0, idle: 0, active: 0, evictions: 0 });
    // Every index slot is empty again: backward shift leaves no tombstones.
    const slots = new Int32Array(lim.memory, 128 + tableSize * 48);
    expect(slots.every((v) => v === -1)).toBe(true);
  });

  test('recoverFrom: a table left locked and half-updated by a dead thread is rebuilt from its entries', () => {
    const clock = new FakeClock();
    const options = { maxConnections: 1, ratePerSecond: 1, burst: 1, tableSize: 8, clock };
    const lim = SharedSourceLimiter.create(options);
    for (const ip of ['1.0.0.1', '1.0.0.2', '1.0.0.3', '1.0.0.4']) expect(lim.acquire(ip)).toBe('ok');
    clock.t = 10;
    lim.release('1.0.0.2'); // idle (spent bucket), refilled at 10
    clock.t = 20;
    lim.release('1.0.0.3'); // idle, refilled at 20
    clock.t = 2000;
    expect(lim.recoverFrom(99)).toBe(false); // not locked: nothing to do
    const i32 = new Int32Array(lim.memory);
    // A thread (id 99) died inside an operation: lock held, index wiped half-way.
    Atomics.store(i32, 0, 1);
    i32[22] = 100;
    new Int32Array(lim.memory, 128 + 8 * 48).fill(-1, 0, 8);
    expect(lim.recoverFrom(98)).toBe(false); // another thread's death: not the holder
    expect(lim.recoverFrom(99)).toBe(true);
    expect(Atomics.load(i32, 0)).toBe(0);
    expect(lim.stats()).toEqual({ size: 4, idle: 2, active: 2, evictions: 0 });
    expect(lim.acquire('1.0.0.1')).toBe('max_connections');
    for (const ip of ['2.0.0.1', '2.0.0.2', '2.0.0.3', '2.0.0.4', '2.0.0.5']) expect(lim.acquire(ip)).toBe('ok');
    expect(lim.peek('1.0.0.2')).toBeUndefined(); // the 5th evicted the least recently refilled idle entry
    expect(lim.acquire('1.0.0.3')).toBe('ok'); // refilled by now
    expect(lim.acquire('2.0.0.6')).toBe('table_full');
    expect(lim.stats()).toEqual({ size: 8, idle: 0, active: 8, evictions: 1 });
  });

  test('the default clock is monotonic milliseconds', () => {
    const a = sharedClock.now();
    const b = sharedClock.now();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(Math.abs(sharedClock.now() - Number(process.hrtime.bigint()) / 1e6)).toBeLessThan(5);
  });

  test('both limiters are SourceLimiterLike', () => {
    const all: SourceLimiterLike[] = [new SourceLimiter({ maxConnections: 1 }), SharedSourceLimiter.create({ maxConnections: 1 })];
    expect(all.map((l) => [l.acquire('1.1.1.1'), l.acquire('1.1.1.1')])).toEqual([['ok', 'max_connections'], ['ok', 'max_connections']]);
  });
});
