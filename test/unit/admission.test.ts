import { Acl } from '../../src/admission/acl';
import { foldClientIp, normalizeClientIp, parseCidr } from '../../src/admission/cidr';
import { SourceLimiter, type AcquireResult } from '../../src/admission/source-limiter';
import { prng } from '../helpers/prng';

const acl = (allow?: string[], deny?: string[]): Acl => new Acl(allow?.map(parseCidr), deny?.map(parseCidr));

class FakeClock {
  t = 0;
  now(): number {
    return this.t;
  }
}


describe('parseCidr', () => {
  test.each([
    ['10.0.0.0/8', 4, '10.0.0.0', 8, '10.0.0.0/8'],
    [' 192.168.1.7 ', 4, '192.168.1.7', 32, '192.168.1.7/32'],
    ['0.0.0.0/0', 4, '0.0.0.0', 0, '0.0.0.0/0'],
    ['2001:DB8::/32', 6, '2001:db8::', 32, '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, '2001:db8::1', 128, '2001:db8::1/128'],
    ['::1', 6, '::1', 128, '::1/128'],
    ['::/0', 6, '::', 0, '::/0'],
    // IPv4-mapped rules become IPv4 rules: mapped clients are matched as IPv4.
    ['::ffff:10.0.0.0/104', 4, '10.0.0.0', 8, '10.0.0.0/8'],
    ['::ffff:1.2.3.4', 4, '1.2.3.4', 32, '1.2.3.4/32'],
    ['::ffff:0:0/96', 4, '0.0.0.0', 0, '0.0.0.0/0'],
  ])('%j', (text, family, address, prefix, canonical) => {
    expect(parseCidr(text)).toEqual({ family, address, prefix, text: canonical });
  });

  test.each([
    ['10.0.0.0/33', '"10.0.0.0/33": prefix must be 0..32 for IPv4'],
    ['2001:db8::/129', '"2001:db8::/129": prefix must be 0..128 for IPv6'],
    ['10.0.0.0/', '"10.0.0.0/" has "/" but no prefix length'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8": prefix "8/8" is not a number'],
    ['10.0.0.0/-1', 'prefix "-1" is not a number'],
    ['example.com', '"example.com": not an IP address or CIDR'],
    ['10.0.0', 'not an IP address or CIDR'],
    ['010.0.0.1', 'not an IP address or CIDR'],
    ['256.0.0.0/8', 'not an IP address or CIDR'],
    ['2001:db8:::1', 'not an IP address or CIDR'],
    ['/8', 'not an IP address or CIDR'],
    ['fe80::1%eth0', 'zone indexes'],
    ['', 'is empty'],
    ['10.1.2.3/8', '"10.1.2.3/8": host bits are set; write "10.0.0.0/8" for the network or "10.1.2.3/32" for one address'],
    ['2001:db8::1/32', 'host bits are set; write "2001:db8::/32" for the network or "2001:db8::1/128" for one address'],
  ])('%j is refused', (text, message) => {
    expect(() => parseCidr(text)).toThrow(message);
  });
});

describe('normalizeClientIp', () => {
  test.each([
    ['1.2.3.4', '1.2.3.4', 4],
    ['::ffff:1.2.3.4', '1.2.3.4', 4],
    ['::FFFF:1.2.3.4', '1.2.3.4', 4],
    ['0:0:0:0:0:ffff:102:304', '1.2.3.4', 4],
    ['::1', '::1', 6],
    ['2001:db8::ffff:1', '2001:db8::ffff:1', 6],
    ['::1.2.3.4', '::1.2.3.4', 6], // IPv4-compatible, not mapped: stays IPv6
  ])('%j', (input, ip, family) => {
    expect(normalizeClientIp(input)).toEqual({ ip, family });
  });

  test('non-addresses throw; foldClientIp returns undefined', () => {
    expect(() => normalizeClientIp('nope')).toThrow('"nope" is not an IP address');
    expect(foldClientIp('')).toBeUndefined();
    expect(foldClientIp('::ffff:1.2.3')).toBeUndefined();
  });
});

describe('Acl', () => {
  test('no lists, or empty lists: everyone passes', () => {
    for (const a of [acl(), acl([], []), acl([], undefined)]) {
      expect(a.allowsAll).toBe(true);
      expect(a.check('10.0.0.1')).toBe(true);
      expect(a.check('2001:db8::1')).toBe(true);
    }
  });

  test('allow only: just the listed networks pass', () => {
    const a = acl(['10.0.0.0/8', '192.0.2.7']);
    expect(a.allowsAll).toBe(false);
    expect(a.check('10.1.2.3')).toBe(true);
    expect(a.check('192.0.2.7')).toBe(true);
    expect(a.check('192.0.2.8')).toBe(false);
    expect(a.check('11.0.0.1')).toBe(false);
    expect(a.check('2001:db8::1')).toBe(false); // no IPv6 rule admits IPv6 clients
  });

  test('deny only: everyone but the listed networks passes', () => {
    const a = acl(undefined, ['192.168.0.0/16']);
    expect(a.check('192.168.1.1')).toBe(false);
    expect(a.check('10.0.0.1')).toBe(true);
    expect(a.check('::1')).toBe(true);
  });

  test('allow and deny: deny wins', () => {
    const a = acl(['10.0.0.0/8'], ['10.1.0.0/16']);
    expect(a.check('10.1.2.3')).toBe(false);
    expect(a.check('10.2.0.1')).toBe(true);
    expect(a.check('11.0.0.1')).toBe(false);
  });

  test('IPv6 rules match IPv6 clients only, IPv4 rules IPv4 clients only', () => {
    const a = acl(['2001:db8::/32']);
    expect(a.check('2001:db8::1')).toBe(true);
    expect(a.check('2001:db9::1')).toBe(false);
    expect(a.check('10.0.0.1')).toBe(false);
    // Node's BlockList alone would let "::/0" match IPv4 clients; per-family lists must not.
    expect(acl(undefined, ['::/0']).check('1.2.3.4')).toBe(true);
    expect(acl(undefined, ['::/0']).check('::ffff:1.2.3.4')).toBe(true);
    expect(acl(undefined, ['::/0']).check('2001:db8::1')).toBe(false);
    expect(acl(undefined, ['0.0.0.0/0']).check('::1')).toBe(true);
    expect(acl(['::/0']).check('1.2.3.4')).toBe(false);
  });

  test('IPv4-mapped clients are matched by IPv4 rules', () => {
    const allow = acl(['10.0.0.0/8']);
    expect(allow.check('::ffff:10.1.2.3')).toBe(true);
    expect(allow.check('::FFFF:10.1.2.3')).toBe(true);
    expect(allow.check('0:0:0:0:0:ffff:a01:203')).toBe(true);
    expect(allow.check('::ffff:11.1.2.3')).toBe(false);
    expect(acl(undefined, ['10.0.0.0/8']).check('::ffff:10.1.2.3')).toBe(false);
    // A mapped rule is an IPv4 rule: it matches plain IPv4 clients too.
    expect(acl(['::ffff:10.0.0.0/104']).check('10.9.9.9')).toBe(true);
  });

  test('with rules, a string that is not an address is refused', () => {
    expect(acl(undefined, ['10.0.0.0/8']).check('garbage')).toBe(false);
    expect(acl(['0.0.0.0/0', '::/0']).check('')).toBe(false);
  });
});

describe('SourceLimiter', () => {
  test('concurrent cap per IP; release frees a slot; other IPs are independent', () => {
    const lim = new SourceLimiter({ maxConnections: 3 });
    expect([1, 2, 3].map(() => lim.acquire('1.1.1.1'))).toEqual(['ok', 'ok', 'ok']);
    expect(lim.acquire('1.1.1.1')).toBe('max_connections');
    expect(lim.acquire('2.2.2.2')).toBe('ok');
    lim.release('1.1.1.1');
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    expect(lim.acquire('1.1.1.1')).toBe('max_connections');
    expect(lim.stats()).toEqual({ size: 2, idle: 0, active: 4, evictions: 0 });
    // Without a rate limit an IP with no connections carries no state: dropped on its last release.
    for (let i = 0; i < 3; i++) lim.release('1.1.1.1');
    expect(lim.peek('1.1.1.1')).toBeUndefined();
    expect(lim.size).toBe(1);
  });

  test('release of an unknown IP, or one release too many, is a no-op', () => {
    const lim = new SourceLimiter({ maxConnections: 1, ratePerSecond: 1, burst: 3, clock: new FakeClock() });
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
    const lim = new SourceLimiter({ ratePerSecond: 10, burst: 5, clock });
    const tryN = (n: number): AcquireResult[] => Array.from({ length: n }, () => lim.acquire('1.1.1.1'));
    const oks = (results: AcquireResult[]): number => results.filter((r) => r === 'ok').length;

    expect(oks(tryN(7))).toBe(5); // t=0: the burst
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 99; // 0.99 tokens
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 100; // 1 token
    expect(tryN(2)).toEqual(['ok', 'rate_limit']);
    // Fractional refills add up exactly: 10 + 20 + 70 ms = 1 token.
    clock.t = 110;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 130;
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit');
    clock.t = 200;
    expect(tryN(2)).toEqual(['ok', 'rate_limit']);
    clock.t = 450; // 2.5 tokens
    expect(oks(tryN(4))).toBe(2);
    expect(lim.peek('1.1.1.1')?.tokens).toBeCloseTo(0.5, 10);
    clock.t = 60_000; // a long pause refills to burst, not beyond
    expect(oks(tryN(10))).toBe(5);
    expect(lim.acquire('2.2.2.2')).toBe('ok'); // a new IP starts with a full bucket
  });

  test('rate limit survives disconnects; an IP idle long enough to refill is forgotten', () => {
    const clock = new FakeClock();
    const lim = new SourceLimiter({ ratePerSecond: 1, burst: 2, clock });
    expect([lim.acquire('1.1.1.1'), lim.acquire('1.1.1.1'), lim.acquire('1.1.1.1')]).toEqual(['ok', 'ok', 'rate_limit']);
    lim.release('1.1.1.1');
    lim.release('1.1.1.1');
    expect(lim.acquire('1.1.1.1')).toBe('rate_limit'); // reconnecting does not reset the bucket
    clock.t = 1000;
    expect(lim.acquire('1.1.1.1')).toBe('ok');
    clock.t = 3000;
    lim.release('1.1.1.1'); // bucket full again: dropped eagerly
    expect(lim.size).toBe(0);
  });

  test('table full and every entry live: new IPs get table_full, known IPs still work', () => {
    const lim = new SourceLimiter({ maxConnections: 2, tableSize: 3 });
    for (const ip of ['1.0.0.1', '1.0.0.2', '1.0.0.3']) expect(lim.acquire(ip)).toBe('ok');
    expect(lim.acquire('1.0.0.4')).toBe('table_full');
    expect(lim.acquire('1.0.0.1')).toBe('ok');
    expect(lim.acquire('1.0.0.1')).toBe('max_connections');
    expect(lim.size).toBe(3);
    lim.release('1.0.0.2'); // no rate limit: its entry goes, making room
    expect(lim.acquire('1.0.0.4')).toBe('ok');
    expect(lim.stats()).toEqual({ size: 3, idle: 0, active: 4, evictions: 0 });
  });

  test('table full with idle entries: the least recently used idle entry is evicted', () => {
    const clock = new FakeClock();
    // burst 1: a released IP keeps a spent bucket, so it stays in the table as idle.
    const lim = new SourceLimiter({ ratePerSecond: 1, burst: 1, tableSize: 4, clock });
    for (const ip of ['a', 'b', 'c', 'd']) expect(lim.acquire(ip)).toBe('ok');
    lim.release('a');
    lim.release('b');
    lim.release('c'); // idle, oldest first: a b c; d is live
    expect(lim.acquire('a')).toBe('rate_limit'); // a refused attempt is use: idle order b c a
    expect(lim.acquire('e')).toBe('ok');
    expect(lim.peek('b')).toBeUndefined();
    expect(lim.acquire('f')).toBe('ok');
    expect(lim.peek('c')).toBeUndefined();
    expect(lim.acquire('g')).toBe('ok');
    expect(lim.peek('a')).toBeUndefined();
    expect(lim.acquire('h')).toBe('table_full'); // d e f g are all live
    expect(lim.stats()).toEqual({ size: 4, idle: 0, active: 4, evictions: 3 });
    expect(lim.peek('d')).toEqual({ active: 1, tokens: 0, lastRefill: 0 });
  });

  test('options are validated; no limits means nothing is tracked', () => {
    expect(() => new SourceLimiter({ maxConnections: 0 })).toThrow('maxConnections');
    expect(() => new SourceLimiter({ ratePerSecond: -1 })).toThrow('ratePerSecond');
    expect(() => new SourceLimiter({ burst: 5 })).toThrow('burst needs ratePerSecond');
    expect(() => new SourceLimiter({ ratePerSecond: 1, burst: 0.5 })).toThrow('burst');
    expect(() => new SourceLimiter({ maxConnections: 1, tableSize: 0 })).toThrow('tableSize');
    const open = new SourceLimiter({ tableSize: 1 });
    for (let i = 0; i < 10; i++) expect(open.acquire(`10.0.0.${i}`)).toBe('ok');
    expect(open.size).toBe(0);
    // A rate under 1/s still admits a new IP once (burst defaults to at least 1).
    const slow = new SourceLimiter({ ratePerSecond: 0.5, clock: new FakeClock() });
    expect([slow.acquire('x'), slow.acquire('x')]).toEqual(['ok', 'rate_limit']);
  });

  test('100,000 random operations never grow the table past tableSize', () => {
    const rand = prng(42);
    const clock = new FakeClock();
    const tableSize = 64;
    const lim = new SourceLimiter({ maxConnections: 3, ratePerSecond: 2, burst: 4, tableSize, clock });
    const live: string[] = [];
    const perIp = new Map<string, number>();
    let maxSize = 0;
    let wrong = 0;
    const seen: Record<AcquireResult, number> = { ok: 0, max_connections: 0, rate_limit: 0, table_full: 0 };
    for (let i = 0; i < 100_000; i++) {
      clock.t += Math.floor(rand() * 5);
      if (live.length === 0 || rand() < 0.55) {
        // A few busy clients (hitting the caps) among many occasional ones (filling the table).
        const ip = rand() < 0.3 ? `192.0.2.${Math.floor(rand() * 8)}` : `10.0.${Math.floor(rand() * 2)}.${Math.floor(rand() * 128)}`;
        const before = perIp.get(ip) ?? 0;
        const full = lim.size === tableSize;
        const r = lim.acquire(ip);
        seen[r]++;
        // Cross-check against a model of live connections per IP.
        if ((r === 'ok' && before >= 3) || (r === 'max_connections' && before !== 3) || (r === 'table_full' && !full)) {
          wrong++;
        }
        if (r === 'ok') {
          live.push(ip);
          perIp.set(ip, before + 1);
        }
      } else {
        const k = Math.floor(rand() * live.length);
        lim.release(live[k]);
        perIp.set(live[k], perIp.get(live[k])! - 1);
        live[k] = live[live.length - 1];
        live.pop();
      }
      // One comparison per step, one assertion after: expect() per step would dominate the run time.
      if (lim.size > maxSize) maxSize = lim.size;
    }
    expect(maxSize).toBeLessThanOrEqual(tableSize);
    expect(wrong).toBe(0);
    const stats = lim.stats();
    expect(stats.active).toBe(live.length);
    expect(stats.idle).toBeLessThanOrEqual(stats.size);
    for (const r of Object.keys(seen) as AcquireResult[]) expect(seen[r]).toBeGreaterThan(0);
    expect(stats.evictions).toBeGreaterThan(0);
    for (const ip of live) lim.release(ip);
    expect(lim.stats().active).toBe(0);
    expect(lim.stats().idle).toBe(lim.size);
  });
});
