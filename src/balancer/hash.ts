/**
 * FNV-1a (32-bit) over a string's UTF-16 code units. Stable across processes
 * and versions of Node, which Maglev needs: two fulcrum nodes with the same
 * backend list must build the same table and hash a client IP the same way.
 */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A second, independent hash (different offset basis) for Maglev's skip. */
export function fnv1aAlt(text: string): number {
  return fnv1a(text, 0x050c5d1f);
}

/** Hash of a client IP as the proxy sees it (IPv4-mapped IPv6 folded to IPv4). */
export function hashSource(ip: string): number {
  const start = ip.startsWith('::ffff:') && ip.indexOf('.') > 0 ? 7 : 0;
  let h = 0x811c9dc5;
  for (let i = start; i < ip.length; i++) {
    h ^= ip.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32): FNV alone clusters on similar IPs.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
