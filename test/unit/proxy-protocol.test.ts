import {
  encodeV1,
  encodeV2,
  parseV2Datagram,
  ProxyHeaderParser,
  V2_SIGNATURE,
  type ParseResult,
  type ProxyAddress,
} from '../../src/proxy/proxy-protocol';

const SIG = [...V2_SIGNATURE];

function parseAll(chunks: Buffer[], parser = new ProxyHeaderParser()): ParseResult {
  let r: ParseResult = { state: 'need-more' };
  for (const c of chunks) {
    r = parser.push(c);
    if (r.state !== 'need-more') break;
  }
  return r;
}

function parseOne(buf: Buffer | string): ParseResult {
  return new ProxyHeaderParser().push(typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf);
}

function expectDone(r: ParseResult): Extract<ParseResult, { state: 'done' }> {
  if (r.state !== 'done') throw new Error(`expected done, got ${JSON.stringify(r)}`);
  return r;
}

function expectError(r: ParseResult, match?: RegExp): void {
  expect(r.state).toBe('error');
  if (r.state === 'error' && match) expect(r.reason).toMatch(match);
}

/** v2 header by hand: fixed part + the given body bytes. */
function v2(verCmd: number, fam: number, body: number[], len = body.length): Buffer {
  return Buffer.from([...SIG, verCmd, fam, len >> 8, len & 0xff, ...body]);
}

const tcp4: ProxyAddress = {
  family: 4,
  protocol: 'tcp',
  sourceAddress: '192.168.0.1',
  sourcePort: 56324,
  destAddress: '192.168.0.11',
  destPort: 443,
};
const tcp6: ProxyAddress = {
  family: 6,
  protocol: 'tcp',
  sourceAddress: '2001:db8::1',
  sourcePort: 1,
  destAddress: 'fe80::abcd:0:0:1',
  destPort: 65535,
};
const udp4: ProxyAddress = { ...tcp4, protocol: 'udp', sourcePort: 0 };
const udp6: ProxyAddress = { ...tcp6, protocol: 'udp' };

// The spec's example line, then the bytes of the same header in v2 form.
const SPEC_V1 = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
const SPEC_V2 = v2(0x21, 0x11, [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb]);
const PAYLOAD = 'GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n';

