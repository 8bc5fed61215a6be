/**
 * Names looked up by their wire bytes: a query's question name is hashed
 * while it is read (ASCII letters folded to lowercase) and found in an index
 * of our names' wire forms, with no string made per query. Only plain names
 * (labels, no compression pointer) take this way; query.ts reads the others
 * with dns-packet.
 */

/** FNV-1a step over one byte, kept within a small integer (a Map key without boxing). */
export function hashStep(h: number, byte: number): number {
  return Math.imul(h ^ byte, 16777619) & 0x3fffffff;
}
export const HASH_SEED = 2166136261 & 0x3fffffff;

/** A name (lowercase, no trailing dot, "." for the root) in wire form: length-prefixed labels and the root's zero. */
export function wireName(name: string): Buffer {
  if (name === '.' || name === '') return Buffer.from([0]);
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
}

function hashOf(bytes: Buffer): number {
  let h = HASH_SEED;
  for (const b of bytes) h = hashStep(h, b >= 65 && b <= 90 ? b + 32 : b);
  return h;
}

export class WireNameIndex<T> {
  private readonly buckets = new Map<number, Array<{ key: Buffer; value: T }>>();

  set(name: string, value: T): void {
    const key = wireName(name);
    const h = hashOf(key);
    const bucket = this.buckets.get(h);
    if (bucket === undefined) this.buckets.set(h, [{ key, value }]);
    else bucket.push({ key, value });
  }

  /** The value of the name at msg[from, to) whose hash (hashStep over its folded bytes) is `hash`. */
  get(msg: Buffer, from: number, to: number, hash: number): T | undefined {
    const bucket = this.buckets.get(hash);
    if (bucket === undefined) return undefined;
    for (const { key, value } of bucket) {
      if (key.length !== to - from) continue;
      let i = 0;
      for (; i < key.length; i++) {
        const b = msg[from + i]!;
        if ((b >= 65 && b <= 90 ? b + 32 : b) !== key[i]) break;
      }
      if (i === key.length) return value;
    }
    return undefined;
  }
}
