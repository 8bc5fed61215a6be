import { createHmac } from 'node:crypto';
import {
  AdvertVerifier,
  decodeSessionBatch,
  encodeAdvert,
  encodeMessage,
  encodeSessionBatch,
  MAC_LENGTH,
  MAX_DATAGRAM_BYTES,
  MESSAGE_TYPE,
  SequenceCounter,
  SESSION_BATCH_MAX_BYTES,
  splitSessionBatches,
  type Advert,
  type SessionEntry,
  type VerifyFailure,
  type VerifyResult,
} from '../../src/manager/peer/wire';
import { prng } from '../helpers/prng';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const T0 = 1_700_000_000_000;
const REASONS: readonly VerifyFailure[] = ['truncated', 'bad_magic', 'bad_version', 'bad_mac', 'replay', 'stale_timestamp', 'malformed'];

function advert(over: Partial<Advert> = {}): Advert {
  return { version: 1, nodeId: 'lb-a', priority: 150, state: 'master', seq: 42n, timestamp: T0, ...over };
}

function verifier(now = T0, maxSkewMs?: number): AdvertVerifier {
  return new AdvertVerifier(KEY, { now: () => now, maxSkewMs });
}

function reason(r: VerifyResult): VerifyFailure | 'ok' {
  return r.ok ? 'ok' : r.reason;
}

/** Recomputes the trailing MAC after a test mutated the body. */
function resign(buf: Buffer, key = KEY): Buffer {
  const at = buf.length - MAC_LENGTH;
  createHmac('sha256', key).update(buf.subarray(0, at)).digest().copy(buf, at);
  return buf;
}


describe('encode / verify round trip', () => {
  test('an advert comes back field for field', () => {
    const r = verifier().verify(encodeAdvert(advert(), KEY));
    expect(r).toEqual({
      ok: true,
      message: { version: 1, type: 1, flags: 0, nodeId: 'lb-a', state: 'master', priority: 150, seq: 42n, timestamp: T0, payload: Buffer.alloc(0) },
    });
  });

  test('every state, priority 0 and 255, a 64-byte multi-byte node id, the largest seq', () => {
    const v = verifier();
    const nodeId = '€'.repeat(21) + 'x'; // 63 + 1 bytes
    let seq = 1n;
    for (const state of ['backup', 'master', 'fault'] as const) {
      for (const priority of [0, 255]) {
        const r = v.verify(encodeAdvert(advert({ nodeId, state, priority, seq: seq++ }), KEY));
        expect(r.ok && [r.message.nodeId, r.message.state, r.message.priority]).toEqual([nodeId, state, priority]);
      }
    }
    const max = (1n << 64n) - 1n;
    const r = v.verify(encodeAdvert(advert({ nodeId, seq: max }), KEY));
    expect(r.ok && r.message.seq).toBe(max);
  });

  test('the bytes follow the documented layout', () => {
    const buf = encodeAdvert(advert({ nodeId: 'ab', state: 'fault', priority: 7, seq: 0x0102030405060708n, timestamp: 0x0a0b0c0d0e0f }), KEY, Buffer.from([0xaa, 0xbb]));
    const body = Buffer.from([
      ...Buffer.from('FLCR'), 1, 1, 0, 2, 7, 2, 0x61, 0x62,
      1, 2, 3, 4, 5, 6, 7, 8,
      0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
      0, 2, 0xaa, 0xbb,
    ]);
    expect(buf.subarray(0, body.length)).toEqual(body);
    expect(buf.subarray(body.length)).toEqual(createHmac('sha256', KEY).update(body).digest());
    expect(buf.length).toBe(body.length + 32);
  });

  test('a session sync message carries its batch as the payload', () => {
    const entries = [{ service: 'game', client: '198.51.100.7:40000', backend: '10.0.0.1:7777' }];
    const buf = encodeMessage(MESSAGE_TYPE.sessionSync, { nodeId: 'lb-a', state: 'master', priority: 150, seq: 9n, timestamp: T0, flags: 3 }, encodeSessionBatch(entries), KEY);
    const r = verifier().verify(buf);
    expect(r.ok && [r.message.type, r.message.flags, decodeSessionBatch(r.message.payload)]).toEqual([2, 3, entries]);
  });

  test('the decoded payload is a copy, not a view of the datagram', () => {
    const buf = encodeAdvert(advert(), KEY, Buffer.from('xyz'));
    const r = verifier().verify(buf);
    buf.fill(0);
    expect(r.ok && r.message.payload.toString()).toBe('xyz');
  });
});

