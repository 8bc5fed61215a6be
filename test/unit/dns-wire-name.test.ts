/** Names found by their wire bytes (the query fast path): letters folded, exact length and bytes compared. */
import { HASH_SEED, hashStep, WireNameIndex, wireName } from '../../src/dns/wire-name';

/** The hash query.ts computes while reading a question name. */
function hashOf(bytes: Buffer): number {
  let h = HASH_SEED;
  for (const b of bytes) h = hashStep(h, b >= 65 && b <= 90 ? b + 32 : b);
  return h;
}

test('a name is found whatever its letter case; a longer, shorter or other name is not', () => {
  expect.assertions(6);
  const index = new WireNameIndex<string>();
  index.set('www.gslb.test', 'www');
  index.set('.', 'root');
  const find = (wire: Buffer) => index.get(Buffer.concat([Buffer.alloc(12), wire]), 12, 12 + wire.length, hashOf(wire));
  expect(find(wireName('WwW.GSLB.test'))).toBe('www');
  expect(find(wireName('www.gslb.test'))).toBe('www');
  expect(find(wireName('.'))).toBe('root');
  expect(find(wireName('ww.gslb.test'))).toBeUndefined();
  expect(find(wireName('www.gslb.test.x'))).toBeUndefined();
  // Same hash bucket but other bytes (forced): compared, not trusted.
  const other = wireName('xxx.gslb.test');
  expect(index.get(Buffer.concat([Buffer.alloc(12), other]), 12, 12 + other.length, hashOf(wireName('www.gslb.test')))).toBeUndefined();
});