describe('v1', () => {
  test('decodes the spec example and keeps the bytes after it', () => {
    const input = Buffer.from(SPEC_V1 + PAYLOAD, 'latin1');
    const r = expectDone(parseOne(input));
    expect(r.header).toEqual(tcp4);
    expect(r.rest.toString('latin1')).toBe(PAYLOAD);
    expect(r.rest.buffer).toBe(input.buffer); // a view, not a copy
  });

  test('encodes exactly the spec line', () => {
    expect(encodeV1(tcp4).toString('latin1')).toBe(SPEC_V1);
  });

  test.each([
    ['TCP4', tcp4],
    ['TCP6', tcp6],
  ])('%s round trip', (_name, a) => {
    const r = expectDone(parseOne(encodeV1(a)));
    expect(r.header).toEqual(a);
    expect(r.rest.length).toBe(0);
  });

  test('TCP6 line text and canonical decoding of long/upper-case forms', () => {
    expect(encodeV1(tcp6).toString()).toBe('PROXY TCP6 2001:db8::1 fe80::abcd:0:0:1 1 65535\r\n');
    const r = expectDone(parseOne('PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::FFFF:1.2.3.4 80 443\r\n'));
    expect(r.header).toMatchObject({ family: 6, sourceAddress: '2001:db8::1', destAddress: '::ffff:1.2.3.4' });
  });

  test('IPv4-mapped source with IPv4 destination → TCP4 plain form', () => {
    const a: ProxyAddress = { ...tcp4, family: 6, sourceAddress: '::ffff:192.168.0.1' };
    expect(encodeV1(a).toString()).toBe(SPEC_V1);
    const both = { ...a, destAddress: '::ffff:192.168.0.11' };
    expect(encodeV1(both).toString()).toBe(SPEC_V1);
  });

  test('true mixed families → TCP6 with the IPv4 side IPv4-mapped (hex groups in v1)', () => {
    const a: ProxyAddress = { ...tcp4, sourceAddress: '2001:db8::1', destAddress: '1.2.3.4' };
    expect(encodeV1(a).toString()).toBe('PROXY TCP6 2001:db8::1 ::ffff:102:304 56324 443\r\n');
    expect(expectDone(parseOne(encodeV1(a))).header).toMatchObject({ destAddress: '::ffff:1.2.3.4' });
  });

  test('encode refuses UDP, bad addresses and bad ports', () => {
    expect(() => encodeV1(udp4)).toThrow(/v1 cannot carry UDP/);
    expect(() => encodeV1({ ...tcp4, sourceAddress: 'example.com' })).toThrow(/invalid source address/);
    expect(() => encodeV1({ ...tcp4, destPort: 70000 })).toThrow(/invalid destination port/);
    expect(() => encodeV1({ ...tcp4, sourcePort: 1.5 })).toThrow(/invalid source port/);
  });

  test('zone ids are dropped when encoding', () => {
    const a: ProxyAddress = { ...tcp6, sourceAddress: 'fe80::1%eth0' };
    expect(encodeV1(a).toString()).toContain('PROXY TCP6 fe80::1 ');
  });

  test('UNKNOWN (short and long forms) → null header', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff:f::f 1:2::3 65535 65535\r\n', 'PROXY UNKNOWN anything\r\n']) {
      const r = expectDone(parseOne(line + 'x'));
      expect(r.header).toBeNull();
      expect(r.rest.toString()).toBe('x');
    }
    expectError(parseOne('PROXY UNKNOWNX\r\n'), /UNKNOWN/);
  });

  test('longest legal lines (104 and 107 bytes) are accepted', () => {
    const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const tcp6Max = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`;
    const unknownMax = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
    expect([tcp6Max.length, unknownMax.length]).toEqual([104, 107]);
    expect(expectDone(parseOne(tcp6Max)).header).toMatchObject({ sourceAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' });
    expect(expectDone(parseOne(unknownMax)).header).toBeNull();
  });

  test('no CRLF within 107 bytes → error, even one byte at a time', () => {
    const long = 'PROXY UNKNOWN ' + 'a'.repeat(93); // 107 bytes, no CRLF
    expectError(parseOne(long), /no CRLF within 107/);
    // CR as the 107th byte: the LF would be the 108th.
    expectError(parseOne('PROXY UNKNOWN ' + 'a'.repeat(92) + '\r\n'), /no CRLF/);
    const p = new ProxyHeaderParser();
    for (let i = 0; i < 106; i++) expect(p.push(Buffer.from(long[i])).state).toBe('need-more');
    expect(p.bufferedBytes).toBe(106);
    expectError(p.push(Buffer.from(long[106] + '\r\n')), /no CRLF/);
    expect(p.bufferedBytes).toBe(0);
  });

  test.each([
    ['bare LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /bare LF/],
    ['bare CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /bare CR/],
    ['bad IPv4 source', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', /bad IPv4 source/],
    ['IPv4 octet leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n', /bad IPv4 destination/],
    ['IPv6 in a TCP4 line', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /bad IPv4 source/],
    ['IPv4 in a TCP6 line', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /bad IPv6 source/],
    ['IPv6 zone id', 'PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n', /bad IPv6 destination/],
    ['port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /bad source port/],
    ['port with leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n', /bad destination port/],
    ['negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', /bad source port/],
    ['non-decimal port', 'PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n', /bad source port/],
    ['too many fields', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', /6 space-separated fields/],
    ['too few fields', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /6 space-separated fields/],
    ['double space', 'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', /6 space-separated fields/],
    ['trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /6 space-separated fields/],
    ['unknown protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['lower-case keyword', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /bad signature/],
    ['two spaces after PROXY', 'PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /TCP4, TCP6 or UNKNOWN/],
  ])('%s → error', (_name, line, reason) => {
    expectError(parseOne(line), reason);
  });

  test('fails as soon as the prefix cannot match', () => {
    const p = new ProxyHeaderParser();
    expect(p.push(Buffer.from('PROX')).state).toBe('need-more');
    expectError(p.push(Buffer.from('I')), /bad v1 signature/);
    expectError(parseOne('G'), /bad signature/);
    expectError(parseOne('PROXY TCP5'), /TCP4, TCP6 or UNKNOWN/);
  });
});

describe('v2', () => {
  test('hand-built spec buffer decodes, and encodeV2 produces the same bytes', () => {
    expect(encodeV2(tcp4)).toEqual(SPEC_V2);
    const r = expectDone(parseOne(Buffer.concat([SPEC_V2, Buffer.from(PAYLOAD)])));
    expect(r.header).toEqual(tcp4);
    expect(r.rest.toString()).toBe(PAYLOAD);
  });

  test.each([
    ['TCP4', tcp4, 0x11, 28],
    ['UDP4', udp4, 0x12, 28],
    ['TCP6', tcp6, 0x21, 52],
    ['UDP6', udp6, 0x22, 52],
  ])('%s round trip', (_name, a, fam, size) => {
    const buf = encodeV2(a);
    expect([buf[12], buf[13], buf.length, buf.readUInt16BE(14)]).toEqual([0x21, fam, size, size - 16]);
    expect(expectDone(parseOne(buf)).header).toEqual(a);
  });

  test('IPv6 text is canonical and IPv4-mapped decodes in dotted form', () => {
    for (const [input, out] of [
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['0:0:0:0:0:ffff:102:304', '::ffff:1.2.3.4'],
    ]) {
      const a: ProxyAddress = { ...tcp6, sourceAddress: input };
      expect(expectDone(parseOne(encodeV2(a))).header?.sourceAddress).toBe(out);
    }
  });

  test('mixed families: mapped+IPv4 → family 4; true IPv6+IPv4 → family 6', () => {
    expect(encodeV2({ ...tcp4, family: 6, sourceAddress: '::ffff:192.168.0.1' })).toEqual(SPEC_V2);
    const h = expectDone(parseOne(encodeV2({ ...udp4, sourceAddress: '2001:db8::1' }))).header;
    expect(h).toEqual({ ...udp4, family: 6, sourceAddress: '2001:db8::1', destAddress: '::ffff:192.168.0.11' });
  });

  test('LOCAL (health check) encodes with no address and decodes to null', () => {
    const local = encodeV2(null);
    expect(local).toEqual(v2(0x20, 0x00, []));
    const r = expectDone(parseOne(Buffer.concat([local, Buffer.from('hi')])));
    expect(r.header).toBeNull();
    expect(r.rest.toString()).toBe('hi');
    // The length must still be honoured when LOCAL carries an address block.
    const withBlock = v2(0x20, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
    expect(expectDone(parseOne(Buffer.concat([withBlock, Buffer.from('x')]))).rest.toString()).toBe('x');
  });

  test('PROXY with AF_UNSPEC or AF_UNIX → null header (UNSPEC fallback)', () => {
    expect(expectDone(parseOne(v2(0x21, 0x00, []))).header).toBeNull();
    expect(expectDone(parseOne(v2(0x21, 0x31, new Array(216).fill(0x61)))).header).toBeNull();
    expectError(parseOne(v2(0x21, 0x32, new Array(215).fill(0x61))), /too short/);
  });

  test('TLVs are skipped; a TLV overrunning the length is an error', () => {
    const tlvs = [0x04, 0x00, 0x02, 0xaa, 0xbb, 0x05, 0x00, 0x00];
    const buf = v2(0x21, 0x11, [...SPEC_V2.subarray(16), ...tlvs]);
    const r = expectDone(parseOne(Buffer.concat([buf, Buffer.from('z')])));
    expect(r.header).toEqual(tcp4);
    expect(r.rest.toString()).toBe('z');
    expectError(parseOne(v2(0x21, 0x11, [...SPEC_V2.subarray(16), 0x04, 0x00, 0x05, 1])), /TLV overruns/);
    expectError(parseOne(v2(0x21, 0x11, [...SPEC_V2.subarray(16), 0x04, 0x00])), /truncated TLV/);
  });

  const body4 = [...SPEC_V2.subarray(16)];
  test.each([
    ['bad signature', Buffer.from([...SIG.slice(0, 6), 0x00, ...SIG.slice(7), 0x21, 0x11, 0, 12, ...body4]), /bad v2 signature/],
    ['version 1', v2(0x11, 0x11, body4), /unsupported version 1/],
    ['version 3', v2(0x31, 0x11, body4), /unsupported version 3/],
    ['unknown command', v2(0x22, 0x11, body4), /unknown command 0x2/],
    ['unknown family', v2(0x21, 0x41, body4), /unknown address family 0x4/],
    ['unknown transport', v2(0x21, 0x13, body4), /unknown transport protocol 0x3/],
    ['length too short for IPv4', v2(0x21, 0x11, body4.slice(0, 11)), /too short/],
    ['length too short for IPv6', v2(0x21, 0x21, new Array(35).fill(0)), /too short/],
    ['length over the cap', v2(0x21, 0x11, [], 2049), /over the 2048-byte cap/],
  ])('%s → error', (_name, buf, reason) => {
    expectError(parseOne(buf), reason);
  });

  test('errors arrive as soon as the offending byte does', () => {
    expectError(parseOne(Buffer.from(SIG.slice(0, 7).map((b, i) => (i === 6 ? b ^ 1 : b)))), /signature/);
    expectError(parseOne(Buffer.from([...SIG, 0x10])), /version/);
    // Over-cap length is refused at byte 16 without waiting for the body.
    expectError(parseOne(v2(0x21, 0x11, [], 0xffff)), /cap/);
  });

  test('the cap is configurable', () => {
    // Addresses (12) + one 99-byte NOOP TLV (3 + 96): length 111.
    const tlv = [0x04, 0x00, 96, ...new Array<number>(96).fill(0)];
    const ok = v2(0x21, 0x11, [...body4, ...tlv]);
    expectError(new ProxyHeaderParser({ maxV2Length: 100 }).push(ok), /over the 100-byte cap/);
    expect(new ProxyHeaderParser({ maxV2Length: 111 }).push(ok).state).toBe('done');
    expect(() => new ProxyHeaderParser({ maxV2Length: 70000 })).toThrow(RangeError);
  });
});

describe('incremental parsing', () => {
  const cases: [string, Buffer][] = [
    ['v1', Buffer.from(SPEC_V1 + PAYLOAD)],
    ['v1 TCP6', Buffer.concat([encodeV1(tcp6), Buffer.from(PAYLOAD)])],
    ['v2', Buffer.concat([SPEC_V2, Buffer.from(PAYLOAD)])],
    ['v2 TCP6', Buffer.concat([encodeV2(tcp6), Buffer.from(PAYLOAD)])],
  ];

  test.each(cases)('%s split byte by byte, then at every point', (_name, input) => {
    const whole = expectDone(parseOne(input));
    const headerLen = input.length - whole.rest.length;
    // One byte per push: done arrives with the last header byte and an empty rest.
    const p = new ProxyHeaderParser();
    for (let i = 0; i < headerLen - 1; i++) expect(p.push(input.subarray(i, i + 1)).state).toBe('need-more');
    const last = expectDone(p.push(input.subarray(headerLen - 1, headerLen + 3)));
    expect(last.header).toEqual(whole.header);
    expect(last.rest.toString()).toBe(PAYLOAD.slice(0, 3));
    // Two chunks, split anywhere: same header, same rest.
    for (let cut = 0; cut <= input.length; cut++) {
      const a = input.subarray(0, cut);
      const b = input.subarray(cut);
      const r = expectDone(parseAll([a, b]));
      expect(r.header).toEqual(whole.header);
      const restSeen = cut >= headerLen ? Buffer.concat([r.rest, b]) : r.rest;
      expect(restSeen.toString()).toBe(PAYLOAD);
    }
  });

  test('empty chunks are harmless; push after done or error is an error', () => {
    const p = new ProxyHeaderParser();
    expect(p.push(Buffer.alloc(0)).state).toBe('need-more');
    expect(p.push(Buffer.from('PROXY UNKNOWN\r')).state).toBe('need-more');
    expect(p.push(Buffer.alloc(0)).state).toBe('need-more');
    expect(expectDone(p.push(Buffer.from('\n'))).rest.length).toBe(0);
    expectError(p.push(Buffer.from('more')), /after the header/);
    const q = new ProxyHeaderParser();
    expectError(q.push(Buffer.from('X')));
    expect(q.push(Buffer.from(SPEC_V1)).state).toBe('error');
  });

  test('rest is a view of the last chunk', () => {
    const p = new ProxyHeaderParser();
    p.push(SPEC_V2.subarray(0, 10));
    const tail = Buffer.concat([SPEC_V2.subarray(10), Buffer.from('abc')]);
    const r = expectDone(p.push(tail));
    expect(r.rest.buffer).toBe(tail.buffer);
    expect(r.rest.byteOffset).toBe(tail.byteOffset + tail.length - 3);
  });
});

describe('parseV2Datagram', () => {
  test('splits header and payload', () => {
    const dgram = Buffer.concat([encodeV2(udp6), Buffer.from('payload')]);
    const r = parseV2Datagram(dgram);
    expect(r?.header).toEqual(udp6);
    expect(r?.payload.toString()).toBe('payload');
    expect(parseV2Datagram(Buffer.concat([encodeV2(null), Buffer.from('p')]))).toEqual({ header: null, payload: Buffer.from('p') });
  });

  test('null for truncated, malformed or v1 input', () => {
    expect(parseV2Datagram(encodeV2(udp4).subarray(0, 20))).toBeNull();
    expect(parseV2Datagram(v2(0x31, 0x12, body4Of(udp4)))).toBeNull();
    expect(parseV2Datagram(Buffer.from(SPEC_V1))).toBeNull();
    expect(parseV2Datagram(Buffer.alloc(0))).toBeNull();
  });
});

function body4Of(a: ProxyAddress): number[] {
  return [...encodeV2(a).subarray(16)];
}