describe('authentication', () => {
  const good = encodeAdvert(advert({ seq: 100n }), KEY, Buffer.from([1, 2, 3]));
  const L = 4; // 'lb-a'
  const macAt = good.length - MAC_LENGTH;

  test('flipping any bit of the MAC → bad_mac', () => {
    const v = verifier();
    for (let i = macAt; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = Buffer.from(good);
        b[i] ^= 1 << bit;
        expect([i, bit, reason(v.verify(b))]).toEqual([i, bit, 'bad_mac']);
      }
    }
    expect(reason(v.verify(good))).toBe('ok'); // failures left no trace in the replay table
  });

  test('flipping any bit of the body is rejected: bad_mac, except magic, version and the length fields', () => {
    const v = verifier();
    let macFailures = 0;
    for (let i = 0; i < macAt; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = Buffer.from(good);
        b[i] ^= 1 << bit;
        const got = reason(v.verify(b));
        if (i < 4) expect(got).toBe('bad_magic');
        else if (i === 4) expect(got).toBe('bad_version');
        else if (i === 9 || i === 26 + L || i === 27 + L) expect(['truncated', 'malformed', 'bad_mac']).toContain(got);
        else {
          expect([i, bit, got]).toEqual([i, bit, 'bad_mac']);
          macFailures++;
        }
      }
    }
    expect(macFailures).toBe((macAt - 8) * 8);
    expect(reason(v.verify(good))).toBe('ok');
  });

  test('a wrong key → bad_mac, whatever its length', () => {
    // Not KEY + 0x00: HMAC zero-pads keys shorter than its 64-byte block (RFC 2104), so that is the same key.
    for (const key of [Buffer.from('another key'), Buffer.concat([KEY, Buffer.from([1])]), KEY.subarray(0, 31), Buffer.alloc(64, 7), Buffer.alloc(100, 0x30)]) {
      expect(reason(new AdvertVerifier(key, { now: () => T0 }).verify(good))).toBe('bad_mac');
    }
  });

  test('the verifier keeps its own copy of the key', () => {
    const key = Buffer.from(KEY);
    const v = new AdvertVerifier(key, { now: () => T0 });
    key.fill(0);
    expect(reason(v.verify(good))).toBe('ok');
  });
});

describe('framing', () => {
  const good = encodeAdvert(advert(), KEY, Buffer.from('payload'));

  test('every truncation → truncated (never a throw)', () => {
    const v = verifier();
    for (let n = 0; n < good.length; n++) expect([n, reason(v.verify(good.subarray(0, n)))]).toEqual([n, 'truncated']);
  });

  test('short or long garbage without the magic → bad_magic', () => {
    const v = verifier();
    for (const b of ['X', 'FX', 'FLC!', 'flcr', 'GET / HTTP/1.1\r\n\r\n']) expect(reason(v.verify(Buffer.from(b)))).toBe('bad_magic');
  });

  test('a trailing byte → malformed', () => {
    expect(reason(verifier().verify(Buffer.concat([good, Buffer.from([0])])))).toBe('malformed');
  });

  test('another version → bad_version, even with a valid MAC', () => {
    for (const version of [0, 2, 255]) {
      const b = Buffer.from(good);
      b[4] = version;
      expect(reason(verifier().verify(resign(b)))).toBe('bad_version');
      expect(reason(verifier().verify(b.subarray(0, 5)))).toBe('bad_version');
    }
  });

  test('a node id length of 0 or over 64 → malformed', () => {
    for (const len of [0, 65, 255]) {
      const b = Buffer.from(good);
      b[9] = len;
      expect(reason(verifier().verify(b))).toBe('malformed');
    }
  });

  test('authentic but invalid fields → malformed: unknown type, unknown state, node id not UTF-8', () => {
    const mutate = (at: number, value: number): VerifyFailure | 'ok' => {
      const b = Buffer.from(good);
      b[at] = value;
      return reason(verifier().verify(resign(b)));
    };
    expect(mutate(5, 0)).toBe('malformed');
    expect(mutate(5, 3)).toBe('malformed');
    expect(mutate(7, 3)).toBe('malformed');
    expect(mutate(7, 255)).toBe('malformed');
    expect(mutate(10, 0xff)).toBe('malformed');
    expect(mutate(6, 0x80)).toBe('ok'); // unknown flags are carried, not rejected
  });

  test('inputs that are not Buffers → malformed, no throw', () => {
    const v = verifier();
    for (const x of [null, undefined, 'FLCR', 42, {}, [70, 76, 67, 82], new Uint8Array(good)]) {
      expect(reason(v.verify(x as unknown as Buffer))).toBe('malformed');
    }
  });
});

