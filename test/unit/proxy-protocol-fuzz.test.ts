import net from 'node:net';
import {
  encodeV1,
  encodeV2,
  ProxyHeaderParser,
  V2_SIGNATURE,
  type ParseResult,
  type ProxyAddress,
} from '../../src/proxy/proxy-protocol';
import { prng } from '../helpers/prng';


const SEED = 0x5eed1234;
let rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

function randomIPv4(): string {
  return [int(256), int(256), int(256), int(256)].join('.');
}

function randomIPv6(): string {
  const groups = Array.from({ length: 8 }, () => (rand() < 0.4 ? 0 : int(0x10000)).toString(16));
  if (rand() < 0.2) return '::ffff:' + randomIPv4();
  return groups.join(':');
}

function randomAddress(protocol?: 'tcp' | 'udp'): ProxyAddress {
  const family = rand() < 0.5 ? 4 : 6;
  const ip = family === 4 ? randomIPv4 : randomIPv6;
  const port = () => pick([0, 1, 65535, int(65536)]);
  return {
    family,
    protocol: protocol ?? (rand() < 0.5 ? 'tcp' : 'udp'),
    sourceAddress: ip(),
    sourcePort: port(),
    destAddress: ip(),
    destPort: port(),
  };
}

/** A valid header (possibly with TLVs), followed by a little payload. */
function validInput(): Buffer {
  const payload = bytes(int(8));
  const kind = int(5);
  if (kind === 0) return Buffer.concat([encodeV1(randomAddress('tcp')), payload]);
  if (kind === 1) return Buffer.concat([Buffer.from(rand() < 0.5 ? 'PROXY UNKNOWN\r\n' : 'PROXY UNKNOWN 1 2\r\n'), payload]);
  if (kind === 2) return Buffer.concat([encodeV2(null), payload]);
  const head = encodeV2(randomAddress());
  if (kind === 3) return Buffer.concat([head, payload]);
  // Append 1-3 TLVs and patch the length field to cover them.
  const tlvs = Array.from({ length: 1 + int(3) }, () => {
    const v = bytes(int(20));
    return Buffer.concat([Buffer.from([pick([0x01, 0x02, 0x04, 0x05, 0x20, 0xe0]), 0, v.length]), v]);
  });
  const out = Buffer.concat([head, ...tlvs, payload]);
  out.writeUInt16BE(head.length - 16 + tlvs.reduce((n, t) => n + t.length, 0), 14);
  return out;
}

const INTERESTING = [0x00, 0xff, 0x0d, 0x0a, 0x20, 0x30, 0x3a, 0x2e, 0x50, 0x7f, 0x80];

function mutate(input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let n = 1 + int(3); n > 0; n--) {
    const at = int(b.length + 1);
    switch (int(6)) {
      case 0: // bit flip
        if (b.length) b[at % b.length] ^= 1 << int(8);
        break;
      case 1: // truncation
        b = b.subarray(0, at);
        break;
      case 2: // insertion
        b = Buffer.concat([b.subarray(0, at), rand() < 0.5 ? bytes(1 + int(4)) : Buffer.from([pick(INTERESTING)]), b.subarray(at)]);
        break;
      case 3: // deletion
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(3))]);
        break;
      case 4: // interesting byte
        if (b.length) b[at % b.length] = pick(INTERESTING);
        break;
      default: // v2 length field
        if (b.length >= 16) b.writeUInt16BE(pick([0, 11, 12, 35, 36, 216, 2048, 2049, 0xffff, int(0x10000)]), 14);
    }
  }
  return b;
}

function split(input: Buffer): Buffer[] {
  const cuts = Array.from({ length: int(6) }, () => int(input.length + 1)).sort((x, y) => x - y);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    chunks.push(input.subarray(prev, c));
    prev = c;
  }
  return chunks;
}

type Outcome = { result: ParseResult; after: Buffer };

/** Pushes chunks until the parser decides; checks the buffering bound on the way. */
function run(input: Buffer, chunks: Buffer[], maxV2Length: number): Outcome {
  const parser = new ProxyHeaderParser({ maxV2Length });
  const bound = input[0] === 0x50 ? 107 : 16 + maxV2Length;
  let result: ParseResult = { state: 'need-more' };
  let i = 0;
  while (i < chunks.length) {
    result = parser.push(chunks[i++]);
    if (parser.bufferedBytes > bound) throw new Error(`buffered ${parser.bufferedBytes} > ${bound}`);
    if (result.state !== 'need-more') break;
  }
  return { result, after: Buffer.concat(chunks.slice(i)) };
}