describe('replay and freshness', () => {
  test('the same datagram twice → replay', () => {
    const v = verifier();
    const b = encodeAdvert(advert({ seq: 7n }), KEY);
    expect(reason(v.verify(b))).toBe('ok');
    expect(reason(v.verify(b))).toBe('replay');
    expect(v.highestSeq('lb-a')).toBe(7n);
  });

  test('an older or equal seq → replay; seqs are tracked per node id', () => {
    const v = verifier();
    expect(reason(v.verify(encodeAdvert(advert({ seq: 10n }), KEY)))).toBe('ok');
    expect(reason(v.verify(encodeAdvert(advert({ seq: 5n }), KEY)))).toBe('replay');
    expect(reason(v.verify(encodeAdvert(advert({ seq: 10n, priority: 1 }), KEY)))).toBe('replay');
    expect(reason(v.verify(encodeAdvert(advert({ seq: 5n, nodeId: 'lb-b' }), KEY)))).toBe('ok');
    expect(reason(v.verify(encodeAdvert(advert({ seq: 11n }), KEY)))).toBe('ok');
  });

  test('adverts and session batches share one seq space per sender', () => {
    const v = verifier();
    expect(reason(v.verify(encodeAdvert(advert({ seq: 10n }), KEY)))).toBe('ok');
    const batch = encodeMessage(2, { nodeId: 'lb-a', state: 'master', priority: 150, seq: 9n, timestamp: T0 }, encodeSessionBatch([]), KEY);
    expect(reason(v.verify(batch))).toBe('replay');
  });

  test('a timestamp outside now ± maxSkewMs → stale_timestamp, both ways; the edges are inside', () => {
    let now = T0;
    const v = new AdvertVerifier(KEY, { now: () => now });
    const at = (timestamp: number, seq: bigint) => reason(v.verify(encodeAdvert(advert({ timestamp, seq }), KEY)));
    expect(at(T0 + 2000, 1n)).toBe('ok');
    expect(at(T0 - 2000, 2n)).toBe('ok');
    expect(at(T0 + 2001, 3n)).toBe('stale_timestamp');
    expect(at(T0 - 2001, 4n)).toBe('stale_timestamp');
    expect(at(0, 5n)).toBe('stale_timestamp');
    expect(at(Number.MAX_SAFE_INTEGER, 6n)).toBe('stale_timestamp');
    now = T0 + 60_000;
    expect(at(T0, 7n)).toBe('stale_timestamp');
    expect(at(now, 8n)).toBe('ok');
  });

  test('maxSkewMs is configurable', () => {
    const v = verifier(T0, 100);
    expect(reason(v.verify(encodeAdvert(advert({ timestamp: T0 + 101, seq: 1n }), KEY)))).toBe('stale_timestamp');
    expect(reason(v.verify(encodeAdvert(advert({ timestamp: T0 - 100, seq: 2n }), KEY)))).toBe('ok');
  });

  test('a timestamp beyond 2^53 (authentic) → stale_timestamp, not a lossy number', () => {
    const b = encodeAdvert(advert(), KEY);
    b.writeBigUInt64BE(1n << 60n, 18 + 4);
    expect(reason(verifier().verify(resign(b)))).toBe('stale_timestamp');
  });

  test('a future-dated datagram stays rejected once the clock reaches it', () => {
    let now = T0;
    const v = new AdvertVerifier(KEY, { now: () => now });
    const early = encodeAdvert(advert({ timestamp: T0 + 10_000, seq: 50n }), KEY);
    expect(reason(v.verify(early))).toBe('stale_timestamp');
    now = T0 + 10_000;
    expect(reason(v.verify(early))).toBe('replay');
  });

  test('a clock that returns NaN fails closed', () => {
    const v = new AdvertVerifier(KEY, { now: () => NaN });
    expect(reason(v.verify(encodeAdvert(advert(), KEY)))).toBe('stale_timestamp');
  });
});

describe('SequenceCounter and sender restarts', () => {
  test('starts at boot ms << 20 and counts up by one', () => {
    const c = new SequenceCounter(() => T0);
    expect(c.bootId).toBe(BigInt(T0));
    expect(c.next()).toBe(BigInt(T0) << 20n);
    expect(c.next()).toBe((BigInt(T0) << 20n) + 1n);
  });

  test('defaults to Date.now', () => {
    const before = Date.now();
    const c = new SequenceCounter();
    expect(Number(c.next() >> 20n)).toBeGreaterThanOrEqual(before);
  });

  test('a restarted sender is accepted; its pre-restart datagrams are not', () => {
    let now = T0;
    const v = new AdvertVerifier(KEY, { now: () => now });
    const first = new SequenceCounter(() => now);
    let last: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 2000; i++) {
      now += 100;
      last = encodeAdvert(advert({ seq: first.next(), timestamp: now }), KEY);
      expect(reason(v.verify(last))).toBe('ok');
    }
    now += 50; // the process restarts 50 ms later, with a fresh counter
    const second = new SequenceCounter(() => now);
    const restarted = encodeAdvert(advert({ seq: second.next(), timestamp: now }), KEY);
    expect(reason(v.verify(restarted))).toBe('ok');
    expect(reason(v.verify(last))).toBe('replay');
    expect(reason(v.verify(encodeAdvert(advert({ seq: second.next(), timestamp: now }), KEY)))).toBe('ok');
  });

  test('rejects a clock it cannot use', () => {
    expect(() => new SequenceCounter(() => -1)).toThrow(RangeError);
    expect(() => new SequenceCounter(() => NaN)).toThrow(RangeError);
  });
});

describe('encoder input checks (programming errors throw)', () => {
  test.each<[string, Partial<Advert>]>([
    ['empty node id', { nodeId: '' }],
    ['65-byte node id', { nodeId: 'x'.repeat(65) }],
    ['node id with a lone surrogate', { nodeId: 'a\ud800' }],
    ['priority 256', { priority: 256 }],
    ['priority -1', { priority: -1 }],
    ['priority 1.5', { priority: 1.5 }],
    ['negative seq', { seq: -1n }],
    ['seq 2^64', { seq: 1n << 64n }],
    ['negative timestamp', { timestamp: -1 }],
    ['fractional timestamp', { timestamp: 1.5 }],
    ['unknown state', { state: 'leader' as never }],
  ])('%s', (_name, over) => {
    expect(() => encodeAdvert(advert(over), KEY)).toThrow(RangeError);
  });

  test('empty key, oversized payload, unknown type, flags 256', () => {
    expect(() => encodeAdvert(advert(), Buffer.alloc(0))).toThrow(RangeError);
    expect(() => encodeAdvert(advert(), KEY, Buffer.alloc(65536))).toThrow(RangeError);
    expect(() => encodeMessage(3 as never, advert(), Buffer.alloc(0), KEY)).toThrow(RangeError);
    expect(() => encodeMessage(1, { ...advert(), flags: 256 }, Buffer.alloc(0), KEY)).toThrow(RangeError);
    expect(() => new AdvertVerifier(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => new AdvertVerifier(KEY, { maxSkewMs: -1 })).toThrow(RangeError);
  });
});

describe('fuzz', () => {
  test('10,000 random and mutated buffers never throw and get a known reason', () => {
    const rand = prng(0xf1c7);
    const v = verifier();
    const valid = encodeAdvert(advert({ seq: 1n }), KEY, Buffer.from('some payload'));
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      let b: Buffer;
      const kind = i % 4;
      if (kind === 0) {
        b = Buffer.alloc(Math.floor(rand() * 200));
        for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      } else {
        b = Buffer.from(valid.subarray(0, Math.floor(rand() * (valid.length + 1))));
        const flips = 1 + Math.floor(rand() * 4);
        for (let j = 0; j < flips && b.length > 4; j++) b[4 + Math.floor(rand() * (b.length - 4))] = Math.floor(rand() * 256);
        if (kind === 1) b[4] = 1;
        if (kind === 2 && b.length >= MAC_LENGTH) resign(b);
        if (kind === 3) b = Buffer.concat([b, Buffer.alloc(Math.floor(rand() * 40), Math.floor(rand() * 256))]);
      }
      let r: VerifyResult | undefined;
      expect(() => (r = v.verify(b))).not.toThrow();
      const got = reason(r as VerifyResult);
      expect(['ok', ...REASONS]).toContain(got);
      seen.add(got);
      expect(() => decodeSessionBatch(b)).not.toThrow();
    }
    // The fuzz reached past the MAC, not only the cheap checks.
    for (const r of ['bad_magic', 'bad_version', 'truncated', 'bad_mac', 'malformed']) expect(seen.has(r)).toBe(true);
    expect(seen.has('ok') || seen.has('replay') || seen.has('stale_timestamp')).toBe(true);
  });
});