function checkHeader(h: ProxyAddress): void {
  const isIP = h.family === 4 ? net.isIPv4 : net.isIPv6;
  for (const p of [h.sourcePort, h.destPort]) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`bad port ${p}`);
  }
  if (!isIP(h.sourceAddress) || !isIP(h.destAddress)) throw new Error(`bad address ${JSON.stringify(h)}`);
  if (h.protocol !== 'tcp' && h.protocol !== 'udp') throw new Error(`bad protocol ${h.protocol}`);
  // A decoded header re-encodes to one that decodes the same.
  const again = new ProxyHeaderParser().push(encodeV2(h));
  if (again.state !== 'done' || JSON.stringify(again.header) !== JSON.stringify(h)) throw new Error('re-encode differs');
}

function check(input: Buffer, maxV2Length: number): ParseResult['state'] {
  const split1 = run(input, split(input), maxV2Length);
  const whole = run(input, [input], maxV2Length);
  const r = split1.result;
  if (r.state === 'error' && r.reason.startsWith('internal')) throw new Error(r.reason);
  // How the bytes were chunked must not change the outcome.
  if (r.state !== whole.result.state) throw new Error(`split ${r.state} vs whole ${whole.result.state}`);
  if (r.state === 'error' && whole.result.state === 'error' && r.reason !== whole.result.reason) {
    throw new Error(`reasons differ: ${r.reason} / ${whole.result.reason}`);
  }
  if (r.state === 'done') {
    if (r.header) checkHeader(r.header);
    const tail = Buffer.concat([r.rest, split1.after]);
    const headerLen = input.length - tail.length;
    if (!tail.equals(input.subarray(headerLen))) throw new Error('rest is not the input suffix');
    if (headerLen > (input[0] === 0x50 ? 107 : 16 + maxV2Length)) throw new Error(`header of ${headerLen} bytes`);
    if (whole.result.state === 'done' && !whole.result.rest.equals(input.subarray(headerLen))) {
      throw new Error('whole-push rest differs');
    }
  }
  return r.state;
}

test('20,000 random and mutated inputs, randomly split: no throw, sane results, bounded buffering', () => {
  rand = prng(SEED);
  const counts: Record<string, number> = { 'need-more': 0, done: 0, error: 0 };
  for (let i = 0; i < 20_000; i++) {
    const kind = i % 4;
    const input = kind === 0 ? bytes(int(200)) : kind === 1 ? validInput() : mutate(validInput());
    const cap = rand() < 0.2 ? 12 + int(100) : 2048;
    let state: ParseResult['state'];
    try {
      state = check(input, cap);
    } catch (err) {
      throw new Error(`seed ${SEED} iteration ${i}, input ${input.toString('hex')}: ${String(err)}`);
    }
    counts[state]++;
  }
  // The mix really exercises every outcome.
  expect(counts.done).toBeGreaterThan(5000);
  expect(counts.error).toBeGreaterThan(5000);
  expect(counts['need-more']).toBeGreaterThan(100);
});

test('every valid unmutated input parses to done', () => {
  rand = prng(SEED + 1);
  for (let i = 0; i < 2000; i++) {
    const input = validInput();
    expect([i, check(input, 2048)]).toEqual([i, 'done']);
  }
});

test('mutations of the v1 and v2 signatures all give error', () => {
  rand = prng(SEED + 2);
  const v1 = Buffer.concat([encodeV1(randomAddress('tcp')), Buffer.from('data')]);
  const v2 = Buffer.concat([encodeV2(randomAddress()), Buffer.from('data')]);
  const mutants: Buffer[] = [];
  for (const [valid, sigLen] of [[v1, 6], [v2, V2_SIGNATURE.length + 1]] as const) {
    // Every single-bit flip of "PROXY " / the 12-byte signature and version nibble...
    for (let bit = 0; bit < sigLen * 8; bit++) {
      const m = Buffer.from(valid);
      m[bit >> 3] ^= 1 << (bit & 7);
      if ((bit >> 3) === 12 && (m[12] >> 4) === 2) continue; // a command-bit flip, not the version
      mutants.push(m);
    }
    // ...and random multi-byte rewrites of it.
    for (let i = 0; i < 1000; i++) {
      const m = Buffer.from(valid);
      const sig = valid === v1 ? 6 : V2_SIGNATURE.length;
      for (let n = 1 + int(4); n > 0; n--) m[int(sig)] = int(256);
      if (!m.subarray(0, sig).equals(valid.subarray(0, sig))) mutants.push(m);
    }
  }
  const states = mutants.map((m) => run(m, split(m), 2048).result.state);
  expect(states.filter((s) => s !== 'error')).toEqual([]);
});