describe('session batches', () => {
  const entries: SessionEntry[] = [
    { service: 'game', client: '198.51.100.7:40000', backend: '10.0.0.1:7777' },
    { service: 'game', client: '[2001:db8::1]:5353', backend: '[2001:db8::10]:7777' },
    { service: 'sérvice', client: '192.0.2.1:1', backend: 'b' },
  ];

  test('round trip, including an empty batch and 255-byte fields', () => {
    expect(decodeSessionBatch(encodeSessionBatch(entries))).toEqual(entries);
    expect(decodeSessionBatch(encodeSessionBatch([]))).toEqual([]);
    const big = { service: 's'.repeat(255), client: 'c'.repeat(255), backend: 'b'.repeat(255) };
    expect(decodeSessionBatch(encodeSessionBatch([big]))).toEqual([big]);
  });

  test('layout: u16 count, then u8-length-prefixed strings', () => {
    expect(encodeSessionBatch([{ service: 'a', client: 'bc', backend: 'd' }])).toEqual(Buffer.from([0, 1, 1, 0x61, 2, 0x62, 0x63, 1, 0x64]));
  });

  test('every truncation, a trailing byte, a zero length, bad UTF-8, a wrong count → null', () => {
    const b = encodeSessionBatch(entries);
    for (let n = 0; n < b.length; n++) expect(decodeSessionBatch(b.subarray(0, n))).toBeNull();
    expect(decodeSessionBatch(Buffer.concat([b, Buffer.from([0])]))).toBeNull();
    expect(decodeSessionBatch(Buffer.from([0, 1, 0, 1, 0x61, 1, 0x62]))).toBeNull();
    expect(decodeSessionBatch(Buffer.from([0, 1, 1, 0xff, 1, 0x61, 1, 0x62]))).toBeNull();
    const wrongCount = Buffer.from(b);
    wrongCount.writeUInt16BE(entries.length + 1, 0);
    expect(decodeSessionBatch(wrongCount)).toBeNull();
    expect(decodeSessionBatch('nope' as unknown as Buffer)).toBeNull();
  });

  test('the encoder refuses empty or over-long fields and batches over the bound', () => {
    expect(() => encodeSessionBatch([{ ...entries[0], service: '' }])).toThrow(RangeError);
    expect(() => encodeSessionBatch([{ ...entries[0], backend: 'x'.repeat(256) }])).toThrow(RangeError);
    expect(() => encodeSessionBatch(Array(200).fill(entries[0]))).toThrow(RangeError);
  });

  test('splitting: order kept, every batch under the bound and as full as it can be', () => {
    const rand = prng(7);
    const many: SessionEntry[] = [];
    for (let i = 0; i < 5000; i++) {
      many.push({ service: `svc-${i % 17}`, client: `203.0.113.${i % 256}:${1024 + Math.floor(rand() * 60000)}`, backend: 'x'.repeat(1 + Math.floor(rand() * 80)) });
    }
    const batches = splitSessionBatches(many);
    expect(batches.flat()).toEqual(many);
    const sizes = batches.map((batch) => encodeSessionBatch(batch).length);
    for (const s of sizes) expect(s).toBeLessThanOrEqual(SESSION_BATCH_MAX_BYTES);
    for (let i = 0; i + 1 < batches.length; i++) {
      expect(encodeSessionBatch.bind(null, [...batches[i], batches[i + 1][0]])).toThrow(RangeError);
    }
    // A whole type-2 datagram from the longest node id fits the IPv6 minimum MTU.
    const largest = batches[sizes.indexOf(Math.max(...sizes))];
    const dgram = encodeMessage(2, { nodeId: 'n'.repeat(64), state: 'master', priority: 1, seq: 1n, timestamp: T0 }, encodeSessionBatch(largest), KEY);
    expect(dgram.length).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
    expect(splitSessionBatches([])).toEqual([]);
  });

  test('a smaller bound is honoured; an entry larger than the bound throws', () => {
    const batches = splitSessionBatches(Array(10).fill(entries[0]), 120);
    for (const b of batches) expect(encodeSessionBatch(b).length).toBeLessThanOrEqual(120);
    expect(batches.flat()).toHaveLength(10);
    expect(() => splitSessionBatches([entries[0]], 20)).toThrow(RangeError);
    expect(() => splitSessionBatches([], SESSION_BATCH_MAX_BYTES + 1)).toThrow(RangeError);
  });
});
